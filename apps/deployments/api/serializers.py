"""Deployments over the API: targets (the credential by name, never where its secret is kept), observation
intervals, statuses, and the point-in-time answer."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api import page_url
from apps.inventory.models import Environment

from ..forms import parse_moment
from ..models import DeploymentTarget, DriftState, DriftStatus, Running
from ..selectors import public_config


class DeploymentTargetOutput(serializers.ModelSerializer):
    environment = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True, help_text="The team operating it.")
    credential = serializers.SlugRelatedField(
        slug_field="name", read_only=True, help_text="The granted credential's name, if any (never its reference)."
    )
    config = serializers.SerializerMethodField(help_text="The kind's settings (no secret; URL user-info redacted).")
    observe_queued = serializers.SerializerMethodField(help_text="An observation is waiting for a worker.")
    running_count = serializers.IntegerField(read_only=True, help_text="Model versions it reports running now.")
    page_url = serializers.SerializerMethodField(help_text="The target's page in the portal.")

    class Meta:
        model = DeploymentTarget
        fields = [
            "id", "name", "kind", "environment", "team", "credential", "config", "enabled", "interval_seconds",
            "last_status", "last_error", "last_observed_at", "observe_queued", "running_count", "created_at",
            "updated_at", "page_url",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_config(self, target) -> dict:
        return public_config(target.config)

    def get_observe_queued(self, target) -> bool:
        return target.observe_queued_at is not None

    def get_page_url(self, target) -> str:
        return page_url(reverse("deployments:target-detail", args=[target.pk]))


class IntervalOutput(serializers.ModelSerializer):
    """One interval in which a target reported a model version running."""

    target = serializers.PrimaryKeyRelatedField(read_only=True)
    target_name = serializers.CharField(source="target.name", read_only=True)
    environment = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    model = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, help_text="The registered model, when the observed name matches one."
    )
    model_key = serializers.CharField(read_only=True, help_text="The model as the target names it.")
    version = serializers.CharField(source="version_label", read_only=True, help_text="As the target names it.")
    registered_version = serializers.SlugRelatedField(
        source="version", slug_field="version", read_only=True, allow_null=True,
        help_text="The registered version it matches, if any.",
    )  # fmt: skip
    reported_since = serializers.DateTimeField(source="since", read_only=True, allow_null=True,
                                               help_text="When the target says it started, where it says.")  # fmt: skip
    current = serializers.SerializerMethodField(help_text="Runs now (not yet observed gone).")

    class Meta:
        model = Running
        fields = [
            "id", "target", "target_name", "environment", "model", "model_key", "version", "registered_version",
            "digest", "location", "commit_sha", "commit_author", "reported_since", "started_at", "last_seen_at",
            "until", "current",
        ]  # fmt: skip
        read_only_fields = fields

    def get_current(self, row) -> bool:
        return row.until is None


class DriftStateOutput(serializers.ModelSerializer):
    model = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    model_name = serializers.CharField(source="model.name", read_only=True)
    team = serializers.SlugRelatedField(source="model.team", slug_field="slug", read_only=True)
    environment = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    drift_status = serializers.ChoiceField(source="status", choices=DriftStatus.choices, read_only=True)
    drift_status_label = serializers.CharField(source="get_status_display", read_only=True)
    is_exception = serializers.BooleanField(read_only=True, help_text="A compliance exception (shown first).")
    running_version = serializers.CharField(source="running_label", read_only=True)
    approved_version = serializers.SerializerMethodField(help_text="The version last approved there, if any.")
    approved_request = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    since = serializers.DateTimeField(read_only=True, help_text="Since when the status holds.")
    evidence = serializers.JSONField(read_only=True, help_text="What was observed and compared.")
    page_url = serializers.SerializerMethodField(help_text="The model's page in the portal.")

    class Meta:
        model = DriftState
        fields = [
            "id", "model", "model_name", "team", "environment", "drift_status", "drift_status_label", "is_exception",
            "reason", "running_version", "approved_version", "approved_request", "since", "updated_at", "evidence",
            "page_url",
        ]  # fmt: skip
        read_only_fields = fields

    def get_approved_version(self, state) -> str | None:
        return state.approved_request.version.version if state.approved_request_id else None

    def get_page_url(self, state) -> str:
        return page_url(reverse("inventory:model-detail", args=[state.model.slug]))


# --- point in time -----------------------------------------------------------------------------------------------


class PointInTimeInput(serializers.Serializer):
    """The query: a model (slug), an environment (slug) and an ISO 8601 time (no zone: UTC)."""

    model = serializers.CharField(max_length=120, help_text="The model's slug.")
    environment = serializers.CharField(max_length=50, help_text="The environment's slug, e.g. production.")
    time = serializers.CharField(max_length=64, help_text="ISO 8601, e.g. 2026-03-01T12:00:00Z; no zone: UTC.")

    def validate_environment(self, value) -> Environment:
        environment = Environment.objects.filter(slug=value).first()
        if environment is None:
            known = ", ".join(Environment.objects.order_by("order").values_list("slug", flat=True)) or "none yet"
            raise serializers.ValidationError(f"No environment “{value[:50]}”; environments: {known}.")
        return environment

    def validate_time(self, value):
        try:
            return parse_moment(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None


class ApproverOutput(serializers.Serializer):
    username = serializers.CharField()
    name = serializers.CharField(source="printed_name")
    meaning = serializers.CharField(help_text="What the signature meant, e.g. Approved as Model risk review.")
    decided_at = serializers.DateTimeField()
    signed = serializers.BooleanField()


class ApprovalOutput(serializers.Serializer):
    request = serializers.IntegerField(source="request.pk", help_text="The deployment request's id.")
    approved_at = serializers.DateTimeField(allow_null=True)
    policy = serializers.CharField(
        source="policy_name", allow_null=True, help_text="The policy frozen into the request (null: none governed)."
    )
    policy_revision = serializers.IntegerField(allow_null=True)
    approvers = ApproverOutput(many=True)


class PointIntervalOutput(serializers.Serializer):
    target = serializers.CharField(source="target.name")
    version = serializers.CharField(source="version_label")
    registered_version = serializers.SerializerMethodField()
    digest = serializers.CharField()
    location = serializers.CharField()
    commit_sha = serializers.CharField()
    commit_author = serializers.CharField()
    started_at = serializers.DateTimeField(help_text="First observed.")
    until = serializers.DateTimeField(allow_null=True, help_text="Observed gone; null: still runs.")

    def get_registered_version(self, row) -> bool:
        return row.version_id is not None


class RunningAtOutput(serializers.Serializer):
    interval = PointIntervalOutput()
    approval = ApprovalOutput(allow_null=True, help_text="The approval in force then for this version; null: none.")
    rollback_from = serializers.CharField(
        allow_null=True, help_text="Set when this was an older version again: the version it replaced."
    )


class PointInTimeOutput(serializers.Serializer):
    model = serializers.CharField(source="model.slug")
    environment = serializers.CharField(source="environment.slug")
    time = serializers.DateTimeField(source="moment")
    gap = serializers.BooleanField(help_text="Nothing ran then: `before` and `after` bound the gap.")
    summary = serializers.CharField(help_text="The answer in words.")
    running = RunningAtOutput(many=True)
    before = PointIntervalOutput(allow_null=True, help_text="The last interval that had ended by then.")
    after = PointIntervalOutput(allow_null=True, help_text="The first interval that started after it.")
