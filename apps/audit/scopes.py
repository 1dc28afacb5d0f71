"""Choices for the audit filters that name things audit does not own (models, environments).

Audit sits below those apps and cannot import them; each registers a function in its
AppConfig.ready() returning [(id, label)] the user may see.
"""

from collections.abc import Callable

_choices: dict[str, Callable] = {}


def register(scope: str, choices: Callable) -> None:
    _choices[scope] = choices


def choices(scope: str, user) -> list[tuple[int, str]]:
    provider = _choices.get(scope)
    return list(provider(user)) if provider else []
