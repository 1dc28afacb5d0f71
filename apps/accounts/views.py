from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.audit.actors import Actor
from apps.core.forms import error_text

from . import permissions, services
from .forms import GrantRoleForm, LoginForm
from .models import Membership, Team


class LoginView(auth_views.LoginView):
    """Django's login, styled, with each success and failure on the audit trail."""

    form_class = LoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        services.login_succeeded(user=form.get_user())
        return response

    def form_invalid(self, form):
        username = self.request.POST.get("username", "").strip()
        if username:
            services.login_failed(username=username)
        return super().form_invalid(form)


class LogoutView(auth_views.LogoutView):
    def post(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            services.logged_out(user=request.user)
        return super().post(request, *args, **kwargs)


@login_required
def team_list(request):
    teams = Team.objects.restrict(request.user).prefetch_related("memberships__user").order_by("name")
    return render(request, "accounts/team_list.html", {"teams": teams})


@login_required
def team_detail(request, slug):
    team = get_object_or_404(Team.objects.restrict(request.user), slug=slug)
    memberships = team.memberships.select_related("user", "granted_by").order_by("user__username", "role")
    return render(request, "accounts/team_detail.html", {
        "team": team,
        "memberships": memberships,
        "can_manage": permissions.can(request.user, permissions.MANAGE_TEAM, team),
        "form": GrantRoleForm(),
    })  # fmt: skip


@login_required
@require_POST
def team_grant(request, slug):
    team = get_object_or_404(Team.objects.restrict(request.user), slug=slug)
    form = GrantRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a user and a role.")
        return redirect("accounts:team-detail", slug=slug)
    try:
        services.membership_grant(actor=Actor.of(request.user), team=team, **form.cleaned_data)
        messages.success(request, f"{form.cleaned_data['user'].username} is now {form.cleaned_data['role']}.")
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, error_text(exc))
    return redirect("accounts:team-detail", slug=slug)


@login_required
@require_POST
def team_revoke(request, slug, pk):
    team = get_object_or_404(Team.objects.restrict(request.user), slug=slug)
    membership = get_object_or_404(Membership, pk=pk, team=team)
    try:
        services.membership_revoke(actor=Actor.of(request.user), membership=membership)
        messages.success(request, f"Revoked {membership.role} from {membership.user.username}.")
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, error_text(exc))
    return redirect("accounts:team-detail", slug=slug)
