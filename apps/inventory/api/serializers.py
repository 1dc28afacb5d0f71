"""Inventory over the API: `<Entity>Output` to read, `<Action>Input` to parse a body (unknown keys refused)."""

import re

from django.contrib.auth import get_user_model
from django.core.validators import MaxLengthValidator, MinLengthValidator
from django.urls import reverse
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from apps.accounts.models import Team
from apps.core.api import StrictInput, page_url

from ..models import AIActCategory, Environment, ModelVersion, RegisteredModel, RiskTier
from ..services import MAX_VERSIONS_PER_BATCH


def _users():
    return get_user_model().objects.filter(is_active=True)


# --- output -----------------------------------------------------------------------------------------------------------


def _moments(serializer):
    """DateTimeField.to_representation for the rows of one response: the same text, with the time zone looked up once
    per response rather than per value (asgiref's locals behind it were a tenth of a 100-row page)."""
    if "_moments" not in serializer.__dict__:
        field = serializers.DateTimeField(read_only=True)
        zone, output = field.default_timezone(), api_settings.DATETIME_FORMAT
        iso = isinstance(output, str) and output.lower() == ISO_8601

        def write(value):
            if not value or zone is None or not iso or isinstance(value, str) or value.tzinfo is None:
                return field.to_representation(value)  # the rare cases, as DRF writes them
            text = value.astimezone(zone).isoformat()
            return text[:-6] + "Z" if text.endswith("+00:00") else text

        serializer.__dict__["_moments"] = write
    return serializer.__dict__["_moments"]


# The dates' field as the model's DateFields map to it (no format of their own): it needs no binding to a serializer.
_DAY = serializers.DateField(read_only=True)


class RegisteredModelOutput(serializers.ModelSerializer):
    team = serializers.CharField(source="team_slug", read_only=True, help_text="The team's slug.")
    team_name = serializers.CharField(read_only=True)
    # The selectors put these on the row (registered_models_visible, with_owner_names): no objects per tag or owner;
    # to_representation() reads the validator's username from the row too (`validator_name`).
    tags = serializers.ListField(child=serializers.CharField(), source="tag_list", read_only=True)
    owners = serializers.ListField(child=serializers.CharField(), source="owner_names", read_only=True)
    validator = serializers.SlugRelatedField(slug_field="username", read_only=True)
    version_count = serializers.IntegerField(read_only=True)
    latest_version = serializers.CharField(
        source="latest_version_name", read_only=True, allow_null=True,
        help_text="The version added last, e.g. 1.4.0 (null before any).",
    )  # fmt: skip
    latest_version_at = serializers.DateTimeField(read_only=True, allow_null=True)
    url = serializers.SerializerMethodField(help_text="The model's page in the portal.")

    class Meta:
        model = RegisteredModel
        fields = [
            "slug", "name", "team", "team_name", "risk_tier", "eu_ai_act_category", "lifecycle_status",
            "description", "intended_use", "limitations", "tags", "owners", "validator", "last_validated_on",
            "next_validation_due", "source_repository_url", "source_path", "version_count", "latest_version",
            "latest_version_at", "created_at", "updated_at", "url",
        ]  # fmt: skip
        read_only_fields = fields

    def to_representation(self, model):
        """The fields above, written out. DRF's generic walk (per field and row: a source lookup, a SkipField check,
        a call) was most of a page's serialisation, 23 fields by 100 rows; the values are the fields' own
        (tests/inventory/test_api_rows.py holds the two to the same output)."""
        moment, day = _moments(self), _DAY.to_representation  # not self.fields: building them was a third of it
        return {
            "slug": model.slug, "name": model.name, "team": model.team_slug, "team_name": model.team_name,
            "risk_tier": model.risk_tier, "eu_ai_act_category": model.eu_ai_act_category,
            "lifecycle_status": model.lifecycle_status, "description": model.description,
            "intended_use": model.intended_use, "limitations": model.limitations, "tags": model.tag_list,
            "owners": list(model.owner_names), "validator": model.validator_name,
            "last_validated_on": day(model.last_validated_on), "next_validation_due": day(model.next_validation_due),
            "source_repository_url": model.source_repository_url, "source_path": model.source_path,
            "version_count": model.version_count, "latest_version": model.latest_version_name,
            "latest_version_at": moment(model.latest_version_at), "created_at": moment(model.created_at),
            "updated_at": moment(model.updated_at), "url": self.get_url(model),
        }  # fmt: skip

    def get_url(self, model) -> str:
        # reverse() takes ~40 µs: a page of 100 rows asks it once and puts each slug in (a slug is URL-safe as is).
        if not hasattr(self, "_url_prefix"):
            self._url_prefix = page_url(reverse("inventory:model-detail", args=["slug"])).removesuffix("slug/")
        return f"{self._url_prefix}{model.slug}/"


