from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.accounts import permissions
from apps.accounts.models import Role
from apps.core.querysets import InSubquery, RestrictedQuerySet
from apps.inventory.models import ModelVersion, RegisteredModel


class ApproverKind(models.TextChoices):
    ROLE = "role", "A role in the model's team"
    TEAM = "team", "Approvers of a named team"
    USERS = "users", "Named people"


class ApprovalPolicy(models.Model):
    """Which deployment requests need whose approval, and which automated checks must pass first.

    A policy governs an environment (or every environment) and a set of risk tiers (or
    every tier); the most specific match wins. Its steps run in order. Every edit bumps
    `revision`; requests carry a frozen copy, so edits never change a request in flight.
    """

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True, max_length=2000)
    environment = models.ForeignKey(
        "inventory.Environment", null=True, blank=True, on_delete=models.PROTECT, related_name="policies",
        help_text="Empty: every environment.",
    )  # fmt: skip
    risk_tiers = models.JSONField(default=list, blank=True, help_text="Empty: every risk tier.")
    active = models.BooleanField(default=True)
    require_model_card = models.BooleanField(default=True)
    require_digest = models.BooleanField(default=True)
    require_previous_environment = models.BooleanField(
        default=False, help_text="The version must already be approved for the previous environment."
    )
    require_current_validation = models.BooleanField(
        default=False, help_text="The model's periodic validation must not be overdue."
    )
    metric_thresholds = models.JSONField(
        default=list, blank=True, help_text='e.g. [{"metric": "auc", "op": ">=", "value": 0.8}]'
    )
    expiry_days = models.PositiveSmallIntegerField(default=14)
    revision = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "approval policies"

    def __str__(self):
        return self.name

    @property
    def check_names(self) -> list[str]:
        """The automated checks this policy requires, in words (the policies page lists them)."""
        flags = ((self.require_model_card, "model card"), (self.require_digest, "artifact digest"),
                 (self.require_previous_environment, "promotion order"),
                 (self.require_current_validation, "validation current"))  # fmt: skip
        thresholds = [f"{rule['metric']} {rule['op']} {rule['value']}" for rule in self.metric_thresholds or []]
        return [name for required, name in flags if required] + thresholds


class PolicyStep(models.Model):
    """One ordered step of a policy: who may approve, how many distinct people, signed or not, and how fast."""

    policy = models.ForeignKey(ApprovalPolicy, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=100, help_text='Shown as the meaning of a signature: "Approved as <name>".')
    approver_kind = models.CharField(max_length=10, choices=ApproverKind.choices, default=ApproverKind.ROLE)
    role = models.CharField(max_length=20, choices=Role.choices, blank=True, default=Role.APPROVER)
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    quorum = models.PositiveSmallIntegerField(default=1)
    requires_signature = models.BooleanField(default=True)
    due_hours = models.PositiveIntegerField(default=72)

    class Meta:
        ordering = ["policy", "order"]
        constraints = [models.UniqueConstraint(fields=["policy", "order"], name="unique_policy_step_order")]

    def __str__(self):
        return f"{self.order}. {self.name}"


class RequestState(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING = "pending", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


OPEN_STATES = (RequestState.DRAFT, RequestState.PENDING)


class DeploymentRequestQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, action):
        # The request's own team and model columns: no join through versions and models (see DeploymentRequest).
        scope = permissions.object_scope_q(
            user, action, model_class=RegisteredModel, team_path="team", object_path="model__"
        )
        if action == permissions.VIEW:
            # The requester always sees their own request; named approvers see what they are asked to decide.
            named = RequestStep.users.through.objects.filter(user_id=user.pk).values("requeststep__request_id")
            scope |= models.Q(requester=user) | models.Q(InSubquery("pk", named))
            approving_teams = permissions.team_ids_now(user, permissions.APPROVE)
            if not isinstance(approving_teams, list) or approving_teams:  # none: no team step can name them
                team_steps = RequestStep.objects.filter(approver_kind=ApproverKind.TEAM, team_id__in=approving_teams)
                scope |= models.Q(InSubquery("pk", team_steps.values("request_id")))
        return self.filter(scope)

    def open(self):
        return self.filter(state__in=OPEN_STATES)

    def bulk_create(self, objs, *args, **kwargs):
        """bulk_create() that fills each request's model and team from its version (save() is not called here),
        in one query for the whole batch."""
        objs = list(objs)
        unfilled = [obj for obj in objs if obj.model_id is None or obj.team_id is None]
        if unfilled:
            versions = ModelVersion.objects.filter(pk__in={obj.version_id for obj in unfilled})
            owners = {pk: (model_id, team_id) for pk, model_id, team_id in
                      versions.values_list("pk", "model_id", "model__team_id")}  # fmt: skip
            for obj in unfilled:
                # A version that does not exist is left to the database to refuse, as without this.
                obj.model_id, obj.team_id = owners.get(obj.version_id, (obj.model_id, obj.team_id))
        return super().bulk_create(objs, *args, **kwargs)


