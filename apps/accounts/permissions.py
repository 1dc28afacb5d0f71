"""The one place that answers "may this user do this to this object?".

Pages, API views, selectors and services all ask here. Deny by default: a user
may act only through a team role that allows the action, or a django-guardian
object permission granted on that very object; superusers may do everything.
Role names are compared here and nowhere else (tests/accounts/test_permission_home.py).
"""

import functools

from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField, Expression, F, Q

from apps.core import request_context
from apps.core.querysets import EVERYTHING, NOTHING, SCOPED, in_list_sql, in_subquery_sql

from .models import Membership, Role, Team

VIEW = "view"
REGISTER = "register"  # register models and versions in a team
CHANGE = "change"  # edit a model's metadata and versions
CHANGE_LIFECYCLE = "change_lifecycle"
APPROVE = "approve"
REQUEST_DEPLOY = "request_deploy"  # ask for a model version to be deployed
VIEW_AUDIT = "view_audit"  # read the team's audit trail at /audit/
EXPORT_AUDIT = "export_audit"
MANAGE_TEAM = "manage_team"  # grant and revoke roles and object permissions
REPORT_DEPLOYMENT = "report_deployment"  # tell the portal an approved version was deployed
ADD_SERVICE_ACCOUNT = "add_service_account"  # create a team's service account (team admins; GitHub's gate)

ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.VIEWER: frozenset({VIEW}),
    Role.CONTRIBUTOR: frozenset({VIEW, REGISTER, CHANGE, CHANGE_LIFECYCLE, REQUEST_DEPLOY, REPORT_DEPLOYMENT}),
    Role.APPROVER: frozenset({VIEW, APPROVE}),
    Role.AUDITOR: frozenset({VIEW, VIEW_AUDIT, EXPORT_AUDIT}),
    Role.ADMIN: frozenset(
        {
            VIEW,
            REGISTER,
            CHANGE,
            CHANGE_LIFECYCLE,
            REQUEST_DEPLOY,
            REPORT_DEPLOYMENT,
            APPROVE,
            VIEW_AUDIT,
            EXPORT_AUDIT,
            MANAGE_TEAM,
            ADD_SERVICE_ACCOUNT,
        }
    ),
}

# Object permissions that guardian may grant on a single object, by action.
OBJECT_PERMISSIONS = {VIEW: "view", CHANGE: "change"}


# What an API token's scope lets its service account do; the account's roles in its team bound it as well.
SCOPE_ACTIONS: dict[str, frozenset[str]] = {
    "read": frozenset({VIEW, VIEW_AUDIT}),
    "register": frozenset({VIEW, REGISTER, CHANGE}),
    "request-deploy": frozenset({VIEW, REQUEST_DEPLOY}),
    "report-deployment": frozenset({VIEW, REPORT_DEPLOYMENT}),
}


# The roles a new service account holds in its team: the most a token may do; its scopes narrow it.
SERVICE_ACCOUNT_ROLES = (Role.CONTRIBUTOR, Role.AUDITOR)


def token_allows(user, action: str) -> bool:
    """False when `user` acts through an API token (set by the API's authentication) whose scopes omit `action`."""
    token = getattr(user, "api_token", None)
    return token is None or any(action in SCOPE_ACTIONS.get(scope, ()) for scope in token.scopes)


def roles_allowing(action: str) -> list[str]:
    return [role for role, actions in ROLE_ACTIONS.items() if action in actions]


def role_allows(roles, action: str) -> bool:
    """Does any of `roles` (role names, e.g. a user's roles in one team) allow `action`? Pure: no query."""
    return any(action in ROLE_ACTIONS.get(role, ()) for role in roles)


def holders(action: str, *, team_id, active_only: bool = True):
    """Memberships whose role allows `action` in the team (`team_id` may be an OuterRef): who could do it now."""
    rows = Membership.objects.filter(team_id=team_id, role__in=roles_allowing(action))
    return rows.filter(user__is_active=True) if active_only else rows


def _active(user, action: str | None = None) -> bool:
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return action is None or token_allows(user, action)


def team_ids_with(user, action: str):
    """Ids of the teams where `user` holds a role allowing `action` (a subquery)."""
    if not _active(user, action):
        return Team.objects.none().values("pk")
    if user.is_superuser:
        return Team.objects.values("pk")
    return Membership.objects.filter(user=user, role__in=roles_allowing(action)).values("team_id")


