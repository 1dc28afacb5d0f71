import json

from django import forms
from django.contrib.auth import get_user_model

from apps.core.forms import BootstrapMixin
from apps.core.inputs import contains_nul

from .models import AIActCategory, Lifecycle, RiskTier


class JSONObjectField(forms.CharField):
    """A textarea holding a JSON object (metrics, parameters) or list (references)."""

    def __init__(self, *args, expect=dict, **kwargs):
        self.expect = expect
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 4, "class": "font-monospace"}))
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, (dict, list)):
            return json.dumps(value, indent=2, sort_keys=True)
        return value

    def clean(self, value):
        value = super().clean(value)
        if not value or not value.strip():
            return self.expect()
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).") from None
        if not isinstance(parsed, self.expect):
            kind = "an object {…}" if self.expect is dict else "a list […]"
            raise forms.ValidationError(f"Enter JSON {kind}.")
        if contains_nul(parsed):  # PostgreSQL's jsonb cannot hold one
            raise forms.ValidationError("JSON may not contain a NUL character (\\u0000).")
        return parsed


class UserChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.display_name} ({obj.username})"


class ModelForm(BootstrapMixin, forms.Form):
    """Register or edit a model's metadata. Validation of rules is the service's job."""

    name = forms.CharField(max_length=120)
    team = forms.ModelChoiceField(queryset=None, empty_label=None)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000)
    risk_tier = forms.ChoiceField(choices=RiskTier.choices)
    eu_ai_act_category = forms.ChoiceField(choices=AIActCategory.choices, label="EU AI Act category")
    intended_use = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000)
    limitations = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000)
    owners = UserChoiceField(queryset=None, required=False, widget=forms.SelectMultiple(attrs={"size": 6}))
    validator = forms.ModelChoiceField(queryset=None, required=False, help_text="Must not be an owner.")
    tags = forms.CharField(required=False, help_text="Comma-separated, e.g. credit, scorecard", max_length=1000)
    source_repository_url = forms.CharField(required=False, max_length=500, label="Source repository")
    source_path = forms.CharField(required=False, max_length=300)
    last_validated_on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    next_validation_due = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, teams, editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        users = get_user_model().objects.filter(is_active=True).order_by("username")
        self.fields["team"].queryset = teams
        self.fields["owners"].queryset = users
        self.fields["validator"].queryset = users
        if editing:
            del self.fields["team"]  # a model stays in its team: its requests and audit events are scoped by it

    def clean_tags(self):
        return [tag.strip() for tag in self.cleaned_data["tags"].split(",") if tag.strip()]


class LifecycleForm(BootstrapMixin, forms.Form):
    status = forms.ChoiceField(choices=Lifecycle.choices, label="New status")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=1000)


class VersionForm(BootstrapMixin, forms.Form):
    version = forms.CharField(max_length=64, help_text="e.g. 2.1.0")
    git_commit_sha = forms.CharField(required=False, max_length=64, label="Git commit SHA")
    artifact_uri = forms.CharField(required=False, max_length=1000, label="Artifact URI")
    artifact_digest = forms.CharField(required=False, max_length=71, label="Artifact SHA-256 digest")
    framework = forms.CharField(required=False, max_length=50)
    metrics = JSONObjectField(help_text='e.g. {"auc": 0.91, "ks": 0.42}')
    parameters = JSONObjectField(help_text='e.g. {"max_depth": 6}')
    training_data = JSONObjectField(expect=list, label="Training data references", help_text='e.g. ["s3://…/2026-10"]')
    parent = forms.ModelChoiceField(queryset=None, required=False, label="Derived from")
    model_card = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 10, "class": "font-monospace"}),
        required=False,
        max_length=100_000,
        help_text="Markdown.",
    )

    def __init__(self, *args, parents, editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["parent"].queryset = parents
        if editing:
            del self.fields["version"]


class ShareForm(BootstrapMixin, forms.Form):
    user = forms.ModelChoiceField(queryset=None)
    action = forms.ChoiceField(choices=[("view", "View"), ("change", "Change")])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")