class DeploymentRequest(models.Model):
    """A request to deploy one model version to one environment, decided through a frozen policy."""

    version = models.ForeignKey("inventory.ModelVersion", on_delete=models.PROTECT, related_name="deployment_requests")
    # Copies of version.model and its team, which never change (a version stays with its model, a model with its
    # team): restrict() and the filters by model or team read them on the request row itself instead of joining
    # versions and models for every row (the list's capped count at 100k requests: 12 ms, now 3). save() and
    # bulk_create() fill them in; the composite indexes in Meta serve them, so no single-column index of their own.
    model = models.ForeignKey("inventory.RegisteredModel", on_delete=models.PROTECT, related_name="+", db_index=False)
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="+", db_index=False)
    environment = models.ForeignKey("inventory.Environment", on_delete=models.PROTECT, related_name="requests")
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="deployment_requests"
    )
    justification = models.TextField(max_length=5000)
    state = models.CharField(max_length=10, choices=RequestState.choices, default=RequestState.DRAFT, db_index=True)
    policy = models.ForeignKey(ApprovalPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Frozen at submission: the policy as it was, what exactly is approved, and the checks' results.
    frozen_policy = models.JSONField(default=dict, blank=True)
    subject = models.JSONField(default=dict, blank=True)
    subject_hash = models.CharField(max_length=64, blank=True)
    checks = models.JSONField(default=list, blank=True)
    round = models.PositiveSmallIntegerField(default=0, help_text="Submission count; a reset to draft voids a round.")
    submitted_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DeploymentRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(state__in=RequestState.values), name="request_state_valid"),
        ]
        # The home page's charts count closed requests by state and week, and time the approved ones.
        indexes = [
            models.Index(fields=["state", "closed_at"], name="request_state_closed"),
            # The request list's keyset pages, newest first (apps.core.keyset): the same cost on any page.
            models.Index(fields=["created_at", "id"], name="request_created_keyset"),
            # One team's or one model's requests, newest first: a model's approved requests (deployments, the
            # dossier), the foreign keys' checks, a scope by team alone. restrict()'s view scope also ORs in
            # subqueries (own, named, granted requests), which no index answers: PostgreSQL reads rows for it.
            models.Index(fields=["team", "created_at", "id"], name="request_team_keyset"),
            models.Index(fields=["model", "created_at", "id"], name="request_model_keyset"),
            # The latest approval of a model in an environment (what should run there: the deployments matrix, a
            # model's deployments block, drift): the first entry of this index, however many approvals came before.
            # On PostgreSQL only (migration 0006): SQLite refuses NULLS LAST in an index.
            models.Index(
                models.F("model"),
                models.F("environment"),
                models.F("closed_at").desc(nulls_last=True),
                models.F("id").desc(),
                condition=models.Q(state="approved"),
                name="request_latest_approved",
            ),
        ]

    def __str__(self):
        return (
            f"Request #{self.pk}: {self.subject.get('model') or ''} {self.subject.get('version') or ''} → "
            f"{self.subject.get('environment') or ''}".strip()
        )

    def save(self, *args, **kwargs):
        if self._state.adding and (self.model_id is None or self.team_id is None):
            self._fill_owner()
        super().save(*args, **kwargs)

    def _fill_owner(self) -> None:
        """model and team from the version: from the objects the caller loaded, else in one query."""
        if self.version_id is None:
            return  # the database refuses the row: a request is for a version
        if DeploymentRequest.version.is_cached(self) and ModelVersion.model.is_cached(self.version):
            self.model, self.team_id = self.version.model, self.version.model.team_id
            return
        owner = ModelVersion.objects.filter(pk=self.version_id).values_list("model_id", "model__team_id").first()
        if owner is not None:  # else the database refuses the row, as without this
            self.model_id, self.team_id = owner

    @property
    def permission_team_id(self):
        return self.team_id

    @property
    def permission_object(self):
        return self.model

    def audit_scope(self) -> dict:
        return {
            "team": self.team_id,
            "model": self.model_id,
            "version": self.version_id,
            "environment": self.environment_id,
            "request": self.pk,
        }

    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def open_step(self):
        return next((step for step in self.steps.all() if step.state == StepState.OPEN), None)


