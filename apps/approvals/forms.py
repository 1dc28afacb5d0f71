import json

from django import forms
from django.contrib.auth import get_user_model

from apps.accounts.models import Role, Team
from apps.core.forms import BootstrapMixin
from apps.core.inputs import contains_nul
from apps.inventory.models import Environment, RiskTier

from .models import ApproverKind, Outcome


class RequestDeploymentForm(BootstrapMixin, forms.Form):
    environment = forms.ModelChoiceField(queryset=Environment.objects.all(), empty_label=None)
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), max_length=5000,
        help_text="Why this version, why now: approvers read this first.",
    )  # fmt: skip


class DecisionForm(BootstrapMixin, forms.Form):
    outcome = forms.ChoiceField(choices=Outcome.choices, widget=forms.HiddenInput)
    comment = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000, help_text="Required when you reject."
    )
    password = forms.CharField(
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        required=False,
        label="Your password (electronic signature)",
    )
    step = forms.IntegerField(widget=forms.HiddenInput, required=False)


class CancelForm(BootstrapMixin, forms.Form):
    reason = forms.CharField(required=False, max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))


class PolicyForm(BootstrapMixin, forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
    environment = forms.ModelChoiceField(
        queryset=Environment.objects.all(), required=False, empty_label="Every environment"
    )
    risk_tiers = forms.MultipleChoiceField(
        choices=RiskTier.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every tier.",
    )
    active = forms.BooleanField(required=False, initial=True)
    require_model_card = forms.BooleanField(required=False, initial=True)
    require_digest = forms.BooleanField(required=False, initial=True, label="Require artifact digest")
    require_previous_environment = forms.BooleanField(
        required=False, label="Require approval for the previous environment"
    )
    require_current_validation = forms.BooleanField(required=False, label="Require model validation not overdue")
    metric_thresholds = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3, "class": "font-monospace"}),
        help_text='JSON list, e.g. [{"metric": "auc", "op": ">=", "value": 0.8}]',
    )  # fmt: skip
    expiry_days = forms.IntegerField(min_value=1, max_value=365, initial=14)

    def clean_metric_thresholds(self):
        text = self.cleaned_data["metric_thresholds"].strip()
        if not text:
            return []
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from None
        if not isinstance(value, list):
            raise forms.ValidationError("Enter a JSON list of threshold rules.")
        if contains_nul(value):  # PostgreSQL's jsonb cannot hold one
            raise forms.ValidationError("JSON may not contain a NUL character (\\u0000).")
        return value


class StepForm(BootstrapMixin, forms.Form):
    name = forms.CharField(max_length=100)
    # An initial value equal to the select's first option: the blank extra step a browser posts back unchanged
    # must count as unchanged, or the formset demands a name for it and no policy can be saved.
    approver_kind = forms.ChoiceField(choices=ApproverKind.choices, label="Who approves", initial=ApproverKind.ROLE)
    role = forms.ChoiceField(choices=[("", "—"), *Role.choices], required=False)
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False)
    users = forms.ModelMultipleChoiceField(
        queryset=None, required=False, widget=forms.SelectMultiple(attrs={"size": 4})
    )
    quorum = forms.IntegerField(min_value=1, max_value=20, initial=1)
    requires_signature = forms.BooleanField(required=False, initial=True, label="E-signature")
    due_hours = forms.IntegerField(min_value=1, max_value=24 * 90, initial=72, label="Due (hours)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["users"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")


StepFormSet = forms.formset_factory(StepForm, extra=1, can_delete=True, min_num=1, validate_min=True, max_num=10)
