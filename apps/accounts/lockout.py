"""Sign-in lockout: failures counted per username and per client address in the shared cache.

LOGIN_FAILURE_LIMIT failures for one username, or LOGIN_IP_FAILURE_LIMIT from one address (whatever usernames),
within LOGIN_LOCKOUT_SECONDS lock it for LOGIN_LOCKOUT_SECONDS. While locked, sign-in is refused before the
password is looked at, and the refused attempts are not counted (so they neither extend the lock nor lock the
address). Unknown usernames lock the same way, so a lockout says nothing about who has an account.

Why not django-axes: it keeps attempts in its own tables and adds middleware and an authentication backend;
counters in the cache (cache.add + cache.incr, atomic across processes on Redis) need neither, expire by
themselves, and the audit trail already keeps the record (user.login_failed, user.login_locked, user.unlocked).
This module only counts; accounts.services records.
"""

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache

from apps.core import counters

USERNAME, ADDRESS = "username", "address"


@dataclass(frozen=True)
class Lock:
    """Sign-in refused for a username or a client address until `until` (epoch seconds)."""

    scope: str  # USERNAME or ADDRESS
    until: float
    failures: int = 0

    @property
    def seconds_left(self) -> int:
        return max(1, math.ceil(self.until - counters.clock()))

    @property
    def minutes_left(self) -> int:
        return math.ceil(self.seconds_left / 60)

    @property
    def until_iso(self) -> str:
        return datetime.fromtimestamp(self.until, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _keys(scope: str, value: str) -> tuple[str, str]:
    """(failure counter, lock) keys; usernames are hashed (any length, any characters) and case-folded."""
    ident = hashlib.sha256(value.casefold().encode()).hexdigest() if scope == USERNAME else value
    return f"login.failures.{scope}.{ident}", f"login.locked.{scope}.{ident}"


def _subjects(username: str, client_ip: str | None) -> list[tuple[str, str, int]]:
    subjects = [(USERNAME, username, settings.LOGIN_FAILURE_LIMIT)]
    if client_ip:
        subjects.append((ADDRESS, client_ip, settings.LOGIN_IP_FAILURE_LIMIT))
    return subjects


def lock_of(username: str, client_ip: str | None) -> Lock | None:
    """The lock that refuses this attempt, if any (the longer one when both the username and address are locked)."""
    keys = {_keys(scope, value)[1]: scope for scope, value, _limit in _subjects(username, client_ip)}
    found = cache.get_many(list(keys))
    locks = [Lock(keys[key], until) for key, until in found.items() if until > counters.clock()]
    return max(locks, key=lambda lock: lock.until, default=None)


def count_failure(username: str, client_ip: str | None) -> list[Lock]:
    """Count one failed sign-in; returns the locks this failure set (each lock is set, and so returned, once)."""
    window = settings.LOGIN_LOCKOUT_SECONDS
    new_locks = []
    for scope, value, limit in _subjects(username, client_ip):
        failures_key, lock_key = _keys(scope, value)
        failures = counters.increment(failures_key, timeout=window)
        if failures < limit:
            continue
        lock = Lock(scope, counters.clock() + window, failures)
        if cache.add(lock_key, lock.until, window):  # one process wins: one lockout, one event
            new_locks.append(lock)
    return new_locks


def failures_of(username: str) -> tuple[int, Lock | None]:
    """The username's failures counted in the window, and its lock if any."""
    failures_key, lock_key = _keys(USERNAME, username)
    found = cache.get_many([failures_key, lock_key])
    until = found.get(lock_key)
    return found.get(failures_key, 0), Lock(USERNAME, until) if until else None


def forget(username: str) -> None:
    """Clear the username's failures and lock (a successful sign-in, or a portal admin's unlock)."""
    cache.delete_many(list(_keys(USERNAME, username)))
