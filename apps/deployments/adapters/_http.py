"""HTTP for the adapters that read a server's REST API: the standard library, a timeout, a size cap, no redirects.

A redirect is refused rather than followed, so a granted secret never travels to a host the portal admin did not
name. Every failure is a TargetError in plain words that never holds the secret; network trouble and 5xx answers
are transient (retried), the rest are not.
"""

import base64
import http.client
import json
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

from apps.accounts.credentials import DEFAULT_USERNAME

from . import TargetError

TIMEOUT = 15  # seconds for connecting and for each read
MAX_BYTES = 10 * 1024 * 1024
TRANSIENT_STATUS = {408, 425, 429}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx status, which Client reports


_opener = urllib.request.build_opener(_NoRedirect)


def bearer(secret) -> str | None:
    return f"Bearer {secret.value}" if secret else None


def bearer_or_basic(secret) -> str | None:
    """Basic when the credential names a user of its own (MLflow's basic-auth app), a bearer token otherwise."""
    if secret and secret.username and secret.username != DEFAULT_USERNAME:
        pair = f"{secret.username}:{secret.value}".encode()
        return f"Basic {base64.b64encode(pair).decode()}"
    return bearer(secret)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self, what: str):
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
            raise TargetError(f"{what}: the answer is not JSON") from None


class Client:
    """Requests to one server, all relative to its base URL, with the granted secret (if any) on each."""

    def __init__(self, base_url: str, *, authorization: str | None = None, secret=None):
        self.base_url = base_url.rstrip("/")
        if urlsplit(self.base_url).scheme not in ("http", "https"):
            raise TargetError("the target's url must be an http:// or https:// URL")
        self.authorization = authorization
        self._secret_value = secret.value if secret else ""

    def _clean(self, text: str) -> str:
        text = " ".join(str(text).split())[:300]
        return text.replace(self._secret_value, "[secret]") if self._secret_value else text

    def request(self, path: str, *, method: str = "GET", payload=None, what: str) -> Answer:
        """The status and body of `method path`; 2xx and 4xx are returned, the rest raise TargetError.

        401 and 403 raise too: the caller cannot do anything useful without being let in.
        """
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method)  # noqa: S310 - http(s) only
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.authorization:
            request.add_unredirected_header("Authorization", self.authorization)
        try:
            with _opener.open(request, timeout=TIMEOUT) as response:
                return Answer(response.status, self._read(response, what))
        except urllib.error.HTTPError as exc:
            with exc:
                return self._refused(exc, what)
        except urllib.error.URLError as exc:
            raise self._unreachable(exc.reason) from None
        except (TimeoutError, OSError) as exc:  # a read that timed out, a connection reset mid-answer
            raise self._unreachable(exc) from None
        except http.client.IncompleteRead:
            raise TargetError(f"{what}: the answer was cut off; will try again", transient=True) from None
        except http.client.HTTPException:  # e.g. a gRPC or TLS port given as an http:// URL
            raise TargetError(f"{what}: the server at {self.base_url} does not answer in HTTP/1.1") from None

    def _read(self, response, what: str) -> bytes:
        body = response.read(MAX_BYTES + 1)
        if len(body) > MAX_BYTES:
            raise TargetError(f"{what}: the answer is larger than {MAX_BYTES // (1024 * 1024)} MB")
        return body

    def _refused(self, exc: urllib.error.HTTPError, what: str) -> Answer:
        status = exc.code
        if 300 <= status < 400:
            location = urlsplit(exc.headers.get("Location") or "")
            where = f" to {location.scheme}://{location.hostname}" if location.hostname else ""
            raise TargetError(
                f"{what}: the server answered with a redirect (HTTP {status}){where}, which is not followed; "
                f"give the server's final URL"
            )
        if status in (401, 403):
            hint = "check the target's credential" if self.authorization else "the target needs a credential"
            raise TargetError(f"{what}: the server refused access (HTTP {status}); {hint}")
        if status >= 500 or status in TRANSIENT_STATUS:
            raise TargetError(f"{what}: the server answered HTTP {status}; will try again", transient=True)
        try:
            body = exc.read(64 * 1024)
        except OSError:
            body = b""
        return Answer(status, body)

    def _unreachable(self, reason) -> TargetError:
        where = self.base_url
        if isinstance(reason, ssl.SSLError):
            return TargetError(f"could not open a TLS connection to {where}: {self._clean(reason.reason or reason)}")
        if isinstance(reason, TimeoutError | socket.timeout):
            return TargetError(f"{where} did not answer within {TIMEOUT} seconds", transient=True)
        if isinstance(reason, ConnectionRefusedError):
            return TargetError(f"could not connect to {where}: connection refused", transient=True)
        if isinstance(reason, socket.gaierror):
            return TargetError(f"could not find the host of {where} (name resolution failed)", transient=True)
        detail = getattr(reason, "strerror", None) or reason
        return TargetError(f"could not reach {where}: {self._clean(detail)}", transient=True)

    def message_of(self, answer: Answer) -> str:
        """The server's own words from an error answer (MLflow's `message`, MLServer's `error`), cleaned."""
        try:
            data = json.loads(answer.body)
        except ValueError:
            return ""
        if isinstance(data, dict):
            for key in ("message", "error", "detail"):
                if isinstance(data.get(key), str):
                    return self._clean(data[key])
        return ""
