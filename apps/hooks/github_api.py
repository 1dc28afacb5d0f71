"""The one call the portal makes to GitHub's REST API: answering a deployment protection rule.

Plain I/O, no database. Only URLs under settings.GITHUB_API_URL naming the delivering repository are accepted (a
signed delivery must not make the portal POST its App token elsewhere), and redirects are never followed, since
urllib would carry the Authorization header to wherever a redirect points.
"""

import http.client
import json
import re
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings

from .exceptions import CallbackRefused, CallbackUnavailable, CallbackUrlRefused

_NAME = r"[A-Za-z0-9_.-]{1,100}"
_CALLBACK_PATH = (
    rf"/repos/(?P<owner>{_NAME})/(?P<repo>{_NAME})/actions/runs/(?P<run>[0-9]{{1,19}})/deployment_protection_rule"
)
# Worth another try later: GitHub's hiccups, rate limits (403 is GitHub's secondary rate limit) and a token that
# expired or is not set yet (an operator can fix it; the run waits). Any other answer will not change.
_TRANSIENT = {401, 403, 408, 429}


def callback_run_id(url: str, full_name: str) -> int:
    """The workflow run id in GitHub's `deployment_callback_url`; CallbackUrlRefused unless it is a URL we may call.

    It must be {GITHUB_API_URL}/repos/{full_name}/actions/runs/{run_id}/deployment_protection_rule, exactly.
    """
    base = urlsplit(settings.GITHUB_API_URL.rstrip("/"))
    parts = urlsplit(url) if isinstance(url, str) and len(url) <= 500 else None
    if parts is None or (parts.scheme, parts.netloc.lower()) != (base.scheme, base.netloc.lower()):
        raise CallbackUrlRefused(
            f"The deployment_callback_url is not under {settings.GITHUB_API_URL}; it is not called."
        )
    match = re.fullmatch(re.escape(base.path) + _CALLBACK_PATH, parts.path)
    if match is None or parts.query or parts.fragment or {match["owner"], match["repo"]} & {".", ".."}:
        raise CallbackUrlRefused(
            "The deployment_callback_url is not a deployment protection rule URL; it is not called."
        )
    if f"{match['owner']}/{match['repo']}".lower() != full_name.lower():
        raise CallbackUrlRefused(
            f"The deployment_callback_url names another repository than {full_name}; it is not called."
        )
    return int(match["run"])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError(3xx): refused below


_opener = urllib.request.build_opener(_NoRedirect)


def deployment_answer_post(*, url: str, full_name: str, environment: str, state: str, comment: str) -> None:
    """POST GitHub's answer to a waiting run: {"environment_name", "state", "comment"} with the App's token.

    Raises CallbackUnavailable (try again later) or CallbackRefused (GitHub will never take it).
    """
    try:
        callback_run_id(url, full_name)  # again: the settings may have changed since the delivery
    except CallbackUrlRefused as exc:
        raise CallbackRefused(str(exc)) from None
    token = settings.GITHUB_APP_INSTALLATION_TOKEN
    if not token:
        raise CallbackUnavailable("GITHUB_APP_INSTALLATION_TOKEN is not set, so GitHub cannot be answered.")
    body = json.dumps({"environment_name": environment, "state": state, "comment": comment}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={  # noqa: S310 — scheme checked above
        "Accept": "application/vnd.github+json",
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "User-Agent": "GovPortal",
        "X-GitHub-Api-Version": "2022-11-28",
    })  # fmt: skip
    try:
        with _opener.open(request, timeout=settings.GITHUB_API_TIMEOUT_SECONDS) as response:
            response.read(65536)
    except urllib.error.HTTPError as exc:
        detail = _error_detail(exc)
        if exc.code >= 500 or exc.code in _TRANSIENT:
            raise CallbackUnavailable(f"GitHub answered {exc.code}{detail}") from None
        raise CallbackRefused(f"GitHub answered {exc.code}{detail}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:  # refused, reset, DNS, timeout
        raise CallbackUnavailable(f"GitHub could not be reached: {getattr(exc, 'reason', exc)}") from None


def _error_detail(exc: urllib.error.HTTPError) -> str:
    """GitHub's `message` from an error body, for last_error (the request, with its token, is never echoed)."""
    try:
        message = json.loads(exc.read(65536) or b"{}").get("message")
    except (ValueError, AttributeError, OSError):
        message = None
    return f": {str(message)[:300]}" if message else "."
