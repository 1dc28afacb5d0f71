from datetime import date

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.core.validators import MaxLengthValidator
from django.db import models
from django.db.models.functions import Concat, Lower, Upper
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from apps.accounts import permissions
from apps.core.querysets import RestrictedQuerySet

from . import validators

# Between the name and the description in RegisteredModel.search_text: a term holding it is searched column by column.
SEARCH_SEPARATOR = "\n"


class RiskTier(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


RISK_ORDER = {tier: index for index, tier in enumerate(RiskTier.values)}


def risk_rank_desc():
    """0 for critical … 3 for low: "highest risk first" as an ascending key, so one index serves that sort and
    its keyset pages ((rank, lower(name), name) compared as a row)."""
    top = len(RISK_ORDER) - 1
    return models.Case(
        *[models.When(risk_tier=tier, then=models.Value(top - index)) for tier, index in RISK_ORDER.items()],
        output_field=models.IntegerField(),
    )


class AIActCategory(models.TextChoices):
    MINIMAL = "minimal", "Minimal risk"
    LIMITED = "limited", "Limited risk (transparency)"
    HIGH = "high", "High risk"
    UNACCEPTABLE = "unacceptable", "Unacceptable (prohibited)"


class Lifecycle(models.TextChoices):
    DEVELOPMENT = "development", "Development"
    VALIDATION = "validation", "Validation"
    PRODUCTION = "production", "Production"
    RETIRED = "retired", "Retired"


class Source(models.TextChoices):
    MANUAL = "manual", "Manual"
    API = "api", "API"
    GIT = "git", "Git"


def _text(limit: int):
    return [MaxLengthValidator(limit)]


class Tag(models.Model):
    """A free label on models, for search ("credit", "nlp")."""

    name = models.CharField(max_length=40, unique=True, validators=[validators.validate_tag])

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class RegisteredModelQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, action):
        return self.filter(permissions.object_scope_q(user, action, model_class=RegisteredModel))

    def validation_overdue(self, today: date | None = None):
        """Models whose periodic validation is past due: RegisteredModel.validation_overdue() as a filter."""
        return self.filter(validation_overdue_q(today))


def validation_overdue_q(today: date | None = None) -> models.Q:
    """The rule of RegisteredModel.validation_overdue() for queries (filters and conditional counts)."""
    return models.Q(next_validation_due__lt=today or timezone.localdate()) & ~models.Q(
        lifecycle_status=Lifecycle.RETIRED
    )


