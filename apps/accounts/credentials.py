"""Granted credentials: a portal admin defines them, teams pick them, workers resolve them only for allowed hosts.

A team admin never names a server resource. The only thing a repository (or a deployment target) holds is a
foreign key to a `GrantedCredential`; the portal admin who created it decided where the secret lives on the
worker (an environment variable or a file) and which hosts may receive it. `secret_for()` is the one place a
secret is read, and it refuses unless the credential is enabled, granted to the team, and the URL is https or
ssh on one of its hosts.
"""

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

from .models import GrantedCredential

DEFAULT_USERNAME = "x-access-token"  # what token-based https hosts accept as the user
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?"
_HOST = re.compile(rf"^(?=.{{1,253}}(?::\d{{1,5}})?$){_LABEL}(?:\.{_LABEL})*(?::\d{{1,5}})?$")
_SCP = re.compile(r"^(?:[^@/\s]+@)?(?P<host>[^/:\s]{2,}):(?!//)")
SECRET_SCHEMES = {"https", "ssh"}


class CredentialError(Exception):
    """A credential cannot be used here; the message says why in plain words and never holds the secret."""


@dataclass(frozen=True)
class Secret:
    username: str
    value: str
    hosts: tuple[str, ...]

    def __repr__(self) -> str:  # never print the value
        return f"Secret(username={self.username!r}, hosts={self.hosts!r})"


def check_reference(value: str) -> str:
    """env:NAME or file:/absolute/path, or ValidationError. Only portal admins ever type one."""
    value = (value or "").strip()
    kind, _, rest = value.partition(":")
    if kind == "env" and _ENV_NAME.match(rest):
        return value
    if kind == "file" and rest.startswith("/") and not any(c in rest for c in "\n\r\x00"):
        return value
    raise ValidationError({"reference": ["Give where the secret lives: env:VARIABLE_NAME or file:/absolute/path."]})


def check_hosts(hosts) -> list[str]:
    """Lower-cased host names (host or host:port), no wildcards, no schemes, at least one."""
    if isinstance(hosts, str):
        hosts = re.split(r"[\s,]+", hosts)
    cleaned = sorted({str(host).strip().lower().rstrip(".") for host in hosts or () if str(host).strip()})
    bad = [host for host in cleaned if not _HOST.match(host)]
    if bad:
        raise ValidationError(
            {"allowed_hosts": [f"Not a host name: {', '.join(bad)}. Give host or host:port, e.g. github.com."]}
        )
    if not cleaned:
        raise ValidationError({"allowed_hosts": ["Name at least one host the secret may be sent to."]})
    return cleaned


def url_host(url: str) -> tuple[str, str]:
    """(scheme, host[:port]) of a Git URL; scp-style git@host:path counts as ssh. ('', '') for local paths."""
    url = (url or "").strip()
    if "://" in url:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        try:
            port = parts.port
        except ValueError:
            return parts.scheme.lower(), ""
        return parts.scheme.lower(), f"{host}:{port}" if port else host
    match = _SCP.match(url)
    if match:
        return "ssh", match["host"].lower()
    return "", ""


def host_allowed(host: str, allowed) -> bool:
    """`host` (host or host:port) is listed, or its bare name is listed without a port."""
    bare = host.rsplit(":", 1)[0] if ":" in host else host
    return bool(host) and (host in allowed or bare in allowed)


def check_use(credential: GrantedCredential, *, team, url: str) -> None:
    """Raise CredentialError unless `credential` may be used by `team` to reach `url`."""
    if not credential.enabled:
        raise CredentialError(
            f"the credential {credential.name!r} is disabled; a portal admin must enable it (check its reference "
            f"and hosts in /admin/) before it is used"
        )
    if team is None or not credential.teams.filter(pk=team.pk).exists():
        raise CredentialError(f"the credential {credential.name!r} is not granted to {team}; ask a portal admin")
    scheme, host = url_host(url)
    if scheme not in SECRET_SCHEMES:
        raise CredentialError(
            f"the credential {credential.name!r} is sent only over https:// or ssh://, not to this URL"
        )
    if not host_allowed(host, credential.allowed_hosts):
        allowed = ", ".join(credential.allowed_hosts) or "no host"
        raise CredentialError(
            f"the credential {credential.name!r} may be sent only to {allowed}, not to {host or 'this URL'}"
        )


def secret_for(credential: GrantedCredential, *, team, url: str) -> Secret:
    """Read the secret for `team` to reach `url`, after check_use(); CredentialError in plain words otherwise."""
    check_use(credential, team=team, url=url)
    kind, _, where = credential.reference.partition(":")
    if kind == "env":
        value = os.environ.get(where, "").strip()
        if not value:
            raise CredentialError(f"the credential {credential.name!r} is not set up on this worker")
    elif kind == "file":
        try:
            value = Path(where).read_text().strip()
        except (OSError, UnicodeDecodeError):
            raise CredentialError(f"the credential {credential.name!r} cannot be read on this worker") from None
        if not value:
            raise CredentialError(f"the credential {credential.name!r} is empty on this worker")
    else:
        raise CredentialError(f"the credential {credential.name!r} has no valid reference; a portal admin must fix it")
    return Secret(username=credential.username or DEFAULT_USERNAME, value=value, hosts=tuple(credential.allowed_hosts))


def credentials_for_team(team):
    """The enabled credentials a team's admins may pick from."""
    if team is None:
        return GrantedCredential.objects.none()
    return GrantedCredential.objects.filter(teams=team, enabled=True).order_by("name")
