from django import forms

from apps.audit import scopes
from apps.audit.actions import Action
from apps.core.forms import BootstrapMixin


class AuditFilterForm(BootstrapMixin, forms.Form):
    """Renders the audit filters; parsing and refusal are exports.filters.parse(), shared with exports."""

    actor = forms.CharField(required=False, max_length=200, help_text="Username or system name")
    action = forms.CharField(
        required=False, max_length=100, help_text="Prefix, e.g. model. or role.granted",
        widget=forms.TextInput(attrs={"list": "audit-actions", "autocomplete": "off"}),
    )  # fmt: skip
    target = forms.CharField(required=False, max_length=200)
    team = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    model = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    environment = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    version = forms.IntegerField(required=False, min_value=1, label="Version id")
    request = forms.IntegerField(required=False, min_value=1, label="Request #")
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From (UTC)")
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To (UTC)")

    def __init__(self, *args, teams, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].choices = [("", "All teams"), *((team.pk, team.name) for team in teams)]
        self.fields["model"].choices = [("", "All models"), *scopes.choices("model", user)]
        self.fields["environment"].choices = [("", "All environments"), *scopes.choices("environment", user)]

    @staticmethod
    def action_suggestions() -> list[str]:
        """Entity prefixes ("model.") then every action in the catalogue, for the action field's datalist."""
        actions = sorted(action.value for action in Action)
        return sorted({action.split(".")[0] + "." for action in actions}) + actions
