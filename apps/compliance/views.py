from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render

from apps.accounts import permissions
from apps.accounts.models import Team
from apps.audit import hashing, links, selectors

from . import sentences
from .exports import filters as audit_filters
from .forms import AuditFilterForm

PAGE_SIZE = 50


def _require_audit_reader(user) -> None:
    if not permissions.can_view_audit(user):
        raise PermissionDenied("The audit trail is open to auditors and team admins.")


@login_required
def event_list(request, params=None):
    _require_audit_reader(request.user)
    params = request.GET if params is None else params
    teams = Team.objects.restrict(request.user, permissions.VIEW_AUDIT)
    form = AuditFilterForm(params or None, teams=teams, user=request.user)
    form.is_valid()
    status = 200
    try:
        filters = audit_filters.parse(params, user=request.user)
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        filters, status = None, 400
    except PermissionDenied as exc:
        messages.error(request, str(exc))
        filters, status = None, 403
    events = selectors.audit_event_list(user=request.user, **filters.selector_kwargs()) if filters else []
    page = Paginator(events, PAGE_SIZE).get_page(params.get("page"))
    page.object_list = sentences.describe(links.attach_target_urls(page.object_list))
    context = {"form": form, "page": page, "can_export": permissions.may_export_audit(request.user),
               "export_params": filters.as_dict() if filters else {}}  # fmt: skip
    return render(request, "compliance/event_list.html", context, status=status)


@login_required
def event_detail(request, sequence):
    _require_audit_reader(request.user)
    event = get_object_or_404(selectors.audit_event_list(user=request.user), sequence=sequence)
    sentences.describe(links.attach_target_urls([event]))
    context = {"event": event, "context_rows": sentences.context_rows(event.context),
               "hashed_timestamp": hashing.format_timestamp(event.timestamp)}  # fmt: skip
    return render(request, "compliance/event_detail.html", context)
