from django import forms

from apps.core.forms import BootstrapMixin

from .actions import Action


class AuditFilterForm(BootstrapMixin, forms.Form):
    actor = forms.CharField(required=False, max_length=200, help_text="Exact username or system name")
    action = forms.CharField(
        required=False, max_length=100, help_text="Prefix, e.g. model. or role.granted",
        widget=forms.TextInput(attrs={"list": "audit-actions", "autocomplete": "off"}),
    )  # fmt: skip
    target = forms.CharField(required=False, max_length=200)
    team = forms.ModelChoiceField(queryset=None, required=False, empty_label="All teams")
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="From (UTC)")
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), label="To (UTC)")

    def __init__(self, *args, teams, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams

    @staticmethod
    def action_suggestions() -> list[str]:
        """Entity prefixes ("model.") then every action in the catalogue, for the action field's datalist."""
        actions = sorted(action.value for action in Action)
        return sorted({action.split(".")[0] + "." for action in actions}) + actions

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_to"] < data["date_from"]:
            raise forms.ValidationError("The end date is before the start date.")
        return data