class StepState(models.TextChoices):
    WAITING = "waiting", "Waiting"
    OPEN = "open", "Open"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    VOID = "void", "Void"


DUE_SOON = timedelta(hours=24)


class RequestStep(models.Model):
    """A frozen copy of one policy step inside a request: who may decide it, how many, by when."""

    request = models.ForeignKey(DeploymentRequest, on_delete=models.CASCADE, related_name="steps")
    round = models.PositiveSmallIntegerField(default=1)
    order = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=100)
    approver_kind = models.CharField(max_length=10, choices=ApproverKind.choices)
    role = models.CharField(max_length=20, choices=Role.choices, blank=True)
    team = models.ForeignKey("accounts.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    quorum = models.PositiveSmallIntegerField()
    requires_signature = models.BooleanField(default=True)
    due_hours = models.PositiveIntegerField(default=72)
    state = models.CharField(max_length=10, choices=StepState.choices, default=StepState.WAITING, db_index=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["request", "round", "order"]
        constraints = [
            models.UniqueConstraint(fields=["request", "round", "order"], name="unique_request_round_step"),
        ]

    def __str__(self):
        return f"{self.order}. {self.name}"

    def is_overdue(self, now=None) -> bool:
        return self.state == StepState.OPEN and self.due_at is not None and self.due_at < (now or timezone.now())

    def is_due_soon(self, now=None) -> bool:
        """Open, not overdue yet, and due within DUE_SOON: the home page marks it so it is decided in time."""
        now = now or timezone.now()
        return self.state == StepState.OPEN and self.due_at is not None and now <= self.due_at < now + DUE_SOON


class Outcome(models.TextChoices):
    APPROVE = "approve", "Approved"
    REJECT = "reject", "Rejected"


class Decision(models.Model):
    """One person's decision on one step; signed decisions carry their 21 CFR Part 11 manifestation."""

    request = models.ForeignKey(DeploymentRequest, on_delete=models.PROTECT, related_name="decisions")
    step = models.ForeignKey(RequestStep, on_delete=models.PROTECT, related_name="decisions")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="decisions")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    comment = models.TextField(blank=True, max_length=5000)
    eligibility = models.CharField(max_length=300, help_text="Why this person could decide, at decision time.")
    decided_at = models.DateTimeField()
    # §11.50 manifestation: printed name, username, time, meaning; §11.70 binding: the signature hash.
    signed = models.BooleanField(default=False)
    printed_name = models.CharField(max_length=300)
    username = models.CharField(max_length=150)
    meaning = models.CharField(max_length=200)
    signature_hash = models.CharField(max_length=64, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["decided_at", "pk"]
        constraints = [
            # One person, one decision per request (per round: a reset to draft voids the round's decisions).
            models.UniqueConstraint(
                fields=["request", "approver"], condition=models.Q(voided_at__isnull=True),
                name="one_live_decision_per_person_per_request",
            ),
            models.CheckConstraint(condition=models.Q(outcome__in=Outcome.values), name="decision_outcome_valid"),
        ]  # fmt: skip

    def __str__(self):
        return f"{self.meaning} by {self.printed_name}"
