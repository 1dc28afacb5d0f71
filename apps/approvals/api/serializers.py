"""Deployment requests over the API: `<Entity>Output` to read, `<Action>Input` to parse a body (unknown keys: 400)."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api import StrictInput
from apps.inventory.models import Environment, ModelVersion

from ..models import Outcome, RequestStep
from ..services.reports import MAX_DETAILS, MAX_TARGET, MAX_URL, STATUSES

# --- output -------------------------------------------------------------------------------------


class DecisionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    approver = serializers.CharField(source="username")
    printed_name = serializers.CharField()
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    meaning = serializers.CharField()
    comment = serializers.CharField()
    signed = serializers.BooleanField()
    at = serializers.DateTimeField(source="decided_at")
    voided = serializers.SerializerMethodField()

    def get_voided(self, decision) -> bool:
        return decision.voided_at is not None


class StepOutput(serializers.Serializer):
    id = serializers.IntegerField()
    order = serializers.IntegerField()
    name = serializers.CharField()
    state = serializers.CharField()
    quorum = serializers.IntegerField()
    needs_signature = serializers.BooleanField(source="requires_signature")
    due_at = serializers.DateTimeField(allow_null=True)
    decisions = DecisionOutput(many=True, source="decisions.all")


class CheckOutput(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    passed = serializers.BooleanField()
    detail = serializers.CharField()


class DeploymentRequestOutput(serializers.Serializer):
    """A request as the CLI and CI see it: state, what is approved, the frozen steps with their decisions."""

    id = serializers.IntegerField()
    url = serializers.SerializerMethodField(help_text="The request's page in the portal (where people sign).")
    state = serializers.CharField(help_text="draft, pending, approved, rejected, cancelled or expired.")
    final = serializers.SerializerMethodField(help_text="True once the state can no longer change.")
    model = serializers.CharField(source="version.model.slug")
    model_name = serializers.CharField(source="version.model.name")
    version = serializers.CharField(source="version.version")
    environment = serializers.CharField(source="environment.slug")
    requester = serializers.CharField(source="requester.username")
    justification = serializers.CharField()
    round = serializers.IntegerField()
    policy = serializers.SerializerMethodField(help_text="The frozen policy's name; null before submission.")
    policy_revision = serializers.SerializerMethodField()
    artifact_digest = serializers.SerializerMethodField(help_text="The approved artifact's SHA-256 (frozen).")
    subject_hash = serializers.CharField(help_text="SHA-256 of what is approved; signatures bind to it.")
    created_at = serializers.DateTimeField()
    submitted_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    steps = serializers.SerializerMethodField()
    checks = CheckOutput(many=True)

    def get_url(self, obj) -> str:
        path = reverse("approvals:request-detail", args=[obj.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def get_final(self, obj) -> bool:
        return not obj.is_open()

    def get_policy(self, obj) -> str | None:
        return obj.frozen_policy.get("name") if obj.round else None

    def get_policy_revision(self, obj) -> int | None:
        return obj.frozen_policy.get("revision") if obj.round else None

    def get_artifact_digest(self, obj) -> str | None:
        return obj.subject.get("artifact_digest") or None

    @staticmethod
    def _current_steps(obj) -> list[RequestStep]:
        # Steps of earlier rounds were voided by a reset; the audit trail keeps them.
        return [step for step in obj.steps.all() if step.round == obj.round]

    @extend_schema_field(StepOutput(many=True))
    def get_steps(self, obj) -> list[dict]:
        return StepOutput(self._current_steps(obj), many=True, context=self.context).data


class DeploymentReportOutput(serializers.Serializer):
    recorded = serializers.BooleanField()
    request = serializers.IntegerField(help_text="The request's id.")
    target = serializers.CharField()
    status = serializers.CharField()
    details = serializers.CharField()
    url = serializers.CharField()
    event = serializers.IntegerField(help_text="Sequence number of the `deployment.reported` audit event.")
    reported_at = serializers.DateTimeField()


class DecisionResultOutput(serializers.Serializer):
    decision = DecisionOutput()
    request = DeploymentRequestOutput()


# --- input --------------------------------------------------------------------------------------


class RequestCreateInput(StrictInput):
    model = serializers.SlugField(max_length=120, help_text="The registered model's slug.")
    version = serializers.CharField(max_length=64, help_text="The version label, e.g. 1.4.0.")
    environment = serializers.SlugRelatedField(slug_field="slug", queryset=Environment.objects.all())
    justification = serializers.CharField(max_length=5000, help_text="Why; approvers read it.")
    submit = serializers.BooleanField(default=True, help_text="Submit at once (default) or keep a draft.")

    def validate(self, attrs):
        user = self.context["request"].user
        version = (
            ModelVersion.objects.restrict(user)
            .select_related("model__team")
            .filter(model__slug=attrs["model"], version=attrs["version"])
            .first()
        )
        if version is None:
            raise serializers.ValidationError(
                {"version": [f"No version {attrs['version']} of model {attrs['model']} that you can see."]}
            )
        attrs["version"] = version
        return attrs


class CancelInput(StrictInput):
    reason = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


class SubmitInput(StrictInput):
    pass


class DecisionInput(StrictInput):
    outcome = serializers.ChoiceField(choices=Outcome.choices)
    comment = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")
    step = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="The step's id: refuse if that step has closed."
    )


@extend_schema_field({"type": "string", "pattern": f"^({'|'.join(STATUSES)})$", "description": " or ".join(STATUSES)})
class ReportStatusField(serializers.ChoiceField):
    """No enum in the schema: a second choice set named `status` would collide with other apps' `StatusEnum`."""

    def __init__(self, **kwargs):
        super().__init__(choices=[(value, value) for value in STATUSES], **kwargs)


class DeploymentReportInput(StrictInput):
    target = serializers.CharField(max_length=MAX_TARGET, help_text="Where it was deployed, e.g. a cluster.")
    status = ReportStatusField()
    details = serializers.CharField(max_length=MAX_DETAILS, required=False, allow_blank=True, default="")
    url = serializers.URLField(
        max_length=MAX_URL, required=False, allow_blank=True, default="", help_text="An http(s) link, e.g. the CI run."
    )

    def validate_url(self, value):
        if value and not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError("Give an http(s) link.")
        return value
