from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from apps.accounts import credentials, permissions
from apps.accounts.models import GrantedCredential, Team
from apps.audit.actors import Actor
from apps.core.forms import apply_errors, error_text, filter_error_text
from apps.inventory.models import RegisteredModel, RiskTier

from . import selectors, services
from .forms import RepositoryForm
from .models import GitRepository, SyncStatus

PAGE_SIZE = 25
RUNS_PAGE_SIZE = 20
MODELS_SHOWN = 20
WEBHOOK_PATH = "/hooks/github/"


def _secret_key(pk) -> str:
    return f"gitsync.webhook_secret.{pk}"


def _show_secret_once(request, repository, secret: str) -> None:
    """Keep the plain secret in the session until the detail page pops it: it is shown exactly once."""
    request.session[_secret_key(repository.pk)] = secret


def _visible(request, pk) -> GitRepository:
    """A repository the user may see, else 404 (the same answer whether it exists or not)."""
    return get_object_or_404(GitRepository.objects.restrict(request.user).select_related("team", "created_by"), pk=pk)


def _manageable_teams(user):
    return Team.objects.filter(pk__in=permissions.team_ids_with(user, permissions.MANAGE_TEAM)).order_by("name")


def _may_add(user) -> bool:
    """Does `user` manage a team (and so may add its repositories)? From the roles this request holds, if it does."""
    teams = permissions.team_ids_now(user, permissions.MANAGE_TEAM)
    return bool(teams) if isinstance(teams, list) else Team.objects.filter(pk__in=teams).exists()


# The page's query parameters (short, in bookmarks and links) → the shared FilterSet's (those of the API).
PAGE_PARAMS = {"q": "search", "team": "team", "status": "status"}


@login_required
def repository_list(request):
    params = {key: request.GET.get(key, "").strip() for key in PAGE_PARAMS}
    data = {PAGE_PARAMS[key]: value for key, value in params.items() if value}
    cursor = request.GET.get("cursor")
    try:
        page = selectors.git_repository_page(user=request.user, data=data, cursor=cursor, per_page=PAGE_SIZE)
    except ValidationError as exc:  # a bad filter value: say which, and list without it
        messages.error(request, filter_error_text(exc, PAGE_PARAMS))
        data = {key: value for key, value in data.items() if key not in exc.message_dict}
        page = selectors.git_repository_page(user=request.user, data=data, per_page=PAGE_SIZE)
    visible = GitRepository.objects.restrict(request.user)
    return render(request, "gitsync/repository_list.html", {
        "page": page,
        "params": params,
        "teams": Team.objects.filter(Exists(visible.filter(team=OuterRef("pk")))).order_by("name"),
        "statuses": SyncStatus.choices,
        "can_add": _may_add(request.user),
    })  # fmt: skip


@login_required
@never_cache  # the page may carry a freshly made webhook secret
def repository_detail(request, pk):
    repository = _visible(request, pk)
    runs = Paginator(repository.runs.all(), RUNS_PAGE_SIZE).get_page(request.GET.get("page"))
    models = RegisteredModel.objects.restrict(request.user).filter(source_repository_url=repository.url)
    return render(request, "gitsync/repository_detail.html", {
        "repository": repository,
        "secret": request.session.pop(_secret_key(repository.pk), None),
        "payload_url": settings.PORTAL_BASE_URL.rstrip("/") + WEBHOOK_PATH,
        "runs": runs,
        "models": models.order_by("name")[:MODELS_SHOWN],
        "model_count": models.count(),
        "can_manage": permissions.can(request.user, permissions.MANAGE_TEAM, repository),
        "can_sync": permissions.can(request.user, permissions.REGISTER, repository),
    })  # fmt: skip


@login_required
def repository_create(request):
    teams = _manageable_teams(request.user)
    if not teams.exists():
        raise PermissionDenied("Only team admins can add repositories.")
    initial = {"branch": "main", "enabled": True, "default_risk_tier": RiskTier.HIGH}
    if teams.count() == 1:
        initial["team"] = teams.first()
    granted = GrantedCredential.objects.filter(teams__in=teams, enabled=True).distinct().order_by("name")
    form = RepositoryForm(request.POST or None, teams=teams, credentials=granted, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            repository, secret = services.repository_create(actor=Actor.of(request.user), **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            _show_secret_once(request, repository, secret)
            messages.success(request, f"Added {repository.name}.")
            return redirect("gitsync:repository-detail", pk=repository.pk)
    form.hide_rejected_secrets(services.url_secret_error)
    return render(request, "gitsync/repository_form.html", {"form": form, "repository": None})


@login_required
def repository_edit(request, pk):
    repository = _visible(request, pk)
    if not permissions.can(request.user, permissions.MANAGE_TEAM, repository):
        raise PermissionDenied(f"Only admins of {repository.team} can edit this repository.")
    initial = {field: getattr(repository, field) for field in services.REPOSITORY_FIELDS}
    granted = credentials.credentials_for_team(repository.team) | GrantedCredential.objects.filter(
        pk=repository.credential_id
    )  # the current one stays selectable (and shown) even when a portal admin disabled it
    form = RepositoryForm(request.POST or None, credentials=granted.distinct().order_by("name"), initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.repository_update(actor=Actor.of(request.user), repository=repository, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, "Saved.")
            return redirect("gitsync:repository-detail", pk=repository.pk)
    form.hide_rejected_secrets(services.url_secret_error)
    return render(request, "gitsync/repository_form.html", {"form": form, "repository": repository})


@login_required
@require_POST
def repository_sync(request, pk):
    repository = _visible(request, pk)
    try:
        queued = services.repository_request_sync(actor=Actor.of(request.user), repository=repository)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        if queued and settings.CELERY_TASK_ALWAYS_EAGER:  # no broker: the sync ran in this request
            messages.success(request, "Synced: the run is at the top of the list.")
        elif queued:
            messages.success(request, "Sync queued: a worker picks it up; reload to see the run.")
        else:
            messages.info(request, "A sync is already queued; your request joins it.")
    return redirect("gitsync:repository-detail", pk=pk)


@login_required
@require_POST
def repository_rotate_secret(request, pk):
    repository = _visible(request, pk)
    secret = services.repository_rotate_webhook_secret(actor=Actor.of(request.user), repository=repository)
    _show_secret_once(request, repository, secret)
    messages.success(request, "Webhook secret replaced. Give GitHub the new one: deliveries signed with the old one "
                     "are refused from now on.")  # fmt: skip
    return redirect("gitsync:repository-detail", pk=pk)
