import re

from django.core.exceptions import ValidationError

_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_GIT_SHA = re.compile(r"^([0-9a-f]{40}|[0-9a-f]{64})$")
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_TAG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")
_METRIC_NAME = re.compile(r"^[A-Za-z0-9_.@/-]{1,64}$")


def normalize_digest(value: str) -> str:
    """Accept 'sha256:<hex>' or '<hex>' in either case; store bare lowercase hex."""
    value = (value or "").strip()
    if value.lower().startswith("sha256:"):
        value = value[7:]
    return value.lower()


def validate_digest(value: str) -> None:
    if value and not _DIGEST.match(value):
        raise ValidationError(
            "Enter a SHA-256 digest: 64 hexadecimal characters, optionally prefixed with 'sha256:'.",
            code="invalid_digest",
        )


def validate_git_sha(value: str) -> None:
    if value and not _GIT_SHA.match(value):
        raise ValidationError("Enter a full Git commit SHA (40 or 64 hexadecimal characters).", code="invalid_sha")


def validate_version(value: str) -> None:
    if not _VERSION.match(value or ""):
        raise ValidationError(
            "A version starts with a letter or digit and uses only letters, digits, '.', '_', '+' and '-' "
            "(at most 64 characters), e.g. 1.4.0.",
            code="invalid_version",
        )


def validate_tag(value: str) -> None:
    if not _TAG.match(value or ""):
        raise ValidationError(
            f"Tag {value!r} is not valid: use lowercase letters, digits, '.', '_' or '-' (at most 40).",
            code="invalid_tag",
        )


def validate_metrics(value) -> None:
    if not isinstance(value, dict):
        raise ValidationError('Metrics must be a JSON object of names to numbers, e.g. {"auc": 0.91}.')
    if len(value) > 200:
        raise ValidationError("At most 200 metrics per version.")
    for name, number in value.items():
        if not _METRIC_NAME.match(str(name)):
            raise ValidationError(f"Metric name {name!r} is not valid (letters, digits, _ . @ / -, at most 64).")
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise ValidationError(f"Metric {name!r} must be a number, not {number!r}.")
        if number != number or number in (float("inf"), float("-inf")):
            raise ValidationError(f"Metric {name!r} must be a finite number.")


def validate_parameters(value) -> None:
    if not isinstance(value, dict):
        raise ValidationError('Parameters must be a JSON object, e.g. {"max_depth": 6}.')
    if len(value) > 500:
        raise ValidationError("At most 500 parameters per version.")


def validate_string_list(value) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) and 0 < len(item) <= 500 for item in value):
        raise ValidationError("Enter a list of references, each a non-empty string of at most 500 characters.")
    if len(value) > 100:
        raise ValidationError("At most 100 references.")
