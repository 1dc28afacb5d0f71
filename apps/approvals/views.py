import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from apps.accounts import permissions
from apps.accounts.signatures import SignatureError
from apps.audit import links
from apps.audit.actors import Actor
from apps.audit.selectors import audit_event_list_for_request
from apps.core.exceptions import DomainError
from apps.core.forms import apply_errors
from apps.core.inputs import parse_id
from apps.inventory.models import Environment, ModelVersion

from . import evidence, selectors, services
from .forms import CancelForm, DecisionForm, PolicyForm, RequestDeploymentForm, StepFormSet
from .models import ApprovalPolicy, RequestState

HISTORY_PAGE_SIZE = 25  # a request's audit history, newest first


@login_required
def inbox(request):
    waiting = list(selectors.waiting_for(user=request.user))
    mine = selectors.deployment_request_list(user=request.user, requester=request.user, summary=True)[:25]
    # The navigation's badge counts the same steps: the list gives it, so the layout does not count them again.
    return render(
        request, "approvals/inbox.html", {"waiting": waiting, "mine": mine, "approvals_waiting": len(waiting)}
    )


@login_required
def request_list(request):
    params = {key: request.GET.get(key, "").strip() for key in ("state", "environment", "version")}
    data = {"state": [params["state"]] if params["state"] else [], "environment": params["environment"],
            "version_id": params["version"]}  # fmt: skip
    try:
        page = selectors.deployment_request_page(user=request.user, data=data, cursor=request.GET.get("cursor"))
    except ValidationError as exc:  # a bad filter value: say which, and list without it
        messages.error(request, " ".join(f"{name.replace('_id', '')}: {' '.join(errors)}"
                                         for name, errors in exc.message_dict.items()))  # fmt: skip
        data = {key: value for key, value in data.items() if key not in exc.message_dict}
        page = selectors.deployment_request_page(user=request.user, data=data)
    return render(request, "approvals/request_list.html", {
        "page": page, "states": RequestState.choices, "environments": Environment.objects.all(), "params": params,
    })  # fmt: skip


@login_required
def version_requests(request, version_id):
    """The deployment requests of one version: the panel the version page (inventory) loads with htmx."""
    requests = selectors.deployment_request_list(user=request.user, version_id=version_id, summary=True)[:10]
    return render(request, "approvals/_version_requests.html", {"requests": requests, "version_id": version_id})


def _detail_context(request, deployment_request, decision_form=None, cancel_form=None):
    open_step = next((s for s in deployment_request.steps.all() if s.state == "open"), None)
    can_decide = open_step is not None and selectors.waiting_for(user=request.user).filter(pk=open_step.pk).exists()
    history_page = Paginator(
        audit_event_list_for_request(request=deployment_request, user=request.user), HISTORY_PAGE_SIZE
    ).get_page(request.GET.get("history_page"))
    return {
        "req": deployment_request,
        "version": deployment_request.version,
        "open_step": open_step,
        "can_decide": can_decide,
        "is_requester": deployment_request.requester_id == request.user.pk,
        # Submit and withdraw are offered only while the requester may still request deployments of the model.
        "can_act_as_requester": deployment_request.requester_id == request.user.pk
        and permissions.can(request.user, permissions.REQUEST_DEPLOY, deployment_request.version.model),
        "decision_form": decision_form or DecisionForm(initial={"step": open_step.pk if open_step else None}),
        "cancel_form": cancel_form or CancelForm(),
        "evidence": evidence.build(deployment_request),
        "history": links.attach_target_urls(list(history_page)),
        "history_page": history_page,
        "can_view_audit": permissions.can_view_audit(request.user),
        "inline_messages": True,
    }


@login_required
def request_detail(request, pk):
    deployment_request = selectors.deployment_request_get(user=request.user, pk=pk)
    return render(request, "approvals/request_detail.html", _detail_context(request, deployment_request))


@login_required
@require_POST
def request_decide(request, pk):
    deployment_request = selectors.deployment_request_get(user=request.user, pk=pk)
    form = DecisionForm(request.POST)
    status = 200
    if form.is_valid():
        try:
            decision = services.deployment_request_decide(
                actor=Actor.of(request.user), request=deployment_request, outcome=form.cleaned_data["outcome"],
                comment=form.cleaned_data["comment"], password=form.cleaned_data["password"],
                step_id=form.cleaned_data["step"],
            )  # fmt: skip
        except ValidationError as exc:
            apply_errors(form, exc)
            status = 400
        except SignatureError as exc:  # a wrong password (or signing locked): said on the password field itself
            form.add_error("password", exc.message)
            status = exc.status
        except DomainError as exc:
            messages.error(request, exc.message)
            status = exc.status
        else:
            messages.success(request, f"Recorded: {decision.meaning}.")
            return redirect("approvals:request-detail", pk=pk)
    else:
        status = 400
    deployment_request = selectors.deployment_request_get(user=request.user, pk=pk)
    context = _detail_context(request, deployment_request, decision_form=form)
    # htmx swaps only 2xx answers: it gets the refusal in the fragment; a plain POST gets the real status.
    return render(
        request,
        "approvals/request_detail.html",
        context,
        status=200 if request.headers.get("HX-Request") == "true" else status,
    )


