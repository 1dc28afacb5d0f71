"""The registry GTO's tags describe, computed as GTO 1.10.1 computes `gto show` (tests/gto_oracle checks it against
GTO itself). Pure: tags in, plain values out.

GTO's rules, which differ from "the newest tag wins" in places:
- Times are the taggers' times in seconds. At the same second, GTO lets a deregistration beat a registration, an
  unassignment beat an assignment, and any other event of the artifact beat its deprecation.
- A version is registered while its latest registration is newer than its latest deregistration, at its commit.
- A stage is held by the version whose latest assignment to it is the newest, among versions still registered and
  assignments not undone since. A deregistered version holds no stage, and one that held the stage before takes it
  back. A commit no version is registered at can hold a stage too (GTO names it by its SHA): then no version does.
- An artifact is deprecated while its latest deprecation is newer than every other event of it; registering,
  deregistering, assigning or unassigning anything of it afterwards makes it active again.

Where the portal deliberately reads more than GTO: lightweight GTO tags (GTO skips them) count, as of 1970.
"""

import posixpath
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.utils.text import slugify

from . import git
from .parsers import gto

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class GtoVersion:
    artifact: str
    version: str
    tag: git.Tag  # the latest registration
    deregistered: bool = False


@dataclass
class GtoState:
    """The registry GTO's tags describe, as of now."""

    # Keyed by the model slug of the artifact name, as the inventory matches models ("churn-model" is the
    # model "Churn Model" of govportal.yaml).
    versions: dict[tuple[str, str], GtoVersion] = field(default_factory=dict)  # (slug, version) →
    stages: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (slug, commit) → stages held
    deprecated: set[str] = field(default_factory=set)  # slugs deprecated now
    revived: set[str] = field(default_factory=set)  # slugs deprecated once, active again since
    names: dict[str, str] = field(default_factory=dict)  # slug → artifact name
    artifacts: dict[str, gto.ArtifactDecl] = field(default_factory=dict)  # artifact name → declaration

    def decl(self, slug: str) -> gto.ArtifactDecl | None:
        return self.artifacts.get(self.names.get(slug, ""))

    def directory(self, slug: str) -> str:
        """The folder an artifact's declared path names (a file's folder when the path ends in a file name)."""
        decl = self.decl(slug)
        path = (decl.path if decl else "").strip("/")
        if "." in path.rsplit("/", 1)[-1]:
            return posixpath.dirname(path)
        return path


def _time(tag: git.Tag) -> datetime:
    return tag.tagged_at or _EPOCH


def _latest(times: list[datetime]) -> datetime | None:
    return max(times) if times else None


def _newer(on: datetime | None, off: datetime | None) -> bool:
    """On since the latest `on`, unless an `off` came at the same second or later (GTO's tie goes to `off`)."""
    return on is not None and (off is None or on > off)


@dataclass
class _Artifact:
    registrations: dict[tuple[str, str], list[git.Tag]] = field(default_factory=dict)  # (version, commit) →
    deregistrations: dict[tuple[str, str], list[git.Tag]] = field(default_factory=dict)
    assignments: dict[tuple[str, str], list[datetime]] = field(default_factory=dict)  # (commit, stage) →
    unassignments: dict[tuple[str, str], list[datetime]] = field(default_factory=dict)
    deprecations: list[datetime] = field(default_factory=list)
    others: list[datetime] = field(default_factory=list)  # every other event's time


