"""Who/where/how a change was made, carried to every audit event of a request or task.

A context variable rather than a thread-local, so it is correct under threads and
asyncio alike. Web requests set it in RequestContextMiddleware; commands and tasks
use `bind()`.
"""

import contextvars
import ipaddress
import re
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace

from django.conf import settings
from django.db import connection

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    source: str  # web, api, task, command, webhook
    client_ip: str | None = None
    user_agent: str | None = None
    extra: dict | None = None  # what a task adds, e.g. a sync's repository, commit and run

    def as_dict(self) -> dict:
        fields = {key: value for key, value in asdict(self).items() if value is not None and key != "extra"}
        return {**(self.extra or {}), **fields}


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("request_context", default=None)


# Answers that hold for one whole web request (a user's team roles, asked by the navigation, the page and its
# permission checks alike), kept for that request only. Not offered outside a web request (tasks, commands) nor
# inside a transaction the request opened: a service, which makes a governed change, checks against the database
# as its own transaction sees it. Whoever changes what an answer depends on calls forget() (accounts does on every
# role change).
_memo: contextvars.ContextVar[tuple[int, dict] | None] = contextvars.ContextVar("request_memo", default=None)


def memo() -> dict | None:
    """This request's memo (see _memo), or None outside a web request or inside a transaction it opened."""
    kept = _memo.get()
    if kept is None:
        return None
    depth, answers = kept
    return answers if len(connection.atomic_blocks) <= depth else None


def forget() -> None:
    """Drop every answer this request has kept."""
    kept = _memo.get()
    if kept is not None:
        kept[1].clear()


def new_request_id() -> str:
    return uuid.uuid4().hex


def valid_request_id(value: str | None) -> bool:
    return bool(value) and bool(_REQUEST_ID.match(value))


def get() -> RequestContext:
    """The current context; outside any request, task or bind(), a fresh 'command' context.

    The fresh context is not stored: in a long-lived process without bind(), events
    must not all share one request id.
    """
    return _current.get() or RequestContext(request_id=new_request_id(), source="command")


def activate(context: RequestContext, *, with_memo: bool = False) -> tuple:
    """Bind `context`; a web request also gets a fresh memo (see _memo). Hand the result to deactivate()."""
    # The transactions open now (a test's) are the request's surroundings; any opened later is a service's.
    return _current.set(context), _memo.set((len(connection.atomic_blocks), {}) if with_memo else None)


def deactivate(tokens: tuple) -> None:
    context_token, memo_token = tokens
    _memo.reset(memo_token)
    _current.reset(context_token)


@contextmanager
def bind(**fields):
    """Run a block with a context (a task, a command, or a request's API source)."""
    base = _current.get()
    if base is None:
        fields.setdefault("request_id", new_request_id())
        fields.setdefault("source", "command")
        context = RequestContext(**fields)
    else:
        context = replace(base, **fields)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


def _in_networks(address: str, networks: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for network in networks:
        try:
            if ip in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            continue
    return False


def client_ip(meta: dict) -> str | None:
    """The client address: REMOTE_ADDR, unless it is a trusted proxy.

    Behind trusted proxies, X-Forwarded-For is read from the right, skipping
    trusted hops; the first untrusted address is the client. The leftmost entry is
    never taken on faith, since any client can write it.
    """
    remote = meta.get("REMOTE_ADDR") or None
    trusted = settings.TRUSTED_PROXIES
    if not remote or not trusted or not _in_networks(remote, trusted):
        return remote
    hops = [hop.strip() for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _in_networks(hop, trusted):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote  # garbage in the header: fall back to the peer we know
    return remote
