from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.accounts import permissions
from apps.accounts import services as account_services
from apps.audit import links
from apps.audit.actors import Actor
from apps.audit.selectors import audit_event_list_for_model, audit_event_list_for_version
from apps.core import paging
from apps.core.forms import apply_errors, error_text

from . import links as inventory_links
from . import selectors, services
from .forms import LifecycleForm, ModelForm, ShareForm, VersionForm
from .models import AIActCategory, Lifecycle, RiskTier

PAGE_SIZE = 25
HISTORY_PAGE_SIZE = 25  # a model's or version's audit history, newest first
VERSIONS_PAGE_SIZE = 20


# The page's query parameters (kept short for bookmarked URLs) → the shared FilterSet's (those of the API).
PAGE_PARAMS = {"q": "search", "team": "team", "risk": "risk_tier", "status": "lifecycle_status", "tag": "tag"}
PAGE_SORTS = {"name": "name", "-name": "-name", "updated": "-updated_at", "risk": "-risk"}


@login_required
def model_list(request):
    params = {key: request.GET.get(key, "").strip() for key in (*PAGE_PARAMS, "sort")}
    data = {PAGE_PARAMS[key]: params[key] for key in PAGE_PARAMS if params[key]}
    data["ordering"] = PAGE_SORTS.get(params["sort"], "name")
    cursor = request.GET.get("cursor")
    try:
        page = selectors.registered_model_list(user=request.user, data=data, cursor=cursor, per_page=PAGE_SIZE)
    except ValidationError as exc:  # a bad filter value: say which, and list without it
        messages.error(request, error_text(exc))
        bad = set(exc.message_dict)
        data = {key: value for key, value in data.items() if key not in bad}
        page = selectors.registered_model_list(user=request.user, data=data, per_page=PAGE_SIZE)
    return render(request, "inventory/model_list.html", {
        "page": page,
        # Each row links to its model: one reverse() and the slugs after it, not a {% url %} per row (slugs are
        # URL-safe as they are).
        "model_path": reverse("inventory:model-detail", args=["slug"]).removesuffix("slug/"),
        "params": params,
        "teams": selectors.teams_for_filter(user=request.user),
        "risk_tiers": RiskTier.choices,
        "statuses": Lifecycle.choices,
        "can_register": permissions.can_somewhere(request.user, permissions.REGISTER),
    })  # fmt: skip


@login_required
def model_detail(request, slug):
    model = selectors.registered_model_get(user=request.user, slug=slug, with_owners=True)
    versions_page = paging.get_page(
        selectors.model_version_list(model=model, summary=True), per_page=VERSIONS_PAGE_SIZE,
        number=request.GET.get("versions_page"), count=model.version_count,
    )  # fmt: skip
    versions = list(versions_page)
    history_page = paging.get_page(
        audit_event_list_for_model(model=model, user=request.user), per_page=HISTORY_PAGE_SIZE,
        number=request.GET.get("history_page"),
    )  # fmt: skip
    return render(request, "inventory/model_detail.html", {
        "model": model,
        "versions": versions_page,
        "history": links.attach_target_urls(history_page, known=inventory_links.known_urls(model, versions)),
        "history_page": history_page,
        "can_change": permissions.can(request.user, permissions.CHANGE, model),
        "can_lifecycle": permissions.can(request.user, permissions.CHANGE_LIFECYCLE, model),
        "can_share": permissions.can(request.user, permissions.MANAGE_TEAM, model.team),
        "can_export_dossier": permissions.can(request.user, permissions.EXPORT_AUDIT, model),
        "lifecycle_form": LifecycleForm(),
        "share_form": ShareForm(),
    })  # fmt: skip


