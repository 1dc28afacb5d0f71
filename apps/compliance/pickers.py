"""What the audit filters' pickers offer and how what a person typed becomes an id: models, versions, actors.

Every read starts from what the reader may see (restrict(), the permission module) and asks for at most
SUGGESTIONS rows through an indexed column: the model's unique name and slug (a pg_trgm index on UPPER(name) where
the inventory migrations add one), a version's model, a user's username. No list here grows with the inventory.
"""

from django.db.models import Q
from django.utils.text import slugify

from apps.accounts import permissions
from apps.accounts.models import Membership, User
from apps.core.inputs import parse_id
from apps.inventory.models import ModelVersion, RegisteredModel

SUGGESTIONS = 20
KINDS = ("model", "version", "actor")
MAX_QUERY = 100
# System principals (audit.actors.Actor.system) that act in the record. "auth" records only sign-in failures and
# lockouts, security events (audit.actions.SECURITY_ACTIONS): it is offered only to whoever may read those.
SYSTEM_ACTORS = ("deployer", "deployment-observer", "git-sync", "github-deployments", "github-webhook", "load_demo",
                 "scheduler", "seed_scale")  # fmt: skip
SECURITY_SYSTEM_ACTORS = ("auth",)


def visible_models(user):
    return RegisteredModel.objects.restrict(user)


def find_model(user, text: str) -> RegisteredModel | None:
    """The model `text` names for `user`: its id (links into /audit/), its slug or its name (any case)."""
    text = text.strip()
    models = visible_models(user).only("pk", "name", "slug")
    if (number := parse_id(text)) is not None:
        found = models.filter(pk=number).first()
        if found is not None:
            return found
    return models.filter(Q(slug=text.lower()) | Q(name__iexact=text)).first()


def find_version(user, model_id: int, text: str) -> ModelVersion | None:
    """The version named `text` (exactly, as shown) of the model, if `user` may see it."""
    return (
        ModelVersion.objects.restrict(user)
        .filter(model_id=model_id, version=text.strip())
        .only("pk", "version")
        .first()
    )


def version_label(user, version_id: int) -> ModelVersion | None:
    """A version by id with its model, for showing an old ?version=<id> link by name."""
    return (
        ModelVersion.objects.restrict(user)
        .select_related("model")
        .only("pk", "version", "model__name")
        .filter(pk=version_id)
        .first()
    )


def suggest_models(user, query: str) -> list[dict]:
    """Models whose name contains `query` or whose slug starts with it, A to Z."""
    rows = visible_models(user)
    if query:
        rows = rows.filter(Q(name__icontains=query) | Q(slug__startswith=slugify(query) or query.lower()))
    rows = rows.select_related("team").only("name", "slug", "team__name").order_by("name")[:SUGGESTIONS]
    return [{"value": model.name, "label": model.name, "detail": f"{model.team.name} · {model.slug}"} for model in rows]


def suggest_versions(user, model: RegisteredModel, query: str) -> list[dict]:
    """The model's versions starting with `query`, newest first."""
    rows = ModelVersion.objects.restrict(user).filter(model_id=model.pk)
    if query:
        rows = rows.filter(version__istartswith=query)
    rows = rows.only("version", "created_at").order_by("-created_at", "-pk")[:SUGGESTIONS]
    return [{"value": version.version, "label": version.version, "detail": model.name} for version in rows]


def _visible_people(user):
    """People whose acts `user` may read: everyone for a reader of the security events, else the members of the
    teams whose trail `user` reads and the portal administrators (whose configuration events every auditor reads)."""
    people = User.objects.filter(is_active=True)
    if permissions.may_read_security_events(user):
        return people
    members = Membership.objects.filter(team_id__in=permissions.team_ids_with(user, permissions.VIEW_AUDIT))
    return people.filter(Q(pk__in=members.values("user_id")) | Q(is_superuser=True))


def suggest_actors(user, query: str) -> list[dict]:
    """People (username or name starting with `query`) and system principals, as the record labels them."""
    rows = _visible_people(user)
    if query:
        rows = rows.filter(
            Q(username__istartswith=query) | Q(first_name__istartswith=query) | Q(last_name__istartswith=query)
        )
    rows = rows.only("username", "first_name", "last_name").order_by("username")[:SUGGESTIONS]
    found = [{"value": person.username, "label": person.username, "detail": person.get_full_name()} for person in rows]
    systems = SYSTEM_ACTORS + (SECURITY_SYSTEM_ACTORS if permissions.may_read_security_events(user) else ())
    query = query.lower()
    found += [{"value": name, "label": name, "detail": "system"} for name in sorted(systems) if name.startswith(query)]
    return found[:SUGGESTIONS]


FILTER_NAMES = {"date_from": "from", "date_to": "to", "request": "request #"}


def filter_labels(user, filters_list: list[dict]) -> list[list[tuple[str, str]]]:
    """For each export's stored filters, its (name, value) pairs as people read them: the team, model, version and
    environment by name where `user` may see them (else by id, as stored), dates and texts as given. At most one
    query per kind of object named, whatever the number of exports."""
    from apps.accounts.models import Team
    from apps.inventory.models import Environment

    def ids(key):
        return {filters[key] for filters in filters_list if isinstance(filters.get(key), int)}

    names = {}
    if wanted := ids("team"):
        names["team"] = dict(Team.objects.restrict(user).filter(pk__in=wanted).values_list("pk", "name"))
    if wanted := ids("model"):
        names["model"] = dict(RegisteredModel.objects.restrict(user).filter(pk__in=wanted).values_list("pk", "name"))
    if wanted := ids("version"):
        versions = ModelVersion.objects.restrict(user).filter(pk__in=wanted)
        names["version"] = {pk: f"{model} {version}" for pk, model, version in
                            versions.values_list("pk", "model__name", "version")}  # fmt: skip
    if wanted := ids("environment"):
        names["environment"] = dict(Environment.objects.filter(pk__in=wanted).values_list("pk", "name"))
    return [
        [(FILTER_NAMES.get(key, key), str(names.get(key, {}).get(value, value))) for key, value in filters.items()]
        for filters in filters_list
    ]
