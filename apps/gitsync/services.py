"""Repositories: register, edit, rotate the webhook secret, ask for a sync; checked, written and audited together."""

import logging
import re
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts import credentials, permissions
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.services import diff, record

from . import crypto, git
from .models import GitRepository, Trigger

logger = logging.getLogger(__name__)
REPOSITORY_FIELDS = ("name", "url", "branch", "credential", "default_risk_tier", "enabled")
# A queued sync that no worker started within this time is presumed lost (a dropped message): ask again.
QUEUE_STALE_AFTER = timedelta(minutes=10)
_GITHUB_URL = re.compile(
    r"^(?:https?://(?:[^@/]+@)?github\.com/|ssh://git@github\.com/|git@github\.com:)"
    r"(?P<name>[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$"
)


def github_full_name(url: str) -> str:
    """`owner/name` for a github.com URL (how webhooks name the repository), else ''."""
    match = _GITHUB_URL.match((url or "").strip())
    return match["name"].lower() if match else ""


def is_local(url: str) -> bool:
    """A file:// URL or a local path (what check_url() makes absolute)."""
    return url.startswith("/") or url.lower().startswith("file://")


def _local_path(url: str) -> Path:
    path = urlsplit(url).path if url.lower().startswith("file://") else url
    return Path(path).expanduser().resolve()


def local_source_error(url: str) -> str | None:
    """Why a local repository may not be read here, or None. Checked when saved and again by every sync."""
    if not is_local(url):
        return None
    if not settings.GITSYNC_ALLOW_LOCAL:
        return (
            "Local repositories (file:// or a path on the server) are turned off on this portal (GITSYNC_ALLOW_LOCAL)."
        )
    path, mirrors = _local_path(url), Path(settings.GITSYNC_MIRROR_DIR).expanduser().resolve()
    if path == mirrors or mirrors in path.parents:
        return "The portal's own mirror directory is not a repository source."
    return None


def url_secret_error(url: str) -> str | None:
    """Credentials in a URL (user:password@, https://token@, ?access_token=, #…) are refused and never kept."""
    scheme, _, rest = url.partition("://")
    if rest:
        parts = urlsplit(url)
        if parts.query or parts.fragment or "?" in url or "#" in url:
            return "Leave query strings and fragments out of the URL: a token there would be stored and logged."
        userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
        if userinfo and (scheme.lower() != "ssh" or ":" in userinfo):
            return "Leave user names, passwords and tokens out of the URL; pick a granted credential instead."
        return None
    if ":" in url[: max(url.find("@"), 0)]:
        return "Leave passwords out of the URL (user:password@host); pick a granted credential instead."
    if "?" in url or "#" in url:
        return "Leave query strings and fragments out of the URL: a token there would be stored and logged."
    return None


def _snapshot(repository: GitRepository) -> dict:
    return {
        "name": repository.name,
        "url": git.redact(repository.url),
        "branch": repository.branch,
        "team": repository.team.name,
        "credential": repository.credential.name if repository.credential_id else "",
        "default_risk_tier": repository.default_risk_tier,
        "enabled": repository.enabled,
    }


def _clean(repository: GitRepository, actor: Actor, previous_url: str | None = None) -> None:
    """Normalise and check a repository before it is saved; ValidationError naming each bad field.

    The local-source rules apply when the URL is set or changed: a team admin may still edit (or disable) a local
    repository a portal admin registered, and every sync checks the source again anyway.
    """
    errors = {}
    repository.name = (repository.name or "").strip()
    repository.url = (repository.url or "").strip()
    repository.branch = (repository.branch or "").strip()
    secret_error = url_secret_error(repository.url)
    if secret_error:
        repository.url = ""  # never stored, echoed or audited
        errors["url"] = [secret_error]
    else:
        try:
            repository.url = git.check_url(repository.url)  # a local path is stored absolute, as the worker needs it
        except git.GitError as exc:
            errors["url"] = [str(exc)]
    if "url" not in errors and is_local(repository.url) and repository.url != previous_url:
        problem = local_source_error(repository.url)
        if not permissions.is_portal_admin(actor.user):
            problem = "Only portal administrators may register a local repository."
        if problem:
            errors["url"] = [problem]
    if repository.credential_id and "url" not in errors:
        try:
            credentials.check_use(repository.credential, team=repository.team, url=repository.url)
        except credentials.CredentialError as exc:
            errors["credential"] = [f"{str(exc)[0].upper()}{str(exc)[1:]}."]
    try:
        git.check_branch(repository.branch)
    except git.GitError as exc:
        errors["branch"] = [str(exc)]
    try:
        repository.full_clean(exclude=list(errors))
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            if field == "__all__":
                field, messages = "url", ["This repository and branch are registered already."]
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    repository.github_full_name = github_full_name(repository.url)


