"""Inventory reads for pages, API and exports: permission-scoped, a fixed number of queries per page."""

from django.db.models import Count, Max, Prefetch, Q
from django.db.models.functions import Lower
from django.shortcuts import get_object_or_404

from apps.accounts import permissions
from apps.accounts.models import Team

from .models import RISK_ORDER, Lifecycle, ModelVersion, RegisteredModel, RiskTier, Tag, validation_overdue_q

# By name without regard to case ("Account" before "AML"), as a reader expects; the exact name breaks ties.
SORTS = {
    "name": ("name_lower", "name"),
    "-name": ("-name_lower", "-name"),
    "updated": ("-updated_at", "name_lower"),
    "risk": ("-risk_rank", "name_lower"),
}


def registered_model_list(
    *,
    user,
    search: str = "",
    team: str = "",
    risk_tier: str = "",
    lifecycle: str = "",
    tag: str = "",
    sort: str = "name",
):
    """Models `user` may see, filtered and sorted; each row carries its version count and latest version time."""
    from django.db.models import Case, IntegerField, Value, When

    qs = RegisteredModel.objects.restrict(user).select_related("team", "validator")
    if search:
        qs = qs.filter(
            Q(name__icontains=search) | Q(tags__name__iexact=search.lower()) | Q(description__icontains=search)
        )
    if team:
        qs = qs.filter(team__slug=team)
    if risk_tier:
        qs = qs.filter(risk_tier=risk_tier)
    if lifecycle:
        qs = qs.filter(lifecycle_status=lifecycle)
    if tag:
        qs = qs.filter(tags__name=tag)
    rank = Case(
        *[When(risk_tier=tier, then=Value(index)) for tier, index in RISK_ORDER.items()], output_field=IntegerField()
    )
    qs = qs.annotate(
        version_count=Count("versions", distinct=True),
        latest_version_at=Max("versions__created_at"),
        risk_rank=rank,
        name_lower=Lower("name"),
    ).prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))
    return qs.order_by(*SORTS.get(sort, SORTS["name"])).distinct()


def registered_model_get(*, user, slug: str, action: str = permissions.VIEW) -> RegisteredModel:
    qs = RegisteredModel.objects.restrict(user, action).select_related("team", "validator", "created_by")
    return get_object_or_404(qs.prefetch_related("owners", "tags"), slug=slug)


def model_version_list(*, model: RegisteredModel):
    """Versions of a model the caller already may view, newest first."""
    return model.versions.select_related("created_by", "parent__model").order_by("-created_at", "-pk")


def model_version_get(*, user, slug: str, version: str, action: str = permissions.VIEW) -> ModelVersion:
    qs = ModelVersion.objects.restrict(user, action).select_related(
        "model__team", "created_by", "parent__model", "model__validator"
    )
    return get_object_or_404(qs, model__slug=slug, version=version)


def teams_for_filter(*, user):
    """Teams with at least one model the user can see: the team filter's choices."""
    visible = RegisteredModel.objects.restrict(user).values("team_id")
    return Team.objects.filter(pk__in=visible).order_by("name")


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
