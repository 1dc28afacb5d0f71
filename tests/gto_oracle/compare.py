"""What GTO answers and what the portal holds after a sync, in one shape, so a difference reads as a diff.

Per artifact: whether it is active (not deprecated), its latest registered version, which version holds each stage,
and each registered version's commit, registered state and stage labels. GTO's answers are mapped to what the portal
can hold: a stage GTO gives to a commit no version is registered at is held by no version; the portal keeps
deregistered versions, marked, as GTO's `-d` lists them.
"""

import re

from apps.gitsync.models import GitRepository, SyncRun, SyncStatus, Trigger
from apps.gitsync.sync import sync_repository
from apps.inventory.models import ModelVersion, RegisteredModel

_SEMVER = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")


def semver(version: str) -> tuple[int, int, int]:
    match = _SEMVER.match(version)
    assert match, f"the oracle tests use plain vX.Y.Z versions, not {version!r}"
    return tuple(int(part) for part in match.groups())


def from_gto(answers: dict) -> dict:
    """`gto show [NAME] [-d] --json`, as the portal's shape; checks that GTO's four answers agree with each other."""
    shown = {}
    for name, artifact in answers["registry_d"].items():
        if not artifact["registered"]:
            continue  # declared in artifacts.yaml only: no tag, so no model in the portal
        versions = {}
        for listed in answers["versions_d"][name]:
            if not listed["registrations"]:
                continue  # a commit GTO names by its SHA: a stage on it, no registered version
            versions[listed["version"]] = {
                "commit": listed["commit_hexsha"],
                "registered": listed["is_active"],
                "stages": sorted(stage["stage"] for stage in listed["stages"]),
            }
        held = {stage: holder for stage, holder in artifact["stage"].items() if holder in versions}
        # Without -d, GTO lists the registered versions, and none of a deprecated artifact.
        active_versions = {listed["version"] for listed in answers["versions"][name] if listed["registrations"]}
        registered = {v for v, seen in versions.items() if seen["registered"]} if artifact["active"] else set()
        assert active_versions == registered, f"gto show {name} and gto show {name} -d disagree"
        assert (name in answers["registry"]) == artifact["active"], f"gto show and gto show -d disagree on {name}"
        shown[name] = {
            "active": artifact["active"],
            "latest": artifact["version"],
            "stages": held,
            "versions": versions,
        }
    return shown


def from_portal(repository: GitRepository) -> dict:
    """The same, from the inventory the sync wrote."""
    shown = {}
    for model in RegisteredModel.objects.filter(source_repository_url=repository.url).prefetch_related("tags"):
        versions, held = {}, {}
        for version in ModelVersion.objects.filter(model=model):
            versions[version.version] = {
                "commit": version.git_commit_sha,
                "registered": not version.deregistered,
                "stages": sorted(version.stages),
            }
            for stage in version.stages:
                held[stage] = version.version if stage not in held else f"{held[stage]}, {version.version}"
        registered = [v for v, seen in versions.items() if seen["registered"]]
        shown[model.name] = {
            "active": "deprecated" not in [tag.name for tag in model.tags.all()],
            "latest": max(registered, key=semver) if registered else None,
            "stages": held,
            "versions": versions,
        }
    return shown


def sync(repository: GitRepository, trigger=Trigger.SCHEDULE) -> SyncRun:
    run = sync_repository(repository.pk, trigger=trigger, requested_by="oracle")
    repository.refresh_from_db()
    assert run.status in (SyncStatus.SUCCEEDED, SyncStatus.UNCHANGED), (run.status, run.errors, run.warnings)
    return run


def assert_same(repository: GitRepository, answers: dict, history: list[dict] = ()) -> None:
    """The portal shows what GTO shows; on a difference, the artifact and the steps that built the repository."""
    expected, actual = from_gto(answers), from_portal(repository)
    steps = "\n".join(f"  {entry['step']} -> {entry.get('code')}" for entry in [*history, *answers["log"]])
    for name in sorted(set(expected) | set(actual)):
        assert actual.get(name) == expected.get(name), f"{name}: the portal (left) differs from gto show\n{steps}"