@login_required
def model_create(request):
    teams = selectors.teams_where(user=request.user, action=permissions.REGISTER)
    if not teams.exists():
        raise PermissionDenied("You are not a contributor or admin of any team.")
    form = ModelForm(request.POST or None, teams=teams, initial={"eu_ai_act_category": AIActCategory.MINIMAL})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            model = services.registered_model_register(actor=Actor.of(request.user), **data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Registered {model.name}.")
            return redirect("inventory:model-detail", slug=model.slug)
    return render(request, "inventory/model_form.html", {"form": form, "model": None})


@login_required
def model_edit(request, slug):
    model = selectors.registered_model_get(user=request.user, slug=slug, action=permissions.CHANGE)
    initial = {field: getattr(model, field) for field in services.MODEL_FIELDS} | {
        "owners": list(model.owners.all()),
        "tags": ", ".join(tag.name for tag in model.tags.all()),
    }
    form = ModelForm(request.POST or None, teams=None, editing=True, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.registered_model_update(actor=Actor.of(request.user), model=model, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, "Saved.")
            return redirect("inventory:model-detail", slug=model.slug)  # the slug never changes: links stay valid
    return render(request, "inventory/model_form.html", {"form": form, "model": model})


@login_required
@require_POST
def model_lifecycle(request, slug):
    model = selectors.registered_model_get(user=request.user, slug=slug)
    form = LifecycleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a status and give a reason.")
        return redirect("inventory:model-detail", slug=slug)
    try:
        services.registered_model_set_lifecycle(actor=Actor.of(request.user), model=model, **form.cleaned_data)
        messages.success(request, f"{model.name} is now in {Lifecycle(form.cleaned_data['status']).label.lower()}.")
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, error_text(exc))
    return redirect("inventory:model-detail", slug=slug)


@login_required
@require_POST
def model_share(request, slug):
    model = selectors.registered_model_get(user=request.user, slug=slug)
    form = ShareForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a user and a permission.")
        return redirect("inventory:model-detail", slug=slug)
    user, action = form.cleaned_data["user"], form.cleaned_data["action"]
    service = (
        account_services.object_permission_revoke
        if request.POST.get("revoke")
        else account_services.object_permission_grant
    )
    try:
        service(actor=Actor.of(request.user), user=user, action=action, obj=model)
        verb = "Revoked" if request.POST.get("revoke") else "Granted"
        messages.success(request, f"{verb} {action} on {model.name} for {user.username}.")
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, error_text(exc))
    return redirect("inventory:model-detail", slug=slug)


def _version_parents(model):
    return selectors.model_version_list(model=model)


@login_required
def version_detail(request, slug, version):
    obj = selectors.model_version_get(user=request.user, slug=slug, version=version, with_children=True)
    history_page = paging.get_page(
        audit_event_list_for_version(version=obj, user=request.user), per_page=HISTORY_PAGE_SIZE,
        number=request.GET.get("history_page"),
    )  # fmt: skip
    return render(request, "inventory/version_detail.html", {
        "version": obj,
        "model": obj.model,
        "children": obj.derived_versions,
        "history": links.attach_target_urls(history_page, known=inventory_links.known_urls(obj.model, [obj])),
        "history_page": history_page,
        "can_view_audit": permissions.can_view_audit(request.user),
        "can_request": permissions.can(request.user, permissions.REQUEST_DEPLOY, obj.model),
        "can_change": permissions.can(request.user, permissions.CHANGE, obj.model),
    })  # fmt: skip


@login_required
def version_create(request, slug):
    model = selectors.registered_model_get(user=request.user, slug=slug, action=permissions.CHANGE)
    form = VersionForm(request.POST or None, parents=_version_parents(model))
    if request.method == "POST" and form.is_valid():
        try:
            obj = services.model_version_create(actor=Actor.of(request.user), model=model, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, f"Added version {obj.version}.")
            return redirect("inventory:version-detail", slug=slug, version=obj.version)
    return render(request, "inventory/version_form.html", {"form": form, "model": model, "version": None})


@login_required
def version_edit(request, slug, version):
    obj = selectors.model_version_get(user=request.user, slug=slug, version=version, action=permissions.CHANGE)
    initial = {field: getattr(obj, field) for field in services.VERSION_FIELDS}
    parents = _version_parents(obj.model).exclude(pk=obj.pk)
    form = VersionForm(request.POST or None, parents=parents, editing=True, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.model_version_update(actor=Actor.of(request.user), version=obj, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, "Saved.")
            return redirect("inventory:version-detail", slug=slug, version=obj.version)
    return render(request, "inventory/version_form.html", {"form": form, "model": obj.model, "version": obj})
