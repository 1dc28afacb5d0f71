"""Every change to users, teams, roles and object permissions: checked, written and audited together."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.text import slugify
from guardian.shortcuts import assign_perm, remove_perm

from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.services import Target, record

from . import credentials, permissions
from .lockout import ADDRESS, Lock, count_failure, failures_of, forget, lock_of
from .models import GrantedCredential, Membership, Role, Team, User


@transaction.atomic
def team_create(*, actor: Actor, name: str, slug: str = "", description: str = "") -> Team:
    """Create a team (administrators only)."""
    permissions.require_portal_admin(actor.user, "Only administrators can create teams.")
    team = Team(name=name.strip(), slug=slug or slugify(name), description=description)
    team.full_clean()
    team.save()
    record(action=Action.TEAM_CREATED, actor=actor, target=team, changes={"name": [None, team.name]})
    return team


@transaction.atomic
def membership_grant(*, actor: Actor, team: Team, user: User, role: str) -> Membership:
    """Give `user` a role in `team`; granting a role they already hold changes nothing."""
    permissions.require(actor.user, permissions.MANAGE_TEAM, team, "Only the team's admins can grant roles.")
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; choose one of {', '.join(Role.values)}."})
    if not user.is_active:
        raise ValidationError({"user": f"{user.username} is deactivated and cannot be given a role."})
    if user.is_service_account and Membership.objects.filter(user=user).exclude(team=team).exists():
        raise ValidationError({"user": f"{user.username} is a service account of another team; it acts for one team."})
    membership, created = Membership.objects.get_or_create(
        team=team, user=user, role=role, defaults={"granted_by": actor.user}
    )
    if created:
        record(
            action=Action.ROLE_GRANTED,
            actor=actor,
            target=membership,
            changes={"user": [None, user.username], "role": [None, role], "team": [None, team.name]},
        )
    return membership


@transaction.atomic
def membership_revoke(*, actor: Actor, membership: Membership) -> None:
    """Take a role away. A team always keeps at least one admin."""
    membership = Membership.objects.select_for_update().select_related("team", "user").get(pk=membership.pk)
    permissions.require(
        actor.user, permissions.MANAGE_TEAM, membership.team, "Only the team's admins can revoke roles."
    )
    if permissions.removes_last_manager(membership):
        raise ValidationError(f"{membership.user.username} is the last admin of {membership.team.name}.")
    record(
        action=Action.ROLE_REVOKED,
        actor=actor,
        target=membership,
        changes={"user": [membership.user.username, None], "role": [membership.role, None]},
    )
    membership.delete()


@transaction.atomic
def object_permission_grant(*, actor: Actor, user: User, action: str, obj) -> None:
    """Grant one object permission (view or change) on one object, through django-guardian."""
    codename = permissions.object_permission_codename(action, type(obj))
    if codename is None:
        raise ValidationError({"action": f"{action!r} cannot be granted per object; grant a team role instead."})
    permissions.require(
        actor.user, permissions.MANAGE_TEAM, permissions.team_of(obj), "Only the owning team's admins can grant."
    )
    if user.has_perm(f"{obj._meta.app_label}.{codename}", obj):
        return
    assign_perm(codename, user, obj)
    record(
        action=Action.PERMISSION_GRANTED,
        actor=actor,
        target=obj,
        changes={"user": [None, user.username], "permission": [None, codename]},
    )


@transaction.atomic
def object_permission_revoke(*, actor: Actor, user: User, action: str, obj) -> None:
    codename = permissions.object_permission_codename(action, type(obj))
    if codename is None:
        raise ValidationError({"action": f"{action!r} is not an object permission."})
    permissions.require(
        actor.user, permissions.MANAGE_TEAM, permissions.team_of(obj), "Only the owning team's admins can revoke."
    )
    deleted = remove_perm(codename, user, obj)  # guardian returns QuerySet.delete()'s (count, by_model)
    if not deleted or not deleted[0]:
        return  # nothing was held: nothing changed, nothing to record
    record(
        action=Action.PERMISSION_REVOKED,
        actor=actor,
        target=obj,
        changes={"user": [user.username, None], "permission": [codename, None]},
    )


_AUDITED_USER_FIELDS = (
    "username", "email", "first_name", "last_name", "is_active", "is_staff", "is_superuser", "is_portal_auditor",
)  # fmt: skip


def _user_snapshot(user: User) -> dict:
    return {field: getattr(user, field) for field in _AUDITED_USER_FIELDS}


@transaction.atomic
def user_create(
    *,
    actor: Actor,
    username: str,
    password: str,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    is_superuser: bool = False,
    is_portal_auditor: bool = False,
) -> User:
    """Create a sign-in account (administrators, or the system during setup)."""
    if actor.user is not None:
        permissions.require_portal_admin(actor.user, "Only administrators can create users.")
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_superuser=is_superuser,
        is_staff=is_superuser,
        is_portal_auditor=is_portal_auditor,
    )
    user.set_password(password)
    user.full_clean()
    user.save()
    record(
        action=Action.USER_CREATED,
        actor=actor,
        target=user,
        changes={key: [None, value] for key, value in _user_snapshot(user).items()},
    )
    return user


@transaction.atomic
def user_save_from_admin(*, actor: Actor, user: User, password_changed: bool = False) -> User:
    """Save a user edited in the Django admin, recording what changed (never the password itself)."""
    permissions.require_portal_admin(actor.user, "Only administrators can edit users.")
    before = {} if user.pk is None else _user_snapshot(User.objects.get(pk=user.pk))
    created = user.pk is None
    user.save()
    changes = {key: [before.get(key), value] for key, value in _user_snapshot(user).items() if before.get(key) != value}
    if password_changed:
        changes["password"] = ["(set)" if not created else None, "(changed)"]
    if created or changes:
        record(
            action=Action.USER_CREATED if created else Action.USER_UPDATED, actor=actor, target=user, changes=changes
        )
    return user


def login_lock(*, username: str, client_ip: str | None) -> Lock | None:
    """The lockout that refuses a sign-in as `username` from `client_ip` before its password is checked, if any."""
    return lock_of(username, client_ip)


@transaction.atomic
def login_succeeded(*, user: User) -> None:
    """A sign-in: recorded, and the username's failure count starts again."""
    record(action=Action.USER_LOGGED_IN, actor=Actor.of(user), target=user)
    forget(user.get_username())


