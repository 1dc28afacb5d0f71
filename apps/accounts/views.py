from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import OuterRef, Prefetch, Subquery
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from apps.audit.actors import Actor
from apps.core import request_context
from apps.core.forms import apply_errors, error_text

from . import permissions, services, tokens
from .forms import GrantRoleForm, LoginForm, ServiceAccountForm, TokenForm
from .models import Membership, ServiceToken, Team, User


class LoginView(auth_views.LoginView):
    """Django's login, styled, with each success and failure on the audit trail.

    Too many failures lock the username or the client address (accounts.lockout): a locked attempt is answered
    429 before the form, and so the password, is looked at.
    """

    form_class = LoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def _attempt(self) -> tuple[str, str | None]:
        return self.request.POST.get("username", "").strip(), request_context.client_ip(self.request.META)

    def post(self, request, *args, **kwargs):
        username, client_ip = self._attempt()
        lock = services.login_lock(username=username, client_ip=client_ip)
        if lock is not None:
            return self._locked(lock, username)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        response = super().form_valid(form)
        services.login_succeeded(user=form.get_user())
        return response

    def form_invalid(self, form):
        username, client_ip = self._attempt()
        if username:
            lock = services.login_failed(username=username, client_ip=client_ip)
            if lock is not None:
                return self._locked(lock, username)
        return super().form_invalid(form)

    def _locked(self, lock, username: str):
        form = self.get_form_class()(self.request, initial={"username": username})
        response = self.render_to_response(self.get_context_data(form=form, lock=lock), status=429)
        response["Retry-After"] = str(lock.seconds_left)
        return response


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
    memberships = list(team.memberships.select_related("user", "granted_by").order_by("user__username", "role"))
    can_manage = permissions.can(request.user, permissions.MANAGE_TEAM, team)
    tokens_shown = ServiceToken.objects.select_related("created_by").order_by("-created_at")
    return render(request, "accounts/team_detail.html", {
        "team": team,
        "memberships": memberships,
        "members": _members(memberships, can_manage=can_manage),
        "can_manage": can_manage,
        "form": GrantRoleForm(),
        # Only the team's admins (and superusers) see its service accounts and their tokens.
        "service_accounts": _service_accounts(team).prefetch_related(Prefetch("api_tokens", queryset=tokens_shown))
        if can_manage else None,
        "now": timezone.now(),
    })  # fmt: skip


def _members(memberships: list, *, can_manage: bool) -> list[dict]:
    """One row per person with all their roles (in `memberships`' order). A role is `revocable` unless taking it
    would leave the team without an admin, which the service refuses: no button that can only fail."""
    managers = sum(permissions.role_allows([m.role], permissions.MANAGE_TEAM) for m in memberships)
    members: dict[int, dict] = {}
    for membership in memberships:
        manages = permissions.role_allows([membership.role], permissions.MANAGE_TEAM)
        membership.revocable = can_manage and not (manages and managers <= 1)
        members.setdefault(membership.user_id, {"user": membership.user, "roles": []})["roles"].append(membership)
    return list(members.values())


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


# Service accounts and their API tokens: the team's admins (and superusers) add accounts, issue and revoke tokens.


def _token_key(pk) -> str:
    return f"accounts.token.{pk}"


def _managed_team(request, slug) -> Team:
    """A team the user may see (else 404) and manage (else 403)."""
    team = get_object_or_404(Team.objects.restrict(request.user), slug=slug)
    if not permissions.can(request.user, permissions.MANAGE_TEAM, team):
        raise PermissionDenied(f"Only admins of {team} manage its service accounts.")
    return team


def _service_accounts(team):
    """The service accounts made for `team`: those whose first membership is in it (as tokens.py decides)."""
    first_team = Membership.objects.filter(user=OuterRef("pk")).order_by("pk").values("team_id")[:1]
    accounts = User.objects.filter(is_service_account=True).annotate(owner_team_id=Subquery(first_team))
    return accounts.filter(owner_team_id=team.pk).order_by("username")


@login_required
def service_account_create(request, slug):
    team = _managed_team(request, slug)
    form = ServiceAccountForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            account = tokens.service_account_create(actor=Actor.of(request.user), team=team, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Added the service account {account.username}. Issue it a token.")
            return redirect("accounts:service-account-token-create", slug=slug, pk=account.pk)
    return render(request, "accounts/service_account_form.html", {"team": team, "form": form})


@login_required
def service_account_token_create(request, slug, pk):
    team = _managed_team(request, slug)
    account = get_object_or_404(_service_accounts(team), pk=pk)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            token, plaintext = tokens.token_create(actor=Actor.of(request.user), account=account, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            request.session[_token_key(token.pk)] = plaintext  # popped by the next page: shown exactly once
            return redirect("accounts:service-account-token-issued", slug=slug, pk=account.pk, token_pk=token.pk)
    return render(request, "accounts/service_account_token_form.html", {"team": team, "account": account, "form": form})


@login_required
@never_cache  # the page carries the full token, once
def service_account_token_issued(request, slug, pk, token_pk):
    team = _managed_team(request, slug)
    account = get_object_or_404(_service_accounts(team), pk=pk)
    token = get_object_or_404(account.api_tokens.select_related("created_by"), pk=token_pk)
    return render(request, "accounts/service_account_token_issued.html", {
        "team": team,
        "account": account,
        "token": token,
        "plaintext": request.session.pop(_token_key(token.pk), None),
        "base_url": settings.PORTAL_BASE_URL.rstrip("/"),
    })  # fmt: skip


@login_required
@require_http_methods(["GET", "POST"])
def service_account_token_revoke(request, slug, pk, token_pk):
    """GET asks for confirmation; POST revokes."""
    team = _managed_team(request, slug)
    account = get_object_or_404(_service_accounts(team), pk=pk)
    token = get_object_or_404(account.api_tokens.all(), pk=token_pk)
    if request.method == "GET":
        return render(request, "accounts/service_account_token_revoke.html", {
            "team": team, "account": account, "token": token,
        })  # fmt: skip
    if token.revoked_at is not None:
        messages.info(request, f"Token gpt_{token.prefix}_… was already revoked.")
    else:
        tokens.token_revoke(actor=Actor.of(request.user), token=token)
        messages.success(request, f"Revoked token gpt_{token.prefix}_… of {account.username}: it is refused now.")
    return redirect("accounts:team-detail", slug=slug)
