from django import forms

from apps.core.forms import BootstrapMixin
from apps.inventory.models import RiskTier


class RepositoryForm(BootstrapMixin, forms.Form):
    """Add or edit a repository. The rules (URL, branch, credentials reference, duplicates) are the service's."""

    name = forms.CharField(max_length=120, help_text="A short name people recognise, e.g. credit-risk-models.")
    team = forms.ModelChoiceField(
        queryset=None, empty_label=None, help_text="Models found in the repository are registered in this team."
    )
    url = forms.CharField(
        label="URL",
        max_length=500,
        help_text="Where the workers fetch from: https://github.com/org/repo.git, git@github.com:org/repo.git, "
        "ssh://…, file:///path or a local path. No user name, password or token in the URL.",
    )
    branch = forms.CharField(
        max_length=255, initial="main", help_text="The branch the sync reads, e.g. main. Tags are read as well."
    )
    credential_ref = forms.CharField(
        label="Credentials",
        max_length=300,
        required=False,
        help_text="Where the worker finds the access token when it fetches: env:VARIABLE_NAME (an environment "
        "variable on the worker) or file:/absolute/path (a file the worker can read). The token itself is never "
        "stored in the portal: do not paste it here. Leave empty for public repositories and SSH keys.",
    )
    default_risk_tier = forms.ChoiceField(
        choices=RiskTier.choices,
        initial=RiskTier.HIGH,
        help_text="Risk tier for models found only through GTO tags (a govportal.yaml names its own).",
    )
    enabled = forms.BooleanField(
        required=False, initial=True, help_text="Disabled repositories are not synced: not on schedule, by webhook "
        "or by Sync now.",
    )  # fmt: skip

    def __init__(self, *args, teams=None, **kwargs):
        super().__init__(*args, **kwargs)
        if teams is None:
            del self.fields["team"]  # a repository stays with its team; the service does not move it
        else:
            self.fields["team"].queryset = teams

    def hide_rejected_secrets(self, redact) -> None:
        """Do not echo a refused token or URL password back into the page."""
        if not self.is_bound:
            return
        data = self.data.copy()
        if "credential_ref" in self.errors:
            data["credential_ref"] = ""
        if "url" in self.errors:
            data["url"] = redact(data.get("url", ""))
        self.data = data
