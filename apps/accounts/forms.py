from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm

from apps.core.forms import BootstrapMixin

from .models import Role, TokenScope
from .tokens import MAX_DAYS


class LoginForm(BootstrapMixin, AuthenticationForm):
    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if user.is_service_account:  # even if someone gave it a password: it acts only through its tokens
            raise self.get_invalid_login_error()


class GrantRoleForm(BootstrapMixin, forms.Form):
    user = forms.ModelChoiceField(queryset=None, label="Person", empty_label="Choose a person…")
    role = forms.ChoiceField(choices=Role.choices)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")
        self.fields["user"].label_from_instance = _user_label


def _user_label(user) -> str:
    return f"{user.username} (service account)" if user.is_service_account else user.username


class ServiceAccountForm(BootstrapMixin, forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What acts as it, e.g. churn-ci. Its user name will be svc-<name>."
    )
    description = forms.CharField(
        required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Which pipeline uses it and who looks after it (kept on the audit trail).",
    )  # fmt: skip


class TokenForm(BootstrapMixin, forms.Form):
    name = forms.CharField(max_length=100, help_text="Where the token lives, e.g. GitHub Actions of churn-model.")
    scopes = forms.MultipleChoiceField(
        choices=TokenScope.choices, widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one scope."},
        help_text="What the token may do; the service account's roles in the team bound it as well.",
    )  # fmt: skip
    expires_in_days = forms.IntegerField(
        label="Expires after (days)", min_value=1, max_value=MAX_DAYS, initial=90,
        help_text=f"1 to {MAX_DAYS} days. Issue a new token before this one expires.",
    )  # fmt: skip
