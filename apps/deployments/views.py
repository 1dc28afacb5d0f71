from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_POST

from apps.accounts import permissions
from apps.audit import links
from apps.audit.actors import Actor
from apps.core.forms import apply_errors, error_text, filter_error_text
from apps.inventory import models as inventory_models
from apps.inventory import selectors as inventory

from . import breakglass, selectors, services
from .forms import BreakGlassForm, PointInTimeForm
from .models import DriftStatus, TargetStatus

PAGE_SIZE = 25
INTERVALS_PAGE_SIZE = 20
HISTORY_PAGE_SIZE = 25  # a target's audit history, newest first, as on the model and request pages
STATUS_FILTERS = [(selectors.ANY_EXCEPTION, "Any exception"), *DriftStatus.choices]
# The target page's query parameters (in bookmarks and links) → the shared FilterSet's (those of the API).
TARGET_PARAMS = {"environment": "environment", "status": "last_status"}


def _params(request, *keys) -> dict[str, str]:
    return {key: request.GET.get(key, "").strip() for key in keys}


@login_required
def matrix(request):
    params = _params(request, "team", "environment", "status")
    status = params["status"] if params["status"] in dict(STATUS_FILTERS) else None
    matrix = selectors.drift_matrix(user=request.user, team=params["team"] or None,
                                    environment=params["environment"] or None, status=status,
                                    cursor=request.GET.get("cursor"), per_page=PAGE_SIZE)  # fmt: skip
    return render(request, "deployments/matrix.html", {
        "page": matrix.page,
        "exceptions": matrix.exceptions,
        "more_exceptions": matrix.more_exceptions,
        "columns": matrix.environments,
        "params": params,
        "teams": inventory.teams_for_filter(user=request.user),
        "environments": selectors.environment_list(),
        "statuses": STATUS_FILTERS,
        "open_break_glass": selectors.break_glass_list(user=request.user).filter(closed_at__isnull=True)[:10],
    })  # fmt: skip


@login_required
def target_list(request):
    params = _params(request, *TARGET_PARAMS)
    data = {TARGET_PARAMS[key]: value for key, value in params.items() if value}
    try:
        targets = selectors.target_list(user=request.user, data=data)
    except ValidationError as exc:  # a bad filter value: say which, and list without it
        messages.error(request, filter_error_text(exc, TARGET_PARAMS))
        data = {key: value for key, value in data.items() if key not in exc.message_dict}
        targets = selectors.target_list(user=request.user, data=data)
    page = Paginator(targets, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "deployments/target_list.html", {
        "page": page,
        "params": params,
        "environments": selectors.environment_list(),
        "statuses": TargetStatus.choices,
        "is_portal_admin": permissions.is_portal_admin(request.user),
    })  # fmt: skip


@login_required
def target_detail(request, pk):
    target = selectors.target_get(user=request.user, pk=pk)
    intervals = Paginator(selectors.target_intervals(target=target), INTERVALS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    running = list(selectors.target_intervals(target=target).filter(until__isnull=True))
    shown = {row.model_id for row in [*running, *intervals]}
    history_page = Paginator(selectors.target_history(user=request.user, target=target), HISTORY_PAGE_SIZE).get_page(
        request.GET.get("history_page")
    )
    return render(request, "deployments/target_detail.html", {
        "target": target,
        "running": running,
        "intervals": intervals,
        "visible_models": selectors.visible_model_ids(user=request.user, model_ids=shown),
        "history": links.attach_target_urls(list(history_page)),
        "history_page": history_page,
        "can_observe": permissions.can(request.user, permissions.MANAGE_TEAM, target),
        "can_view_audit": permissions.can_view_audit(request.user),
        "is_portal_admin": permissions.is_portal_admin(request.user),
    })  # fmt: skip


@login_required
@require_POST
def target_observe(request, pk):
    target = selectors.target_get(user=request.user, pk=pk)
    try:
        queued = services.target_request_observe(actor=Actor.of(request.user), target=target)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        if queued and settings.CELERY_TASK_ALWAYS_EAGER:  # no broker: observed in this request
            messages.success(request, "Observed: what runs now is below.")
        elif queued:
            messages.success(request, "Observation queued: a worker picks it up; reload to see the result.")
        else:
            messages.info(request, "An observation is already queued; your request joins it.")
    return redirect("deployments:target-detail", pk=pk)


@login_required
@require_GET
def point_in_time(request, slug):
    """What ran for a model in an environment at a time: the model page asks through htmx (the answer alone);
    without JavaScript the form lands here (the whole page)."""
    model = inventory.registered_model_get(user=request.user, slug=slug)
    form = PointInTimeForm(request.GET or None)
    answer = None
    if form.is_valid():
        data = form.cleaned_data
        answer = selectors.deployed_at(user=request.user, model=model, environment=data["environment"],
                                       moment=data["moment"])  # fmt: skip
    fragment = request.headers.get("HX-Request") == "true"
    template = "deployments/_point_in_time_answer.html" if fragment else "deployments/point_in_time.html"
    response = render(request, template, {"model": model, "form": form, "answer": answer})
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
def break_glass_list(request):
    records = selectors.break_glass_list(user=request.user)
    page = Paginator(records, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "deployments/break_glass_list.html", {
        "page": page, "can_record": permissions.is_portal_admin(request.user),
    })  # fmt: skip


@login_required
def break_glass_new(request):
    if not permissions.is_portal_admin(request.user):
        raise PermissionDenied("Only portal administrators record emergency deployments.")
    form = BreakGlassForm(request.POST or None, initial=request.GET.dict() if request.method == "GET" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        version = inventory_models.ModelVersion.objects.filter(
            model__slug=data["model"], version=data["version"]
        ).select_related("model").first()  # fmt: skip
        if version is None:
            form.add_error("version", f"{data['model']} has no version {data['version']}.")
        else:
            try:
                breakglass.break_glass_record(actor=Actor.of(request.user), version=version,
                                              environment=data["environment"], reason=data["reason"],
                                              deploy=data["deploy"])  # fmt: skip
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.warning(request, "Emergency deployment recorded. It stays an open exception until a "
                                 "post-hoc request for the same version and environment is approved.")  # fmt: skip
                return redirect("deployments:break-glass")
    return render(request, "deployments/break_glass_form.html", {"form": form})