def team_ids_now(user, action: str):
    """team_ids_with() as a sorted list of ids when this web request holds the user's roles (the memo): a few literal
    ids are cheaper to build, compile and plan than a subquery, in every restricted query of a page. A page reads the
    roles anyway (its navigation shows them), so it reads them here if it has not yet; an API call only uses them if
    it has them already, rather than spend a query on them. Elsewhere (tasks, commands, a service's transaction, a
    superuser) the subquery, which reads the roles afresh."""
    if not _active(user, action) or user.is_superuser:
        return team_ids_with(user, action)
    held = _team_ids_held(user, action)
    return team_ids_with(user, action) if held is None else held


def _team_ids_held(user, action: str) -> list[int] | None:
    """team_ids_now()'s list of ids, or None where it would give the subquery (which Scope writes itself: building
    the queryset only to drop it was a fifth of an API call's restricted read). `user` is active, not a superuser."""
    memo = request_context.memo()
    if memo is None or (("memberships", user.pk) not in memo and request_context.get().source != "web"):
        return None
    return sorted(team_id for team_id, held in roles_by_team(user).items() if role_allows(held, action))


def object_permission_codename(action: str, model_class) -> str | None:
    verb = OBJECT_PERMISSIONS.get(action)
    return f"{verb}_{model_class._meta.model_name}" if verb else None


def object_scope_q(user, action: str, *, model_class, team_path: str = "team", object_path: str = "") -> Q:
    """A filter for rows of `model_class` (or rows reached through `object_path`) the user may `action`.

    team_path: lookup from the queryset's model to the owning team.
    object_path: lookup from the queryset's model to the guarded object ("" = the row itself).
    """
    if not _active(user, action):
        return Q(pk__in=[])
    if user.is_superuser:
        return Q()
    codename = object_permission_codename(action, model_class)
    if codename and len(_direct_permission_tables(model_class)) < 2:  # generic object permissions: guardian's query
        q = Q(**{f"{team_path}__in": team_ids_now(user, action)})
        for granted in _granted_ids(user, codename, model_class):
            q |= Q(**{f"{object_path}pk__in" if object_path else "pk__in": granted})
        return q
    permission_id = _permission_id(model_class._meta.app_label, codename) if codename else None
    teams = _team_ids_held(user, action)
    scope = Scope(
        team_path, f"{object_path}pk", model_class=model_class, user_id=user.pk, permission_id=permission_id,
        team_ids=tuple(teams) if teams is not None else None, roles=tuple(roles_allowing(action)),
    )  # fmt: skip
    return Q(scope)


class Scope(Expression):
    """object_scope_q()'s condition as one piece of SQL written here, not built from querysets: the team column in
    the user's teams (literal ids, or the memberships subquery), or the object's id among those granted to the user
    directly or through a group. The same SQL the lookups made (tests/accounts/test_scope_sql.py holds it to their
    answers), without building and compiling three or four subqueries in every restricted query: that cost 1 to 2.5 ms
    of CPU per restrict(), several times a page. Only the two column references are resolved by the ORM (they may
    need joins)."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, team_path, object_path, *, model_class, user_id, permission_id, team_ids, roles):
        super().__init__(output_field=BooleanField())
        self.team, self.object = F(team_path), F(object_path)
        self.model_class, self.user_id, self.permission_id = model_class, user_id, permission_id
        self.team_ids, self.roles = team_ids, roles

    def get_source_expressions(self):
        return [self.team, self.object]

    def set_source_expressions(self, exprs):
        self.team, self.object = exprs

    def as_sql(self, compiler, connection):
        team, team_params = compiler.compile(self.team)
        obj, obj_params = compiler.compile(self.object)
        quote = connection.ops.quote_name
        parts, params = [], []
        if self.team_ids is None:
            roles, role_params = in_list_sql(self.roles)
            teams = _subquery(Membership._meta, "team", quote, user="= %s", role=roles)
            parts.append(in_subquery_sql(team, teams, connection.vendor))
            params += [*team_params, self.user_id, *role_params]
        elif self.team_ids:
            teams, team_id_params = in_list_sql(self.team_ids)
            parts.append(f"{team} {teams}")
            params += [*team_params, *team_id_params]
        if self.permission_id is not None:
            parts += _granted_sql(self.model_class, obj, connection)
            params += [*obj_params, self.permission_id, self.user_id, *obj_params, self.permission_id, self.user_id]
        if not parts:
            return "1 = 0", []
        return f"({' OR '.join(parts)})", params


def _subquery(meta, selected: str, quote, **conditions: str) -> str:
    """SELECT a field's column FROM meta's table WHERE each field's column meets its condition ("= %s"). Columns are
    named with their table, so none resolves to the outer query's."""
    table = quote(meta.db_table)

    def column(field: str) -> str:
        return f"{table}.{quote(meta.get_field(field).column)}"

    where = " AND ".join(f"{column(field)} {condition}" for field, condition in conditions.items())
    return f"SELECT {column(selected)} FROM {table} WHERE {where}"  # noqa: S608 - names from model metadata; values are parameters


