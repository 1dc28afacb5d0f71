"""HTTP to the GovPortal API with the standard library: JSON in and out, problem details as ApiError, retries.

Retries, with exponential backoff (or the server's Retry-After), on what is worth retrying:
  * GET: connection errors, timeouts, 429 and every 5xx;
  * POST: only what the server certainly did not act on (429, 503, a refused connection), so a retry can
    never register a version or create a request twice.
A call retries ATTEMPTS times, or, given a deadline (polling), until the deadline.

Redirects are not followed: urllib would resend the Authorization header to wherever the redirect points.
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPException
from typing import Any, Callable

from . import __version__

ATTEMPTS = 5  # tries of one call without a deadline: waits of about 1, 2, 4 and 8 seconds between them
BACKOFF_BASE = 1.0  # seconds before the first retry; doubled each time
BACKOFF_CAP = 30.0
RETRY_AFTER_CAP = 600.0  # a Retry-After longer than this is not believed
REQUEST_TIMEOUT = 30.0  # seconds for one HTTP exchange
POST_RESENDABLE = (429, 503)
USER_AGENT = f"govportal-cli/{__version__} (+python-urllib)"


class ApiError(Exception):
    """The portal answered with an error (an RFC 9457 problem when it is the portal speaking) or was unreachable."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        title: str = "",
        code: str = "",
        detail: str = "",
        errors: Any = None,
        method: str = "",
        path: str = "",
        retry_after: float | None = None,
        not_sent: bool = False,
    ):
        super().__init__(message)
        self.message, self.status, self.title, self.code = message, status, title, code
        self.detail, self.errors, self.method, self.path = detail, errors, method, path
        self.retry_after, self.not_sent = retry_after, not_sent

    def short(self) -> str:
        if self.status is None:
            return self.message
        return f"{self.status} {self.title}".strip()

    def as_dict(self) -> dict:
        problem = {"status": self.status, "title": self.title, "code": self.code, "detail": self.detail or self.message}
        if self.errors:
            problem["errors"] = self.errors
        return problem


class TimedOut(Exception):
    """Retrying would have run past the caller's deadline; `last` is the error that was being retried."""

    def __init__(self, last: ApiError):
        super().__init__(str(last))
        self.last = last


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # the 3xx becomes an HTTPError, reported as such


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _snippet(raw: bytes) -> str:
    """A readable line from a non-JSON error body (an HTML page of a proxy, say)."""
    text = raw.decode("utf-8", "replace")
    text = re.sub(r"(?s)<(script|style).*?</\1>", " ", text)
    text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    return text[:200] + ("…" if len(text) > 200 else "")


class Client:
    """Calls one portal with one token. `log` receives retry notices; `sleep` and `clock` are for tests."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = REQUEST_TIMEOUT,
        log: Callable[[str], None] = lambda message: None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.log, self.sleep, self.clock = log, sleep, clock
        self._opener = urllib.request.build_opener(_NoRedirect)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict | None = None,
        deadline: float | None = None,
        attempts: int = ATTEMPTS,
    ) -> Any:
        """The decoded JSON answer. Raises ApiError, or TimedOut when retries would pass `deadline` (a clock())."""
        if query:
            path = f"{path}?{urllib.parse.urlencode(query, doseq=True)}"
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._once(method, path, body)
            except ApiError as exc:
                if not self._retryable(method, exc) or (deadline is None and attempt >= attempts):
                    raise
                delay = self._delay(attempt, exc.retry_after)
                if deadline is not None:
                    remaining = deadline - self.clock()
                    if remaining <= delay:
                        if remaining > 0:
                            self.sleep(remaining)
                        raise TimedOut(exc) from exc
                tries = "" if deadline is not None else f"/{attempts}"
                self.log(f"{method} {path}: {exc.short()}; retrying in {delay:.1f}s (try {attempt + 1}{tries})")
                self.sleep(delay)

    @staticmethod
    def _retryable(method: str, exc: ApiError) -> bool:
        if method == "GET":
            return exc.status is None or exc.status == 429 or exc.status >= 500
        if exc.status is None:
            return exc.not_sent
        return exc.status in POST_RESENDABLE

    @staticmethod
    def _delay(attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, RETRY_AFTER_CAP)
        backoff = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
        return backoff * random.uniform(0.8, 1.0)  # noqa: S311 - jitter, not cryptography

    def _once(self, method: str, path: str, body: Any) -> Any:
        url = self.base_url + path
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - the scheme is checked
        request.add_header("Authorization", f"Bearer {self._token}")
        request.add_header("Accept", "application/json, application/problem+json")
        request.add_header("User-Agent", USER_AGENT)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        where = urllib.parse.urlsplit(url).netloc
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                raw, status = response.read(), response.status
        except urllib.error.HTTPError as err:
            raise self._problem(method, path, err) from None
        except urllib.error.URLError as err:
            reason = err.reason
            not_sent = isinstance(reason, (ConnectionRefusedError, socket.gaierror))
            raise ApiError(f"cannot reach {where}: {reason}", method=method, path=path, not_sent=not_sent) from None
        except (socket.timeout, TimeoutError):
            raise ApiError(f"no answer from {where} within {self.timeout:.0f}s", method=method, path=path) from None
        except (ConnectionError, HTTPException, OSError) as err:
            raise ApiError(f"connection to {where} failed: {err}", method=method, path=path) from None
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(
                f"{where} answered {status} but not with JSON: {_snippet(raw)}", status=None, method=method, path=path
            ) from None

    @staticmethod
    def _problem(method: str, path: str, err: urllib.error.HTTPError) -> ApiError:
        try:
            raw = err.read() or b""
        except (OSError, HTTPException):
            raw = b""
        retry_after = _retry_after(err.headers.get("Retry-After") if err.headers else None)
        title = err.reason if isinstance(err.reason, str) else ""
        if 300 <= err.code < 400:
            location = err.headers.get("Location", "?") if err.headers else "?"
            detail = (
                f"The portal redirects to {location}; set GOVPORTAL_URL to the address it redirects to "
                "(the token is never sent on to another address)."
            )
            return ApiError(detail, status=err.code, title=title, code="redirect", detail=detail, method=method,
                            path=path)  # fmt: skip
        problem = None
        try:
            problem = json.loads(raw) if raw.strip() else None
        except ValueError:
            problem = None
        if isinstance(problem, dict):
            detail = problem.get("detail")
            detail = detail if isinstance(detail, str) else json.dumps(detail) if detail is not None else ""
            return ApiError(
                detail or f"{err.code} {title}",
                status=err.code,
                title=str(problem.get("title") or title),
                code=str(problem.get("code") or ""),
                detail=detail,
                errors=problem.get("errors"),
                method=method,
                path=path,
                retry_after=retry_after,
            )
        detail = _snippet(raw) if raw.strip() else ""
        return ApiError(detail or f"{err.code} {title}", status=err.code, title=title, detail=detail, method=method,
                        path=path, retry_after=retry_after)  # fmt: skip
