"""Inventory reads for pages, API and exports: permission-scoped, a fixed number of queries per page."""

from django.contrib.postgres.expressions import ArraySubquery
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q
from django.shortcuts import get_object_or_404

from apps.accounts import permissions
from apps.accounts.models import Team, User
from apps.core import keyset

from .filters import RegisteredModelFilter
from .models import Lifecycle, ModelVersion, RegisteredModel, RiskTier, validation_overdue_q


def _owners_by_name():
    """The models' owner links, by the owner's username."""
    return RegisteredModel.owners.through.objects.order_by("user__username")


def with_row_columns(models, *, owners: bool = False):
    """`models` with what a list row or the API shows of their relations: the team, the latest version and the
    validator (`team_slug`, `team_name`, `latest_version_name`, `validator_name`: a column each, not a row read into
    an object, which was a tenth of the API's page of 100). The tags are on the row (`tag_list`). `owners`: their
    owners' usernames too (`owner_names`), as an array on the row on PostgreSQL (a probe of the owners' index per
    row, in the same query); elsewhere with_owner_names() reads them in one more."""
    columns = {
        "team_slug": F("team__slug"), "team_name": F("team__name"),
        "latest_version_name": F("latest_version__version"), "validator_name": F("validator__username"),
    }  # fmt: skip
    if owners and connection.vendor == "postgresql":
        owned = _owners_by_name().filter(registeredmodel_id=OuterRef("pk"))
        columns["owner_names"] = ArraySubquery(owned.values("user__username"))
    return models.annotate(**columns)


def registered_models_visible(*, user):
    """The models `user` may see, with what the API shows of a model, owners included (with_row_columns), in one
    query on PostgreSQL; elsewhere pass them through with_owner_names()."""
    return with_row_columns(RegisteredModel.objects.restrict(user), owners=True)


def with_owner_names(models):
    """Set `owner_names` (usernames, sorted) on each of `models` not read with them (with_row_columns), in one
    query however many there are; a list of them is returned. Lighter than prefetching the owners: one pair of ids
    and a name per owner, no objects."""
    models = list(models)
    names: dict[int, list[str]] = {model.pk: [] for model in models if not hasattr(model, "owner_names")}
    if names:
        owners = _owners_by_name().filter(registeredmodel_id__in=list(names))
        owners = owners.values_list("registeredmodel_id", "user__username")
        for model_id, username in owners:
            names[model_id].append(username)
        for model in models:
            if model.pk in names:
                model.owner_names = names[model.pk]
    return models


def registered_model_filter(*, user, data=None) -> RegisteredModelFilter:
    """The model list's filters (search, team, risk, lifecycle, tag, ordering) bound to `data`, over the models
    `user` may see; `.qs` is the filtered list, `.sort()` its keyset order. The page and the API both use it."""
    return RegisteredModelFilter(data or {}, queryset=RegisteredModel.objects.restrict(user))


def registered_model_list(
    *, user, data=None, cursor: str | None = None, per_page: int = 25, with_owners: bool = False
) -> keyset.Page:
    """One keyset page of the models `user` may see, filtered and ordered by `data` (RegisteredModelFilter's
    fields), from `cursor`; each row carries its version count and latest version (kept on the row by the
    services). Raises ValidationError naming the filter when `data` holds a bad value. The rows have what a list
    shows (with_row_columns); the count reads the models alone."""
    filters = registered_model_filter(user=user, data=data)
    if not filters.is_valid():
        raise ValidationError({name: list(messages) for name, messages in filters.errors.items()})
    keys, descending = filters.sort()
    models = filters.qs
    rows = with_row_columns(models, owners=with_owners)
    page = keyset.paginate(rows, counted=models, keys=keys, descending=descending, cursor=cursor, per_page=per_page)
    if with_owners:
        with_owner_names(page.rows)
    return page


