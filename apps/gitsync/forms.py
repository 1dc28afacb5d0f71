from django import forms

from apps.accounts.models import GrantedCredential
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
        "ssh://… (file:// and local paths only where a portal administrator allows them). No user name, password or "
        "token in the URL.",
    )
    branch = forms.CharField(
        max_length=255, initial="main", help_text="The branch the sync reads, e.g. main. Tags are read as well."
    )
    credential = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label="None (a public repository, or SSH keys on the worker)",
        help_text="A credential a portal administrator granted to the team. It is sent only over https or ssh, and "
        "only to the hosts the administrator allowed for it.",
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

    def __init__(self, *args, teams=None, credentials=None, **kwargs):
        super().__init__(*args, **kwargs)
        if teams is None:
            del self.fields["team"]  # a repository stays with its team; the service does not move it
        else:
            self.fields["team"].queryset = teams
        self.fields["credential"].queryset = (
            credentials if credentials is not None else GrantedCredential.objects.none()
        )

    def hide_rejected_secrets(self, holds_secret) -> None:
        """Do not echo a URL refused for the token or password in it back into the page."""
        if not self.is_bound or "url" not in self.errors or not holds_secret(self.data.get("url", "")):
            return
        data = self.data.copy()
        data["url"] = ""
        self.data = data