def _granted_sql(model_class, obj: str, connection) -> list[str]:
    """`obj` IN the ids granted to a user as a permission: directly, and through the user's groups (each part takes
    the permission id and the user id). Read straight from the model's direct object-permission tables (an index
    lookup on the user), not through guardian's get_objects_for_user(), whose subquery scans the whole model table."""
    from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

    direct, quote = _direct_permission_tables(model_class), connection.ops.quote_name
    by_user, by_group = direct[UserObjectPermissionBase]._meta, direct[GroupObjectPermissionBase]._meta
    groups = _subquery(by_user.get_field("user").related_model.groups.through._meta, "group", quote, user="= %s")
    return [
        in_subquery_sql(obj, _subquery(by_user, "content_object", quote, permission="= %s", user="= %s"),
                        connection.vendor),
        in_subquery_sql(obj, _subquery(by_group, "content_object", quote, permission="= %s", group=f"IN ({groups})"),
                        connection.vendor),
    ]  # fmt: skip


def _granted_ids(user, codename: str, model_class):
    """Subqueries of the ids of `model_class` rows granted to `user` (directly or through a group) as `codename`,
    for a model without its own object-permission tables (guardian's generic ones): get_objects_for_user()."""
    from guardian.shortcuts import get_objects_for_user

    label = f"{model_class._meta.app_label}.{codename}"
    klass = model_class.objects.all()
    return [get_objects_for_user(user, label, klass=klass, with_superuser=False, accept_global_perms=False)
            .values("pk")]  # fmt: skip


_PERMISSION_IDS: dict[tuple[str, str], int] = {}


def _permission_id(app_label: str, codename: str) -> int | None:
    """The id of a permission, read once per process: permissions are rows made by migrate, fixed while it serves.
    migrate and flush make them afresh (with new ids after a flush), so post_migrate forgets them (apps.py)."""
    from django.contrib.auth.models import Permission

    key = (app_label, codename)
    if key not in _PERMISSION_IDS:
        found = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        permission_id = found.values_list("pk", flat=True).first()
        if permission_id is None:
            return None  # not kept: migrate may make it later
        _PERMISSION_IDS[key] = permission_id
    return _PERMISSION_IDS[key]


def forget_permission_ids(**_kwargs) -> None:
    _PERMISSION_IDS.clear()


def _memberships(user) -> list[tuple[int, str, str]] | None:
    """The user's (team id, role, team name) rows by team name, read once per web request: the navigation, the page
    and each of its permission checks ask the same question. None outside a web request (tasks and commands) and
    inside a service's transaction: those read afresh each time. A role granted or revoked during the request drops
    the kept rows (apps.py)."""
    memo = request_context.memo()
    if memo is None:
        return None
    key = ("memberships", user.pk)
    if key not in memo:
        rows = Membership.objects.filter(user=user).order_by("team__name", "role")
        memo[key] = list(rows.values_list("team_id", "role", "team__name"))
    return memo[key]


def roles_by_team(user) -> dict[int, set[str]]:
    """team id → the roles `user` holds there (read once per web request, like has_role's answers)."""
    rows = _memberships(user)
    if rows is None:
        rows = Membership.objects.filter(user=user).values_list("team_id", "role", "team__name")
    roles: dict[int, set[str]] = {}
    for team_id, role, _name in rows:
        roles.setdefault(team_id, set()).add(role)
    return roles


def _holds_role_allowing(user, action: str, team_id=None) -> bool:
    """Does `user` hold a role allowing `action` (in team `team_id`, or in any team)? `user` is active."""
    rows = _memberships(user)
    if rows is not None:
        return any(role_allows([role], action) for row_team, role, _name in rows if team_id in (None, row_team))
    held = Membership.objects.filter(user=user, role__in=roles_allowing(action))
    return (held.filter(team_id=team_id) if team_id is not None else held).exists()