_URL_SAFE = re.compile(r"[A-Za-z0-9._+-]+")


class ModelVersionOutput(serializers.ModelSerializer):
    model = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    parent = serializers.SlugRelatedField(
        slug_field="version", read_only=True, help_text="The version of the same model this one derives from."
    )
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    url = serializers.SerializerMethodField(help_text="The version's page in the portal.")

    class Meta:
        model = ModelVersion
        fields = [
            "model", "version", "source", "artifact_uri", "artifact_digest", "git_commit_sha", "framework",
            "metrics", "parameters", "model_card", "training_data", "parent",
            "git_tag", "git_author", "git_committed_at", "stages", "deregistered", "source_metadata",
            "created_by", "created_at", "updated_at", "url",
        ]  # fmt: skip
        read_only_fields = fields

    def to_representation(self, version):
        """The fields above, written out, as RegisteredModelOutput's are (DRF's generic walk per field was most of a
        list's serialisation); tests/inventory/test_api_rows.py holds the two to the same output."""
        moment = _moments(self)  # not self.fields: building them was a third of one version's response
        parent = version.parent
        return {
            "model": version.model.slug, "version": version.version, "source": version.source,
            "artifact_uri": version.artifact_uri, "artifact_digest": version.artifact_digest,
            "git_commit_sha": version.git_commit_sha, "framework": version.framework, "metrics": version.metrics,
            "parameters": version.parameters, "model_card": version.model_card,
            "training_data": version.training_data, "parent": parent.version if parent is not None else None,
            "git_tag": version.git_tag, "git_author": version.git_author,
            "git_committed_at": moment(version.git_committed_at), "stages": version.stages,
            "deregistered": version.deregistered, "source_metadata": version.source_metadata,
            "created_by": version.created_by.username if version.created_by_id else None,
            "created_at": moment(version.created_at), "updated_at": moment(version.updated_at),
            "url": self.get_url(version),
        }  # fmt: skip

    def get_url(self, version) -> str:
        # reverse() takes ~40 µs: a page of versions (all of one model) asks it once per model. Version strings
        # hold only characters a URL keeps as they are (validate_version); any other is reversed, to be safe.
        if not _URL_SAFE.fullmatch(version.version):
            return page_url(reverse("inventory:version-detail", args=[version.model.slug, version.version]))
        slug = version.model.slug
        prefixes = self.__dict__.setdefault("_url_prefixes", {})
        if slug not in prefixes:
            url = reverse("inventory:version-detail", args=[slug, "version"])
            prefixes[slug] = page_url(url).removesuffix("version/")
        return f"{prefixes[slug]}{version.version}/"


class EnvironmentOutput(serializers.ModelSerializer):
    class Meta:
        model = Environment
        fields = ["slug", "name", "order", "protected", "description"]
        read_only_fields = fields


# --- input ------------------------------------------------------------------------------------------------------------


class ModelUpdateInput(StrictInput):
    """A model's metadata; on PATCH every field is optional and only those sent change."""

    name = serializers.CharField(max_length=120)
    risk_tier = serializers.ChoiceField(choices=RiskTier.choices)
    eu_ai_act_category = serializers.ChoiceField(choices=AIActCategory.choices)
    description = serializers.CharField(max_length=5000, allow_blank=True, trim_whitespace=False)
    intended_use = serializers.CharField(max_length=5000, allow_blank=True, trim_whitespace=False)
    limitations = serializers.CharField(max_length=5000, allow_blank=True, trim_whitespace=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=40), max_length=50)
    owners = serializers.SlugRelatedField(
        slug_field="username", queryset=_users(), many=True, help_text="Usernames of the model's owners."
    )
    validator = serializers.SlugRelatedField(
        slug_field="username", queryset=_users(), allow_null=True,
        help_text="Username of the independent validator (not an owner).",
    )  # fmt: skip
    last_validated_on = serializers.DateField(allow_null=True)
    next_validation_due = serializers.DateField(allow_null=True)
    source_repository_url = serializers.CharField(max_length=500, allow_blank=True)
    source_path = serializers.CharField(max_length=300, allow_blank=True)