@transaction.atomic
def repository_create(*, actor: Actor, team, **fields) -> tuple[GitRepository, str]:
    """Register a repository for `team` (its admins, or portal admins). Returns it and its new webhook secret.

    The secret is returned this once, to show to the person who set up the GitHub webhook.
    """
    permissions.require_actor(actor, permissions.MANAGE_TEAM, team, f"Only admins of {team} can add repositories.")
    unknown = set(fields) - set(REPOSITORY_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown repository fields: {', '.join(sorted(unknown))}.")
    repository = GitRepository(team=team, created_by=actor.user, **fields)
    _clean(repository, actor)
    secret = secrets.token_urlsafe(32)
    repository.webhook_secret_encrypted = crypto.encrypt(secret)
    repository.save()
    snapshot = _snapshot(repository)
    record(
        action=Action.REPOSITORY_CREATED,
        actor=actor,
        target=repository,
        changes={key: [None, value] for key, value in snapshot.items() if value not in (None, "")},
    )
    return repository, secret


@transaction.atomic
def repository_update(*, actor: Actor, repository: GitRepository, **fields) -> GitRepository:
    """Edit a repository; one `repository.updated` event with the diff, or nothing if nothing changed."""
    repository = GitRepository.objects.select_for_update().select_related("team").get(pk=repository.pk)
    permissions.require_actor(
        actor, permissions.MANAGE_TEAM, repository, f"Only admins of {repository.team} can edit this repository."
    )
    unknown = set(fields) - set(REPOSITORY_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown repository fields: {', '.join(sorted(unknown))}.")
    before, previous_url = _snapshot(repository), repository.url
    for field, value in fields.items():
        setattr(repository, field, value)
    _clean(repository, actor, previous_url)
    changes = diff(before, _snapshot(repository))
    if not changes:
        return repository
    repository.save()
    record(action=Action.REPOSITORY_UPDATED, actor=actor, target=repository, changes=changes)
    return repository


@transaction.atomic
def repository_rotate_webhook_secret(*, actor: Actor, repository: GitRepository) -> str:
    """Replace the webhook secret; the new one is returned once and GitHub must be given it."""
    repository = GitRepository.objects.select_for_update().select_related("team").get(pk=repository.pk)
    permissions.require_actor(
        actor, permissions.MANAGE_TEAM, repository, f"Only admins of {repository.team} can rotate its secret."
    )
    secret = secrets.token_urlsafe(32)
    repository.webhook_secret_encrypted = crypto.encrypt(secret)
    repository.save(update_fields=["webhook_secret_encrypted", "updated_at"])
    record(action=Action.REPOSITORY_SECRET_ROTATED, actor=actor, target=repository, changes={})
    return secret


def webhook_secret(repository: GitRepository) -> str | None:
    """The plain webhook secret, for checking a delivery's signature; None when none is set or it cannot be read."""
    return crypto.decrypt(repository.webhook_secret_encrypted) if repository.webhook_secret_encrypted else None


def repositories_for_github(full_name: str):
    """Repositories (enabled or not) a GitHub webhook names by `owner/name`; one repository may be synced per branch."""
    full_name = (full_name or "").strip().lower()
    if not full_name:
        return GitRepository.objects.none()
    return GitRepository.objects.filter(github_full_name=full_name).select_related("team")


def claim_queue_slot(repository_id: int) -> bool:
    """Mark a sync as queued; False when one is queued already (the request is coalesced into it)."""
    now = timezone.now()
    free = Q(sync_queued_at__isnull=True) | Q(sync_queued_at__lt=now - QUEUE_STALE_AFTER)
    return GitRepository.objects.filter(free, pk=repository_id).update(sync_queued_at=now) == 1


def repository_request_sync(*, actor: Actor, repository: GitRepository, trigger: str = Trigger.MANUAL) -> bool:
    """Queue a sync of `repository`; True when queued, False when coalesced into one already waiting.

    "Sync now" by a person is audited (who asked, and whether it was coalesced). Webhook and schedule
    requests are not: the webhook delivery log and the sync runs record them.
    """
    if actor.user is not None:
        permissions.require_actor(
            actor, permissions.REGISTER, repository, f"You may not start a sync of {repository.name}."
        )
    if not repository.enabled:
        raise ValidationError(f"{repository.name} is disabled; enable it before syncing.")
    with transaction.atomic():
        queued = claim_queue_slot(repository.pk)
        if actor.user is not None:
            record(
                action=Action.GIT_SYNC_REQUESTED,
                actor=actor,
                target=repository,
                changes={"trigger": [None, trigger], "coalesced": [None, not queued]},
            )
        if queued:
            transaction.on_commit(lambda: _send(repository.pk, trigger, actor.label))
    return queued


def _send(repository_id: int, trigger: str, requested_by: str) -> None:
    """Hand the sync to the broker; if it is down, free the queue slot so the next request can try again."""
    from .tasks import sync_repository_task

    try:
        sync_repository_task.delay(repository_id, trigger, requested_by)
    except Exception:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            # No broker: the sync ran here, in the request that asked for it (Sync now, a webhook). It records its own
            # failures; anything else is logged, and the person or GitHub is not answered with a server error.
            logger.exception("the in-process sync of repository %s failed", repository_id)
        else:
            logger.exception("could not queue the sync of repository %s", repository_id)
        GitRepository.objects.filter(pk=repository_id).update(sync_queued_at=None)
