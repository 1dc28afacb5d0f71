"""Service accounts and their API tokens: made, shown once, revoked; every step audited, no secret ever stored.

A token is `gpt_<prefix>_<secret>`: the prefix (public) finds the row, and SHA-256 of the secret is compared in
constant time. The secret is 32 random bytes, so a fast hash is enough: there is nothing to brute-force.
"""

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.services import record

from . import permissions
from .models import Membership, ServiceToken, TokenScope, User

MAX_DAYS = 366
_TOKEN = re.compile(r"^gpt_([a-z0-9]{8})_([A-Za-z0-9_-]{20,100})$")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def service_account_create(*, actor: Actor, team, name: str, description: str = "") -> User:
    """A service account for `team` (its admins or portal admins): a member that can only act through tokens."""
    permissions.require_actor(
        actor, permissions.ADD_SERVICE_ACCOUNT, team, f"Only admins of {team} can add service accounts."
    )
    slug = slugify(name or "")[:100]
    if not slug:
        raise ValidationError({"name": ["Give the service account a name, e.g. churn-ci."]})
    username = f"svc-{slug}"[:150]
    if User.objects.filter(username=username).exists():
        raise ValidationError({"name": [f"A user or service account named {username} exists."]})
    account = User(username=username, first_name=name.strip()[:150], last_name="(service account)",
                   is_service_account=True)  # fmt: skip
    account.set_unusable_password()
    account.full_clean(exclude=["password"])
    account.save()
    for role in permissions.SERVICE_ACCOUNT_ROLES:
        Membership.objects.create(team=team, user=account, role=role, granted_by=actor.user)
    record(
        action=Action.SERVICE_ACCOUNT_CREATED,
        actor=actor,
        target=account,
        changes={"username": [None, username], "team": [None, team.name], "description": [None, description[:500]]},
    )
    return account


def _account_team(account: User):
    # The team it was made for: its first membership. Not `.first()` on the default ordering (team name): a role
    # granted to it in another team would hand that team's admins its tokens.
    membership = account.memberships.select_related("team").order_by("pk").first()
    return membership.team if membership else None


@transaction.atomic
def token_create(
    *, actor: Actor, account: User, name: str, scopes, expires_in_days: int = 90
) -> tuple[ServiceToken, str]:
    """Issue a token for a service account; returns the row and the full token, which is shown this once."""
    if not account.is_service_account:
        raise ValidationError("Tokens are issued to service accounts, not to people.")
    team = _account_team(account)
    permissions.require(actor.user, permissions.MANAGE_TEAM, team, f"Only admins of {team} can issue its tokens.")
    errors = {}
    scopes = sorted({scopes} if isinstance(scopes, str) else set(scopes or ()))
    if not scopes:
        errors["scopes"] = ["Choose at least one scope."]
    elif set(scopes) - set(TokenScope.values):
        errors["scopes"] = [f"Unknown scopes: {', '.join(sorted(set(scopes) - set(TokenScope.values)))}."]
    name = (name or "").strip()
    if not name or len(name) > 100:
        errors["name"] = ["Name the token (at most 100 characters), e.g. the pipeline that uses it."]
    if (
        isinstance(expires_in_days, bool)
        or not isinstance(expires_in_days, int)
        or not 1 <= expires_in_days <= MAX_DAYS
    ):
        errors["expires_in_days"] = [f"A token expires after 1 to {MAX_DAYS} days."]
    if errors:
        raise ValidationError(errors)
    prefix, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
    while ServiceToken.objects.filter(prefix=prefix).exists():  # 4 billion prefixes: a clash is rare, not impossible
        prefix = secrets.token_hex(4)
    token = ServiceToken.objects.create(
        account=account, name=name, prefix=prefix, secret_hash=_hash(secret), scopes=scopes,
        expires_at=timezone.now() + timedelta(days=expires_in_days), created_by=actor.user,
    )  # fmt: skip
    record(
        action=Action.TOKEN_CREATED,
        actor=actor,
        target=token,
        changes={
            "account": [None, account.username], "name": [None, name], "prefix": [None, prefix],
            "scopes": [None, scopes], "expires_at": [None, token.expires_at],
        },
    )  # fmt: skip
    return token, f"gpt_{prefix}_{secret}"


@transaction.atomic
def token_revoke(*, actor: Actor, token: ServiceToken) -> ServiceToken:
    """Revoke a token at once; revoking twice changes nothing."""
    token = ServiceToken.objects.select_for_update().select_related("account").get(pk=token.pk)
    team = _account_team(token.account)
    permissions.require(actor.user, permissions.MANAGE_TEAM, team, f"Only admins of {team} can revoke its tokens.")
    if token.revoked_at is not None:
        return token
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    record(
        action=Action.TOKEN_REVOKED,
        actor=actor,
        target=token,
        changes={"account": [None, token.account.username], "prefix": [None, token.prefix]},
    )
    return token


def token_authenticate(raw: str) -> ServiceToken | None:
    """The usable token `raw` names (not expired, not revoked, its account active), or None."""
    match = _TOKEN.fullmatch(raw or "")
    if not match:
        return None
    token = ServiceToken.objects.select_related("account").filter(prefix=match[1]).first()
    if token is None or not hmac.compare_digest(token.secret_hash, _hash(match[2])):
        return None
    now = timezone.now()
    if not token.is_usable(now) or not token.account.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ServiceToken.objects.filter(pk=token.pk).update(last_used_at=now)  # at most one write a minute
    return token