class ModelRegisterInput(ModelUpdateInput):
    """A new model: name, team and risk tier are required; it starts in development."""

    team = serializers.SlugRelatedField(slug_field="slug", queryset=Team.objects.all(), help_text="Team slug.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.required = name in ("name", "team", "risk_tier")


class VersionUpdateInput(StrictInput):
    """A version's metadata; the version string and the Git provenance are not edited here."""

    artifact_uri = serializers.CharField(max_length=1000, allow_blank=True)
    artifact_digest = serializers.CharField(
        max_length=71, allow_blank=True, help_text="SHA-256 of the artifact: 64 hex digits, optionally 'sha256:'."
    )
    git_commit_sha = serializers.CharField(max_length=64, allow_blank=True, help_text="Full 40- or 64-digit SHA.")
    framework = serializers.CharField(max_length=50, allow_blank=True)
    metrics = serializers.DictField(help_text='Names to finite numbers, e.g. {"auc": 0.91}.')
    parameters = serializers.DictField(help_text='Training parameters, e.g. {"max_depth": 6}.')
    model_card = serializers.CharField(max_length=100_000, allow_blank=True, trim_whitespace=False)
    training_data = serializers.ListField(child=serializers.CharField(max_length=500), max_length=100)
    parent = serializers.CharField(
        max_length=64, allow_null=True, help_text="The version string of the same model it derives from, or null."
    )

    def validate_parent(self, value):
        """A version string of this model (context["model"]) → that version; null clears it."""
        if value is None:
            return None
        parent = versions_named(self.context, [value])[value]
        if parent is None:
            model = self.context["model"].name
            if value in self.context.get("batch", ()):
                raise serializers.ValidationError(
                    f"{model} has no version {value} yet: a parent is registered before the batch that names it."
                )
            raise serializers.ValidationError(f"{model} has no version {value}.")
        return parent


def versions_named(context: dict, names) -> dict:
    """{version string: that version of context["model"], or None}, each looked up once per body: a bulk body
    names many parents, and one query finds them all."""
    known = context.setdefault("versions_named", {})
    wanted = {name for name in names if isinstance(name, str) and name not in known}
    if wanted:
        # No ordering: the default (by model name) would join the models' table for nothing. Only what naming a
        # parent reads (its id, model and version string): not its model card, parameters and other JSON.
        named = context["model"].versions.filter(version__in=wanted).order_by().only("model", "version")
        found = {version.version: version for version in named}
        known.update({name: found.get(name) for name in wanted})
    return known


class VersionCreateInput(VersionUpdateInput):
    version = serializers.CharField(max_length=64, help_text="Used once per model, e.g. 2.1.0.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.required = name == "version"


def _flat_errors(detail, key: str) -> dict:
    """DRF's nested errors of a list of objects, flattened: {"versions[3].artifact_digest": [...]}."""
    if isinstance(detail, dict):
        flat = {}
        for name, value in detail.items():  # a list's errors come keyed by position
            inner = f"{key}[{name}]" if isinstance(name, int) else f"{key}.{name}"
            flat.update(_flat_errors(value, key if name == api_settings.NON_FIELD_ERRORS_KEY else inner))
        return flat
    if isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        flat = {}
        for index, item in enumerate(detail):
            flat.update(_flat_errors(item, f"{key}[{index}]"))
        return flat
    return {key: detail} if detail else {}


class VersionsBulkInput(StrictInput):
    """Many new versions of one model, registered all together or not at all."""

    versions = serializers.ListSerializer(
        child=VersionCreateInput(), allow_empty=False, max_length=MAX_VERSIONS_PER_BATCH,
        validators=[MinLengthValidator(1), MaxLengthValidator(MAX_VERSIONS_PER_BATCH)],  # the schema's bounds
        help_text=f"1 to {MAX_VERSIONS_PER_BATCH:,} new versions, each as for adding one version. A parent must "
        "already be registered.",
    )  # fmt: skip

    def to_internal_value(self, data):
        entries = data.get("versions") if isinstance(data, dict) else None
        if isinstance(entries, list) and len(entries) <= MAX_VERSIONS_PER_BATCH:
            # Before the entries are read one by one: the batch's version strings, and every parent in one query.
            strings = [
                {key: value for key in ("version", "parent") if isinstance(value := entry.get(key), str)}
                for entry in entries if isinstance(entry, dict)
            ]  # fmt: skip
            self.context["batch"] = {entry["version"] for entry in strings if "version" in entry}
            versions_named(
                self.context, [entry["parent"] for entry in strings if 0 < len(entry.get("parent", "")) <= 64]
            )
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not isinstance(exc.detail, dict):
                raise
            flat = {}
            for name, value in exc.detail.items():
                flat.update(_flat_errors(value, name))
            raise serializers.ValidationError(flat) from None


class VersionsBulkOutput(serializers.Serializer):
    versions = ModelVersionOutput(many=True, read_only=True, help_text="The versions made, in the order sent.")
