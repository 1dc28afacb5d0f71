"""Checks the adapters share for their configuration: each failure names the field in plain words."""

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError


def refuse(message: str):
    raise ValidationError({"config": [message]})


def only(config, allowed: set[str]) -> dict:
    if not isinstance(config, dict):
        refuse("The configuration must be a JSON object.")
    unknown = sorted(set(config) - allowed)
    if unknown:
        refuse(f"Unknown configuration fields: {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))}).")
    return dict(config)


def text(config: dict, key: str, *, default: str = "", required: bool = False, limit: int = 500) -> str:
    value = config.get(key, default)
    if value is None:
        value = ""
    if not isinstance(value, str):
        refuse(f"{key} must be text.")
    value = value.strip()
    if required and not value:
        refuse(f"{key} is required.")
    if len(value) > limit or any(c in value for c in "\x00\r\n"):
        refuse(f"{key} is too long or holds control characters.")
    return value


def http_url(config: dict, key: str = "url") -> str:
    """An http(s) URL without user-info, query or fragment (a token there would be stored and shown)."""
    value = text(config, key, required=True).rstrip("/")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        refuse(f"{key} is not a valid URL.")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        refuse(f"{key} must be an http:// or https:// URL with a host.")
    if "@" in parts.netloc or parts.query or parts.fragment:
        refuse(f"{key} must not hold a user name, password, query or fragment; use a granted credential.")
    return value


def text_list(config: dict, key: str, *, default: list[str] | None = None, required: bool = False) -> list[str]:
    value = config.get(key, default if default is not None else [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        refuse(f"{key} must be a list of text.")
    value = [item.strip() for item in value if item.strip()]
    if required and not value:
        refuse(f"{key} needs at least one entry.")
    if len(value) > 100 or any(len(item) > 300 or any(c in item for c in "\x00\r\n") for item in value):
        refuse(f"{key} has too many entries, or one that is too long.")
    return value