def registered_model_get(
    *, user, slug: str, action: str = permissions.VIEW, with_owners: bool = False, joined: bool = True
) -> RegisteredModel:
    """The model `user` may `action` (else 404), with its team, validator and creator; `with_owners` prefetches its
    owners (the model page shows them). Without `joined`, the model's row alone: the API's versions of a model never
    read the others, and joining them was a third of the query's cost."""
    qs = RegisteredModel.objects.restrict(user, action)
    if joined:
        qs = qs.select_related("team", "validator", "created_by")
    if with_owners:
        qs = qs.prefetch_related(Prefetch("owners", queryset=User.objects.order_by("username")))
    return get_object_or_404(qs, slug=slug)


# What a table of versions (the model page) does not show: the long texts and the JSON it would otherwise decode.
VERSION_DETAIL_FIELDS = ("model_card", "parameters", "training_data", "source_metadata", "artifact_uri", "git_author")


# What a version's row in the API (ModelVersionOutput) shows of its relations: its author's and its parent's names,
# and its model's slug. Only these columns of the joined rows are read: all of them (up to four tables' worth) made
# the query several times dearer to build, compile, plan and read back.
VERSION_ROW_RELATED = ("created_by__username", "parent__version", "model__slug")


def _version_rows(versions, *, with_model: bool):
    related = VERSION_ROW_RELATED if with_model else VERSION_ROW_RELATED[:2]
    own = [field.name for field in ModelVersion._meta.concrete_fields]
    return versions.select_related(*(path.split("__")[0] for path in related)).only(*own, *related)


def model_version_list(*, model: RegisteredModel, summary: bool = False, row: bool = False):
    """Versions of a model the caller already may view, newest first; `summary`: only what a table of them shows;
    `row`: each whole, with only what the API's row shows of its relations (VERSION_ROW_RELATED)."""
    versions = model.versions.order_by("-created_at", "-pk")
    if summary:
        return versions.defer(*VERSION_DETAIL_FIELDS)
    if row:
        return _version_rows(versions, with_model=False)  # the model is `model` (the related manager sets it)
    return versions.select_related("created_by", "parent__model")


def model_version_get(
    *, user, slug: str, version: str, action: str = permissions.VIEW, with_children: bool = False, row: bool = False
) -> ModelVersion:
    """The version `user` may `action` (else 404); `with_children` sets `derived_versions`, those derived from it
    (the version page lists them), read only when it has any: most have none, and EXISTS in this query is cheaper
    than a query of its own. `row`: only what the API's row shows of its relations (VERSION_ROW_RELATED)."""
    qs = ModelVersion.objects.restrict(user, action)
    if row:
        qs = _version_rows(qs, with_model=True)
    else:
        qs = qs.select_related("model__team", "created_by", "parent__model", "model__validator")
    if with_children:
        qs = qs.annotate(has_children=Exists(ModelVersion.objects.filter(parent=OuterRef("pk"))))
    obj = get_object_or_404(qs, model__slug=slug, version=version)
    if with_children:
        children = obj.children.select_related("model").order_by("model__name", "version")
        obj.derived_versions = list(children) if obj.has_children else []
    return obj


def teams_for_filter(*, user):
    """Teams with at least one model the user can see: the team filter's choices."""
    # EXISTS per team (a probe of the team index), not a scan of every model for its team.
    visible = RegisteredModel.objects.restrict(user).filter(team=OuterRef("pk"))
    return Team.objects.filter(Exists(visible)).order_by("name")


def teams_where(*, user, action: str):
    return Team.objects.restrict(user, action).order_by("name")


def validation_overdue_list(*, user, today=None):
    """Models `user` may see whose validation is overdue, the longest overdue first."""
    overdue = RegisteredModel.objects.restrict(user).validation_overdue(today)
    return overdue.select_related("team", "validator").order_by("next_validation_due", "name")


def registered_model_counts(*, user, today=None) -> dict:
    """How many models `user` may see: in all, in production, of high or critical risk, validation overdue."""
    return RegisteredModel.objects.restrict(user).aggregate(
        total=Count("pk"),
        production=Count("pk", filter=Q(lifecycle_status=Lifecycle.PRODUCTION)),
        high_risk=Count("pk", filter=Q(risk_tier__in=[RiskTier.HIGH, RiskTier.CRITICAL])),
        overdue=Count("pk", filter=validation_overdue_q(today)),
    )
