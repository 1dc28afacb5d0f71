"""Pure parsers for the files and tags a Git sync reads. No database access."""

from ._yaml import ParseError
from .govportal import ModelSpec, ParseResult, VersionSpec, parse_govportal_yaml
from .gto import ArtifactDecl, ArtifactsResult, GtoEvent, parse_artifacts_yaml, parse_dvc_yaml_artifacts, parse_gto_tag
from .metadata import MetadataResult, parse_hf_model_card, parse_mlmodel

__all__ = [
    "ArtifactDecl",
    "ArtifactsResult",
    "GtoEvent",
    "MetadataResult",
    "ModelSpec",
    "ParseError",
    "ParseResult",
    "VersionSpec",
    "parse_artifacts_yaml",
    "parse_dvc_yaml_artifacts",
    "parse_govportal_yaml",
    "parse_gto_tag",
    "parse_hf_model_card",
    "parse_mlmodel",
]