class RegisteredModel(models.Model):
    """A model in the inventory: what it is for, who owns it, how risky it is, and when it was validated."""

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    description = models.TextField(blank=True, validators=_text(5000))
    team = models.ForeignKey("accounts.Team", on_delete=models.PROTECT, related_name="models")
    owners = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="owned_models")
    risk_tier = models.CharField(max_length=10, choices=RiskTier.choices)
    eu_ai_act_category = models.CharField(
        "EU AI Act category", max_length=15, choices=AIActCategory.choices, default=AIActCategory.MINIMAL
    )
    intended_use = models.TextField(blank=True, validators=_text(5000))
    limitations = models.TextField(blank=True, validators=_text(5000))
    lifecycle_status = models.CharField(max_length=15, choices=Lifecycle.choices, default=Lifecycle.DEVELOPMENT)
    tags = models.ManyToManyField(Tag, blank=True, related_name="models")
    source_repository_url = models.CharField("source repository", max_length=500, blank=True)
    source_path = models.CharField(max_length=300, blank=True)
    validator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="validated_models"
    )
    last_validated_on = models.DateField(null=True, blank=True)
    next_validation_due = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)
    # What the lists show, kept by the services that add versions, in their transaction (no COUNT per row).
    version_count = models.PositiveIntegerField(default=0, editable=False)
    latest_version = models.ForeignKey(
        "ModelVersion", null=True, blank=True, editable=False, on_delete=models.SET_NULL, related_name="+"
    )
    latest_version_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The tags as one string, " credit pd " (tags hold no spaces), kept by the services that set tags: search
    # matches a whole tag with LIKE '% credit %', which a pg_trgm index answers like the name and description.
    tag_names = models.CharField(max_length=4000, blank=True, default="", editable=False)
    # The name and the description upper-cased, kept by the database (a stored generated column): the list's search
    # is one LIKE on it, not UPPER() and LIKE on each column of each row it reads (see filters.RegisteredModelFilter).
    search_text = models.GeneratedField(
        expression=Concat(
            Upper("name"), models.Value(SEARCH_SEPARATOR), Upper("description"), output_field=models.TextField()
        ),
        output_field=models.TextField(), db_persist=True,
    )  # fmt: skip

    objects = RegisteredModelQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        # One index per sort the lists offer, in the order the keyset pager compares rows.
        indexes = [
            models.Index(Lower("name"), models.F("name"), name="model_name_ci_keyset"),
            models.Index(risk_rank_desc(), Lower("name"), models.F("name"), name="model_risk_keyset"),
            models.Index("updated_at", "id", name="model_updated_keyset"),
            # The home page's overdue validations, the longest overdue first: a range of this index, not every model.
            models.Index(fields=["next_validation_due", "name"], name="model_validation_due"),
            # The list's search for a rare term (pg_trgm, PostgreSQL only: inventory 0008 builds it there alone).
            GinIndex(fields=["search_text"], opclasses=["gin_trgm_ops"], name="model_search_text_trgm"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(risk_tier__in=RiskTier.values), name="model_risk_tier_valid"),
            models.CheckConstraint(
                condition=models.Q(lifecycle_status__in=Lifecycle.values), name="model_lifecycle_valid"
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def permission_team_id(self):
        return self.team_id

    def audit_scope(self) -> dict:
        return {"team": self.team_id, "model": self.pk}

    @property
    def tag_list(self) -> list[str]:
        """The tag names, sorted: read from tag_names (kept with the tags), so showing them costs no query."""
        return self.tag_names.split()

    def validation_overdue(self, today: date | None = None) -> bool:
        if self.next_validation_due is None or self.lifecycle_status == Lifecycle.RETIRED:
            return False
        return self.next_validation_due < (today or timezone.localdate())


class RegisteredModelUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE)


class RegisteredModelGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(RegisteredModel, on_delete=models.CASCADE)


class ModelVersionQuerySet(RestrictedQuerySet):
    def restrict_for(self, user, action):
        return self.filter(
            permissions.object_scope_q(
                user, action, model_class=RegisteredModel, team_path="model__team", object_path="model__"
            )
        )


class ModelVersion(models.Model):
    """One trained artifact of a model: what it is (digest, commit), how good it is, and where it came from."""

    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(max_length=64, validators=[validators.validate_version])
    git_commit_sha = models.CharField("Git commit", max_length=64, blank=True, validators=[validators.validate_git_sha])
    artifact_uri = models.CharField(max_length=1000, blank=True)
    artifact_digest = models.CharField(
        "artifact SHA-256", max_length=64, blank=True, validators=[validators.validate_digest]
    )
    framework = models.CharField(max_length=50, blank=True)
    metrics = models.JSONField(default=dict, blank=True, validators=[validators.validate_metrics])
    parameters = models.JSONField(default=dict, blank=True, validators=[validators.validate_parameters])
    model_card = models.TextField(blank=True, validators=_text(100_000))
    training_data = models.JSONField(
        "training data references", default=list, blank=True, validators=[validators.validate_string_list]
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children", verbose_name="derived from"
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.MANUAL)
    # Where a Git-sourced version came from, as the sync read it (blank for versions typed in by hand).
    git_tag = models.CharField("Git tag", max_length=255, blank=True)
    git_author = models.CharField("commit author", max_length=300, blank=True)
    git_committed_at = models.DateTimeField("commit time", null=True, blank=True)
    stages = models.JSONField(
        "stage labels", default=list, blank=True, validators=[validators.validate_string_list],
        help_text="Stages assigned in Git (GTO stage tags), e.g. staging, prod.",
    )  # fmt: skip
    source_metadata = models.JSONField(
        "metadata from Git", default=dict, blank=True, help_text="MLflow MLmodel and Hugging Face model card data."
    )
    deregistered = models.BooleanField(
        default=False, help_text="Withdrawn in Git (a GTO deregistration tag); the record is kept."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["model__name", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["model", "version"], name="unique_model_version"),
            models.CheckConstraint(condition=models.Q(source__in=Source.values), name="version_source_valid"),
        ]

    def __str__(self):
        return f"{self.model.name} {self.version}"

    @property
    def permission_team_id(self):
        return self.model.team_id

    @property
    def permission_object(self):
        return self.model

    def audit_scope(self) -> dict:
        return {"team": self.model.team_id, "model": self.model_id, "version": self.pk}


class Environment(models.Model):
    """Where a model version can be deployed. `order` gives promotion order: development < staging < production."""

    name = models.CharField(max_length=50, unique=True)
    slug = models.SlugField(max_length=50, unique=True)
    order = models.PositiveSmallIntegerField(unique=True, help_text="Promotion order: lower comes first.")
    protected = models.BooleanField(
        default=False, help_text="A protected environment refuses requests that no approval policy governs."
    )
    rollout_grace_minutes = models.PositiveIntegerField(
        default=60,
        help_text="How long after approval a version may take to appear on the targets before its rollout is overdue.",
    )
    description = models.TextField(blank=True, validators=_text(2000))

    class Meta:
        ordering = ["order"]

    def __str__(self):
        return self.name

    def previous(self) -> "Environment | None":
        return Environment.objects.filter(order__lt=self.order).order_by("-order").first()