@transaction.atomic
def login_failed(*, username: str, client_ip: str | None = None) -> Lock | None:
    """A failed sign-in is recorded against the name that was tried; the system is the actor.

    It counts towards the lockout of the username and of the client address; a lockout it sets is recorded once,
    as `user.login_locked`. Returns the lock now refusing this username from this address, if any.
    """
    target = Target("accounts.user", "", username[:150])
    record(action=Action.USER_LOGIN_FAILED, actor=Actor.system("auth"), target=target)
    for lock in count_failure(username, client_ip):
        record(
            action=Action.USER_LOGIN_LOCKED,
            actor=Actor.system("auth"),
            target=Target("accounts.sign_in_address", "", client_ip) if lock.scope == ADDRESS else target,
            changes={"locked": [None, lock.scope], "failures": [None, lock.failures], "until": [None, lock.until_iso]},
        )
    return lock_of(username, client_ip)


@transaction.atomic
def user_unlock(*, actor: Actor, user: User) -> bool:
    """Lift the sign-in lockout of `user` and forget their failed attempts (portal admins only).

    Returns False, recording nothing, when there was nothing to clear. A lockout of a client address is not
    lifted here: it ends by itself after LOGIN_LOCKOUT_SECONDS.
    """
    permissions.require_portal_admin(actor.user, "Only portal administrators can unlock sign-in.")
    failures, lock = failures_of(user.get_username())
    if not failures and lock is None:
        return False
    record(
        action=Action.USER_UNLOCKED,
        actor=actor,
        target=user,
        changes={"failed_attempts": [failures, 0], "locked": [lock is not None, False]},
    )
    forget(user.get_username())
    return True


@transaction.atomic
def logged_out(*, user: User) -> None:
    record(action=Action.USER_LOGGED_OUT, actor=Actor.of(user), target=user)


CREDENTIAL_FIELDS = ("name", "reference", "username", "allowed_hosts", "enabled", "description")


def _credential_snapshot(credential, team_names) -> dict:
    snapshot = {field: getattr(credential, field) for field in CREDENTIAL_FIELDS}
    snapshot["teams"] = sorted(team_names)
    return snapshot


@transaction.atomic
def credential_save(*, actor: Actor, credential, teams, **fields):
    """Create or edit a granted credential (portal admins only): where the secret lives, who may use it, and
    which hosts may receive it. One `credential.created`/`credential.updated` event with the diff."""
    permissions.require_portal_admin(actor.user, "Only portal administrators define credentials.")
    unknown = set(fields) - set(CREDENTIAL_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown credential fields: {', '.join(sorted(unknown))}.")
    created = credential is None or credential.pk is None
    if created:
        credential = credential or GrantedCredential()
        before = {}
    else:
        credential = GrantedCredential.objects.select_for_update().get(pk=credential.pk)
        before = _credential_snapshot(credential, credential.teams.values_list("name", flat=True))
    for field, value in fields.items():
        setattr(credential, field, value)
    errors = {}
    credential.name = (credential.name or "").strip()
    credential.username = (credential.username or "").strip()
    for field, check in (("reference", credentials.check_reference), ("allowed_hosts", credentials.check_hosts)):
        try:
            setattr(credential, field, check(getattr(credential, field)))
        except ValidationError as exc:
            errors.update(exc.message_dict)
    try:
        credential.full_clean(exclude=list(errors))
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    teams = list(teams)
    after = _credential_snapshot(credential, [team.name for team in teams])
    changes = {key: [before.get(key), value] for key, value in after.items() if before.get(key) != value}
    if not changes:
        return credential
    credential.save()
    credential.teams.set(teams)
    action = Action.CREDENTIAL_CREATED if created else Action.CREDENTIAL_UPDATED
    record(action=action, actor=actor, target=credential, changes=changes)
    return credential
