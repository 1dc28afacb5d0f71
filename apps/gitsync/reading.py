"""What the repository says, read from the mirror into plain values: no database here.

Two kinds of reading:
- history: each commit that changed `govportal.yaml`, oldest first (a version is registered at the first
  commit that declares it; later commits update its declared fields);
- state: the tags as they are now (GTO registrations, stages, deprecations) and `artifacts.yaml` /
  `dvc.yaml` at the branch head. State is recomputed whole on every sync, so a full sync and any sequence
  of incremental syncs arrive at the same inventory.
"""

import copy
import dataclasses
import functools
import posixpath
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.utils.text import slugify

from . import git, parsers
from .parsers import gto

GOVPORTAL_FILE = "govportal.yaml"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Problems:
    """Errors (something could not be read or applied) and warnings (read, but worth a look), in plain words."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def error(self, message: str) -> None:
        if message not in self.errors:
            self.errors.append(message)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)


def text_of(content, path: str, problems: Problems) -> str | None:
    """A file's text, or None with the reason recorded (too large, not UTF-8)."""
    if content is None:
        return None
    if isinstance(content, git.FileTooLarge):
        problems.error(f"{path}: {content.size} bytes, over the limit of {content.limit}; not read")
        return None
    try:
        return content.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        problems.error(f"{path}: not UTF-8 (invalid byte at offset {exc.start}); not read")
        return None


def metadata_files(directory: str) -> list[str]:
    """Where MLflow and Hugging Face metadata for an artifact in `directory` would be."""
    return [posixpath.join(directory, "MLmodel") if directory else "MLmodel", posixpath.join(directory, "README.md")]


@functools.lru_cache(maxsize=512)
def _parsed_once(parse, text: str, path: str, max_bytes: int):
    return parse(text, path, max_bytes)


def _parsed(parse, text: str, path: str, max_bytes: int):
    """A parse result, computed once per distinct file: a history walk meets the same card at every commit."""
    result = _parsed_once(parse, text, path, max_bytes)
    return dataclasses.replace(result, metadata=copy.deepcopy(result.metadata))


def metadata_from(files: dict, commit: str, directory: str, problems: Problems, max_bytes: int) -> dict:
    """`{"mlflow": {...}, "huggingface": {...}}` from the MLmodel and README.md in `directory`, where present."""
    mlmodel_path, readme_path = metadata_files(directory)
    metadata = {}
    mlmodel = text_of(files.get((commit, mlmodel_path)), mlmodel_path, problems)
    if mlmodel is not None:
        result = _parsed(parsers.parse_mlmodel, mlmodel, mlmodel_path, max_bytes)
        for error in result.errors:
            problems.error(str(error))
        if result.metadata:
            metadata["mlflow"] = result.metadata
    readme = text_of(files.get((commit, readme_path)), readme_path, problems)
    if readme is not None:
        result = _parsed(parsers.parse_hf_model_card, readme, readme_path, max_bytes)
        for error in result.errors:
            problems.error(str(error))
        if result.metadata:
            metadata["huggingface"] = result.metadata
    return metadata


# -- GTO state ------------------------------------------------------------------------------------------------


@dataclass
class GtoVersion:
    artifact: str
    version: str
    tag: git.Tag
    deregistered: bool = False


@dataclass
class GtoState:
    """The registry GTO's tags describe, as of now."""

    # Keyed by the model slug of the artifact name, as the inventory matches models ("churn-model" is the
    # model "Churn Model" of govportal.yaml).
    versions: dict[tuple[str, str], GtoVersion] = field(default_factory=dict)  # (slug, version) →
    stages: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (slug, commit) → stages
    deprecated: set[str] = field(default_factory=set)  # slugs
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


def _order(tag: git.Tag, event: gto.GtoEvent) -> tuple:
    # GTO orders a name's events by creation time; the #N counter breaks ties and orders lightweight tags.
    return (tag.tagged_at or _EPOCH, event.counter or 0, tag.name)


def read_gto(tags: list[git.Tag], problems: Problems) -> GtoState:
    """Registrations, deregistrations, stage assignments and deprecations, the latest event winning."""
    state = GtoState()
    events = sorted(
        ((tag, event) for tag in tags if (event := gto.parse_gto_tag(tag.name, tag.message))),
        key=lambda pair: _order(*pair),
    )
    assigned: dict[tuple[str, str, str], tuple[bool, int]] = {}  # (slug, commit, stage) → (on, event order)
    for order, (tag, event) in enumerate(events):
        slug = slugify(event.artifact)
        state.names.setdefault(slug, event.artifact)
        if event.action == gto.REGISTER:
            if not tag.annotated:
                problems.warn(f"tag {tag.name}: GTO registers versions with annotated tags; read it anyway")
            state.versions[(slug, event.version)] = GtoVersion(event.artifact, event.version, tag)
        elif event.action == gto.DEREGISTER:
            registered = state.versions.get((slug, event.version))
            if registered is None:
                problems.warn(f"tag {tag.name}: deregisters {event.artifact} {event.version}, which no tag registers")
            else:
                registered.deregistered = True
        elif event.action in (gto.ASSIGN, gto.UNASSIGN):
            assigned[(slug, tag.target_sha, event.stage)] = (event.action == gto.ASSIGN, order)
        elif event.action == gto.DEPRECATE:
            state.deprecated.add(slug)
    # As `gto show` does: a stage is held by the version assigned to it last, among those still assigned.
    holders: dict[tuple[str, str], tuple[int, str]] = {}
    for (slug, commit, stage), (on, when) in assigned.items():
        if on and when > holders.get((slug, stage), (-1, ""))[0]:
            holders[(slug, stage)] = (when, commit)
    for (slug, stage), (_, commit) in holders.items():
        state.stages.setdefault((slug, commit), set()).add(stage)
    return state


def read_artifacts(mirror: git.Mirror, head: str, problems: Problems, max_bytes: int) -> dict:
    """Artifact declarations at the head: artifacts.yaml and the `artifacts:` of dvc.yaml (the first wins)."""
    files = mirror.read_files([(head, "artifacts.yaml"), (head, "dvc.yaml")], max_bytes)
    declared = {}
    for path, parse in (("artifacts.yaml", gto.parse_artifacts_yaml), ("dvc.yaml", gto.parse_dvc_yaml_artifacts)):
        text = text_of(files.get((head, path)), path, problems)
        if text is None:
            continue
        result = parse(text, path, max_bytes)
        for error in result.errors:
            problems.error(str(error))
        for decl in result.artifacts:
            declared.setdefault(decl.name, decl)
    return declared


def tags_by_commit(tags: list[git.Tag]) -> dict[str, list[str]]:
    by_commit = defaultdict(list)
    for tag in tags:
        by_commit[tag.target_sha].append(tag.name)
    return by_commit


def release_tag(registered: str, version: str, names: list[str]) -> str:
    """The tag naming a version at its commit: its GTO registration, then `version`/`vversion`, then any."""
    if not names:
        return ""
    for candidate in (registered, version, f"v{version}"):
        if candidate in names:
            return candidate
    plain = sorted(name for name in names if gto.parse_gto_tag(name) is None)
    return plain[0] if plain else ""
