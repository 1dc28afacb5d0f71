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

from . import git, parsers
from .gto_state import GtoState, GtoVersion, read_gto
from .parsers import gto

__all__ = ["GtoState", "GtoVersion", "Problems", "read_gto"]

GOVPORTAL_FILE = "govportal.yaml"
TAG_NAME_MAX = 255  # what ModelVersion.git_tag and KnownTag.name hold; Git allows longer names


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
    """A file's text, or None with the reason recorded (a symbolic link, too large, not UTF-8, a NUL character)."""
    if content is None:
        return None
    if isinstance(content, git.Symlink):
        problems.warn(f"{content.path} is a symbolic link; GovPortal reads only regular files")
        return None
    if isinstance(content, git.FileTooLarge):
        problems.error(f"{path}: {content.size} bytes, over the limit of {content.limit}; not read")
        return None
    try:
        text = content.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        problems.error(f"{path}: not UTF-8 (invalid byte at offset {exc.start}); not read")
        return None
    if "\x00" in text:  # valid UTF-8, but no database text column holds it
        problems.error(f"{path}: contains a NUL character (offset {text.index(chr(0))}); not read")
        return None
    return text


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


def read_artifacts(mirror: git.Mirror, head: str, problems: Problems, max_bytes: int) -> dict:
    """Artifact declarations at the head: artifacts.yaml and the `artifacts:` of dvc.yaml (the first wins)."""
    files = mirror.read_files([(head, "artifacts.yaml"), (head, "dvc.yaml")], max_bytes, links=True)
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
    names = [name for name in names if len(name) <= TAG_NAME_MAX]
    if not names:
        return ""
    for candidate in (registered, version, f"v{version}"):
        if candidate in names:
            return candidate
    plain = sorted(name for name in names if gto.parse_gto_tag(name) is None)
    return plain[0] if plain else ""