def can_somewhere(user, action: str) -> bool:
    """May `user` `action` in at least one team (a superuser: if there is a team)? Team.objects.restrict(user,
    action).exists(), answered from the roles a web request has read already: a page asks it without a query."""
    if not _active(user, action):
        return False
    if user.is_superuser:
        return Team.objects.exists()
    return _holds_role_allowing(user, action)


@functools.cache
def _direct_permission_tables(model_class) -> dict:
    """guardian's base class → `model_class`'s direct object-permission table; fixed once the apps are loaded, so
    looked up once per process rather than on every restrict()."""
    from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

    return {
        base: rel.related_model
        for rel in model_class._meta.related_objects
        for base in (UserObjectPermissionBase, GroupObjectPermissionBase)
        if issubclass(rel.related_model, base) and rel.field.name == "content_object"
    }


def team_of(obj) -> Team | None:
    if isinstance(obj, Team):
        return obj
    team_id = getattr(obj, "permission_team_id", None)
    return Team(pk=team_id) if team_id else None


def has_role(user, team, action: str) -> bool:
    if not _active(user, action) or team is None:
        return False
    if user.is_superuser:
        return True
    return _holds_role_allowing(user, action, team.pk)


def can(user, action: str, obj) -> bool:
    """May `user` do `action` to `obj` (a Team or a team-owned object)?"""
    if not _active(user, action):
        return False
    if user.is_superuser:
        return True
    if has_role(user, team_of(obj), action):
        return True
    return _object_permission(user, action, obj)


def _object_permission(user, action: str, obj) -> bool:
    """Does django-guardian grant `user` `action` on `obj` itself (or on the object that guards it)?"""
    guarded = getattr(obj, "permission_object", obj)
    codename = object_permission_codename(action, type(guarded))
    if codename and not isinstance(guarded, Team):
        return user.has_perm(f"{guarded._meta.app_label}.{codename}", guarded)
    return False


# System principals act without a person; each holds exactly the actions listed here, and the service calling
# on their behalf scopes them further (git-sync may only touch models of the repository's own team).
SYSTEM_GRANTS: dict[str, frozenset[str]] = {
    "git-sync": frozenset({VIEW, REGISTER, CHANGE}),
    # A GitHub deployment protection rule requests deployments as the team's github-deployments account.
    "github-deployments": frozenset({ADD_SERVICE_ACCOUNT}),
}


def actor_can(actor, action: str, obj) -> bool:
    """`can()` for an audit Actor: a person through their roles, a system principal through SYSTEM_GRANTS."""
    if actor.user is not None:
        return can(actor.user, action, obj)
    return actor.kind == "system" and action in SYSTEM_GRANTS.get(actor.label, frozenset())


def actor_allowed(actor, actions, obj) -> set[str]:
    """The ones of `actions` that actor_can() allows on `obj`, with a person's roles in its team read in one query
    rather than one per action: a service that asks two things about the object it locked pays for one."""
    user = actor.user
    if user is None or not user.is_authenticated or user.is_superuser:
        return {action for action in actions if actor_can(actor, action, obj)}
    wanted = {action for action in actions if _active(user, action)}
    team = team_of(obj)
    if not wanted or team is None:
        return {action for action in wanted if _object_permission(user, action, obj)}
    rows = _memberships(user)
    if rows is None:
        held = Membership.objects.filter(user=user, team_id=team.pk).order_by()  # by team name would join the teams
        roles = set(held.values_list("role", flat=True))
    else:
        roles = {role for team_id, role, _name in rows if team_id == team.pk}
    return {action for action in wanted if role_allows(roles, action) or _object_permission(user, action, obj)}


def require_actor(actor, action: str, obj, message: str) -> None:
    """The services' gate when the actor may be a system principal rather than a person."""
    if not actor_can(actor, action, obj):
        raise PermissionDenied(message)


def read_scope(user, action: str) -> str:
    """core.querysets' gate: how much of a governed table `user` reads. Anonymous and deactivated users read
    NOTHING, superusers EVERYTHING; for everyone else the model's restrict_for() decides (SCOPED)."""
    if not _active(user):
        return NOTHING
    return EVERYTHING if user.is_superuser else SCOPED


