"""Links from audit rows to their targets, registered by the apps that own the targets.

Audit sits below the apps it records, so it cannot import them; each app registers
a resolver in its AppConfig.ready(): ids → URLs, one query per target type per page.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable

_resolvers: dict[str, Callable[[list[str]], dict[str, str]]] = {}


def register(target_type: str, resolver: Callable[[list[str]], dict[str, str]]) -> None:
    _resolvers[target_type] = resolver


def attach_target_urls(events: Iterable) -> list:
    """Set `target_url` on each event (None when the target is gone or has no page)."""
    events = list(events)
    ids_by_type: dict[str, list[str]] = defaultdict(list)
    for event in events:
        if event.target_type in _resolvers and event.target_id:
            ids_by_type[event.target_type].append(event.target_id)
    urls = {kind: _resolvers[kind](sorted(set(ids))) for kind, ids in ids_by_type.items()}
    for event in events:
        event.target_url = urls.get(event.target_type, {}).get(event.target_id)
    return events