@login_required
@require_POST
def request_cancel(request, pk):
    deployment_request = selectors.deployment_request_get(user=request.user, pk=pk)
    form = CancelForm(request.POST)
    form.is_valid()
    try:
        services.deployment_request_cancel(
            actor=Actor.of(request.user), request=deployment_request, reason=form.cleaned_data.get("reason", "")
        )
        messages.success(request, "Request withdrawn.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("approvals:request-detail", pk=pk)


@login_required
@require_POST
def request_submit(request, pk):
    deployment_request = selectors.deployment_request_get(user=request.user, pk=pk)
    try:
        services.deployment_request_submit(actor=Actor.of(request.user), request=deployment_request)
        messages.success(request, "Submitted for approval.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect("approvals:request-detail", pk=pk)


def _version_for_request(request, version_id):
    version = get_object_or_404(
        ModelVersion.objects.restrict(request.user).select_related("model__team"), pk=version_id
    )
    if not permissions.can(request.user, permissions.REQUEST_DEPLOY, version.model):
        raise PermissionDenied("Only contributors and admins of the model's team can request deployments.")
    return version


@login_required
def request_create(request, version_id):
    version = _version_for_request(request, version_id)
    form = RequestDeploymentForm(request.POST or None, initial={"environment": request.GET.get("environment")})
    if request.method == "POST" and form.is_valid():
        try:
            created = services.request_deployment(actor=Actor.of(request.user), version=version, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Request #{created.pk} submitted for approval.")
            return redirect("approvals:request-detail", pk=created.pk)
    chosen = parse_id(form["environment"].value())
    environment = Environment.objects.filter(pk=chosen).first() if chosen else None
    environment = environment or Environment.objects.first()
    policy, checks = services.preview_checks(version=version, environment=environment) if environment else (None, [])
    return render(request, "approvals/request_form.html", {
        "form": form, "version": version, "environment": environment, "policy": policy, "checks": checks,
    })  # fmt: skip


@login_required
def request_preview(request, version_id):
    """The checks for the chosen environment, swapped in by htmx as the requester picks one."""
    version = _version_for_request(request, version_id)
    environment = Environment.objects.filter(pk=parse_id(request.GET.get("environment")) or 0).first()
    policy, checks = services.preview_checks(version=version, environment=environment) if environment else (None, [])
    return render(
        request,
        "approvals/_checks_preview.html",
        {"version": version, "environment": environment, "policy": policy, "checks": checks},
    )


def _require_admin(user):
    permissions.require_portal_admin(user, "Only administrators manage approval policies.")


@login_required
def policy_list(request):
    return render(request, "approvals/policy_list.html", {
        "policies": selectors.policy_list(), "can_edit": permissions.is_portal_admin(request.user),
        "environments": Environment.objects.all(),
    })  # fmt: skip


def _policy_initial(policy):
    fields = (
        "name",
        "description",
        "environment",
        "risk_tiers",
        "active",
        "require_model_card",
        "require_digest",
        "require_previous_environment",
        "require_current_validation",
        "expiry_days",
    )
    initial = {field: getattr(policy, field) for field in fields}
    initial["metric_thresholds"] = json.dumps(policy.metric_thresholds) if policy.metric_thresholds else ""
    steps = [{"name": s.name, "approver_kind": s.approver_kind, "role": s.role, "team": s.team,
              "users": list(s.users.all()), "quorum": s.quorum, "requires_signature": s.requires_signature,
              "due_hours": s.due_hours} for s in policy.steps.order_by("order")]  # fmt: skip
    return initial, steps


@login_required
def policy_edit(request, pk=None):
    _require_admin(request.user)
    policy = get_object_or_404(ApprovalPolicy, pk=pk) if pk else None
    initial, step_initial = _policy_initial(policy) if policy else ({}, [])
    form = PolicyForm(request.POST or None, initial=initial)
    steps = StepFormSet(request.POST or None, initial=step_initial, prefix="steps")
    if request.method == "POST" and form.is_valid() and steps.is_valid():
        step_data = [f.cleaned_data for f in steps.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        try:
            saved = services.policy_save(
                actor=Actor.of(request.user), policy=policy, steps=step_data, **form.cleaned_data
            )
        except ValidationError as exc:
            apply_errors(form, exc)  # step errors have no field of their own: they show at the top
        else:
            messages.success(request, f"Saved {saved.name} (revision {saved.revision}).")
            return redirect("approvals:policy-list")
    return render(request, "approvals/policy_form.html", {"form": form, "steps": steps, "policy": policy})