def is_portal_admin(user) -> bool:
    """Portal-wide configuration (teams, users, environments, approval policies) is for superusers only."""
    return _active(user) and user.is_superuser


def require(user, action: str, obj, message: str) -> None:
    """Raise PermissionDenied(message) unless `user` may `action` on `obj`: the services' one gate."""
    if not can(user, action, obj):
        raise PermissionDenied(message)


def require_portal_admin(user, message: str) -> None:
    if not is_portal_admin(user):
        raise PermissionDenied(message)


def may_read_security_events(user) -> bool:
    """Portal-wide security events (audit.actions.SECURITY_ACTIONS: sign-ins, failed signatures, rejected
    webhooks) are for superusers and portal auditors only: not for team admins or team auditors, and never on a
    model's, version's or request's history shown to anyone else. Service accounts are never portal auditors."""
    if not _active(user, VIEW_AUDIT):
        return False
    return user.is_superuser or (user.is_portal_auditor and not user.is_service_account)


def audit_readable_teams(user):
    """audit's READABLE_TEAMS: a subquery of the teams whose trail `user` reads, or None when there are none (known
    from the request's roles where it holds them, else one query). A subquery, not the literal ids team_ids_now()
    gives: on a million events PostgreSQL intersects a bitmap of every event of the listed teams with a filter's
    (a model's, a person's), which made a filtered page's capped count two to three times slower (13 ms against 34
    for a model's 6,000 events)."""
    if not _active(user, VIEW_AUDIT) or not (user.is_superuser or _holds_role_allowing(user, VIEW_AUDIT)):
        return None
    return team_ids_with(user, VIEW_AUDIT)


def can_view_audit(user) -> bool:
    """May `user` open the audit trail (/audit/, the API's events)? What they read there, restrict() decides."""
    if not _active(user, VIEW_AUDIT):
        return False
    return may_read_security_events(user) or _holds_role_allowing(user, VIEW_AUDIT)


def may_export_audit(user) -> bool:
    """May `user` export the audit trail? A person's act: no token scope carries EXPORT_AUDIT.

    Superusers may export even before any team exists (portal-wide events), and portal auditors what they read.
    """
    if not _active(user, EXPORT_AUDIT):
        return False
    return may_read_security_events(user) or _holds_role_allowing(user, EXPORT_AUDIT)


def audit_export_team(user, filters: dict) -> int | None:
    """The one team an export by `user` with `filters` concerns: the team it filters on, else the only team whose
    trail `user` may export. None when it reaches further (several teams, or a portal auditor's security events)."""
    if filters.get("team"):
        return filters["team"]
    if may_read_security_events(user):
        return None
    teams = list(team_ids_with(user, EXPORT_AUDIT).values_list("team_id", flat=True)[:2])
    return teams[0] if len(teams) == 1 else None


def removes_last_manager(membership) -> bool:
    """Would taking `membership` away leave its team with nobody who may manage it? Locks the rows it counts,
    so two admins revoking each other at once cannot both succeed."""
    if not role_allows([membership.role], MANAGE_TEAM):
        return False
    managers = holders(MANAGE_TEAM, team_id=membership.team_id, active_only=False).select_for_update()
    return managers.count() <= 1


def role_summary(user) -> list[tuple[str, str]]:
    """(team name, role label) pairs for the navigation bar."""
    if not _active(user):
        return []
    rows = _memberships(user)
    if rows is None:
        rows = Membership.objects.filter(user=user).order_by("team__name", "role")
        rows = rows.values_list("team_id", "role", "team__name")
    labels = dict(Role.choices)
    return [(name, labels.get(role, role)) for _team, role, name in rows]


def team_choices(user, action: str) -> list[tuple[int, str]]:
    """(id, name) of the teams where `user` may `action`, by name (Team.objects.restrict(user, action)'s rows): a
    filter's choices. From the roles the web request holds where team_ids_now() would use them, else one query."""
    ids = team_ids_now(user, action)
    rows = _memberships(user) if isinstance(ids, list) else None
    if rows is None:
        return list(Team.objects.restrict(user, action).order_by("name").values_list("pk", "name"))
    allowed, named = set(ids), {}
    for team_id, _role, name in rows:  # by team name, as the database sorts them
        if team_id in allowed:
            named.setdefault(team_id, name)
    return list(named.items())