def read_gto(tags: list[git.Tag], problems) -> GtoState:
    """Registrations, deregistrations, stage assignments and deprecations, combined as `gto show` combines them."""
    state = GtoState()
    artifacts: dict[str, _Artifact] = {}
    # GTO's own processing order (time, then name): it decides which of two same-second versions came first.
    events = sorted(
        ((tag, event) for tag in tags if (event := gto.parse_gto_tag(tag.name, tag.message))),
        key=lambda pair: (_time(pair[0]), pair[0].name),
    )
    for tag, event in events:
        slug = slugify(event.artifact)
        state.names.setdefault(slug, event.artifact)
        found = artifacts.setdefault(slug, _Artifact())
        when, commit = _time(tag), tag.target_sha
        if event.action == gto.DEPRECATE:
            found.deprecations.append(when)
            continue
        found.others.append(when)
        if event.action == gto.REGISTER:
            if not tag.annotated:
                problems.warn(f"tag {tag.name}: GTO registers versions with annotated tags; read it anyway")
            found.registrations.setdefault((event.version, commit), []).append(tag)
        elif event.action == gto.DEREGISTER:
            found.deregistrations.setdefault((event.version, commit), []).append(tag)
        elif event.action == gto.ASSIGN:
            found.assignments.setdefault((commit, event.stage), []).append(when)
        else:
            found.unassignments.setdefault((commit, event.stage), []).append(when)
    for slug, found in artifacts.items():
        _versions(state, slug, found, problems)
        _stages(state, slug, found)
        if found.deprecations:
            (state.deprecated if _newer(_latest(found.deprecations), _latest(found.others)) else state.revived).add(
                slug
            )
    return state


def _versions(state: GtoState, slug: str, found: _Artifact, problems) -> None:
    artifact = state.names[slug]
    for (version, commit), registrations in found.registrations.items():
        # A version registered at two commits (only hand-made tags do that): the latest registration names it.
        latest = max(registrations, key=_time)
        current = state.versions.get((slug, version))
        if current is not None and _time(current.tag) > _time(latest):
            continue
        undone = [_time(tag) for tag in found.deregistrations.get((version, commit), [])]
        deregistered = not _newer(_time(latest), _latest(undone))
        state.versions[(slug, version)] = GtoVersion(artifact, version, latest, deregistered)
    for (version, commit), undone in found.deregistrations.items():
        gv = state.versions.get((slug, version))
        if gv is None:
            problems.warn(f"tag {undone[0].name}: deregisters {artifact} {version}, which no tag registers")
        elif gv.tag.target_sha != commit:
            problems.warn(
                f"tag {undone[0].name}: deregisters {artifact} {version} at commit {commit[:10]}, but the version is "
                f"registered at {gv.tag.target_sha[:10]}; ignored, as GTO ignores it"
            )


def _stages(state: GtoState, slug: str, found: _Artifact) -> None:
    # Each registered version in GTO's creation order, then the commits with assignments but no version.
    created: dict[str, tuple[int, datetime, bool]] = {}  # commit → (creation order, version time, registered)
    firsts = sorted(
        (min(_time(tag) for tag in tags), tags[0].name, version, commit)
        for (version, commit), tags in found.registrations.items()
    )
    for _, _, version, commit in firsts:
        gv = state.versions.get((slug, version))
        if gv is None or gv.tag.target_sha != commit:
            continue
        on = not gv.deregistered
        if commit in created:  # two versions at one commit (hand-made tags): registered if either is
            order, when, was_on = created[commit]
            created[commit] = (order, max(when, _time(gv.tag)), was_on or on)
        else:
            created[commit] = (len(created), _time(gv.tag), on)
    for (_, commit), undone in found.deregistrations.items():
        # GTO files assignments to such a commit under the withdrawn version: they hold nothing.
        created.setdefault(commit, (len(created), min(_time(tag) for tag in undone), False))
    holders: dict[str, tuple[tuple, str]] = {}  # stage → (rank, commit)
    for (commit, stage), assigned in found.assignments.items():
        newest = _latest(assigned)
        if not _newer(newest, _latest(found.unassignments.get((commit, stage), []))):
            continue
        order, when, registered = created.get(commit, (len(created), newest, True))
        if not registered:
            continue
        # The newest assignment wins; at the same second, the older version, then the one GTO created first.
        rank = (newest, -when.timestamp(), -order)
        if stage not in holders or rank > holders[stage][0]:
            holders[stage] = (rank, commit)
    for stage, (_, commit) in holders.items():
        state.stages.setdefault((slug, commit), set()).add(stage)
