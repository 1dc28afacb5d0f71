"""Links from audit rows to their targets, registered by the apps that own the targets.

Audit sits below the apps it records, so it cannot import them; each app registers
a resolver in its AppConfig.ready(): ids → URLs, one query per target type per page.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable

_resolvers: dict[str, Callable[[list[str]], dict[str, str]]] = {}


def register(target_type: str, resolver: Callable[[list[str]], dict[str, str]]) -> None:
    _resolvers[target_type] = resolver


def attach_target_urls(events: Iterable, known: dict[tuple[str, str], str] | None = None) -> list:
    """Set `target_url` on each event (None when the target is gone or has no page). `known`: the URLs the caller
    already holds, by (target type, target id), such as the page's own object; only the others are looked up."""
    events = list(events)
    known = known or {}
    ids_by_type: dict[str, list[str]] = defaultdict(list)
    for event in events:
        key = (event.target_type, event.target_id)
        if event.target_type in _resolvers and event.target_id and key not in known:
            ids_by_type[event.target_type].append(event.target_id)
    urls = {kind: _resolvers[kind](sorted(set(ids))) for kind, ids in ids_by_type.items()}
    for event in events:
        key = (event.target_type, event.target_id)
        event.target_url = known[key] if key in known else urls.get(event.target_type, {}).get(event.target_id)
    return events
