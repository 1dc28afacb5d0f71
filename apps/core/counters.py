"""Counters in the shared cache (settings.CACHES, CACHE_URL): what every web process counts together.

Rate limits, sign-in lockouts and webhook rejections count here. cache.add + cache.incr are atomic on Redis (and
within one process on the memory cache), so two processes counting at once never lose a count, as a get-then-set
would. With CACHE_URL unset each process has its own memory cache, and so its own counts.
"""

import math
import time

from django.core.cache import cache

clock = time.time  # the tests move it by hand


def increment(key: str, *, timeout: int) -> int:
    """Add one to the counter `key` and return the new count. A new counter lives `timeout` seconds, never extended."""
    for _ in range(3):
        cache.add(key, 0, timeout)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add() and incr(): start a new one
            continue
        if count == 1:
            # Django's Redis incr() checks EXISTS before INCR: a key expiring in between comes back with no expiry.
            cache.touch(key, timeout)
        return count
    raise RuntimeError(f"The cache counter {key} expires as soon as it is made: is the cache working?")


def window_count(name: str, *, seconds: int) -> tuple[int, int, int]:
    """Count one event in the current fixed window of `seconds` (aligned to the epoch, the same in every process).

    Returns (count in this window so far, seconds until the window ends, the window's start as epoch seconds).
    """
    now = clock()
    start = int(now // seconds) * seconds
    count = increment(f"{name}:{start}", timeout=seconds)
    return count, max(1, math.ceil(start + seconds - now)), start
