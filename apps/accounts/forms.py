from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import AuthenticationForm

from apps.core.forms import BootstrapMixin

from .models import Role


class LoginForm(BootstrapMixin, AuthenticationForm):
    pass


class GrantRoleForm(BootstrapMixin, forms.Form):
    user = forms.ModelChoiceField(queryset=None)
    role = forms.ChoiceField(choices=Role.choices)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")
