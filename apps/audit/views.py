from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, render

from apps.accounts import permissions
from apps.accounts.models import Team

from . import links, selectors
from .forms import AuditFilterForm

PAGE_SIZE = 50


def _require_audit_reader(user) -> None:
    if not permissions.can_view_audit(user):
        raise PermissionDenied("The audit trail is open to auditors and team admins.")


@login_required
def event_list(request):
    _require_audit_reader(request.user)
    teams = Team.objects.restrict(request.user, permissions.VIEW_AUDIT)
    form = AuditFilterForm(request.GET or None, teams=teams)
    filters = {}
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = {key: data[key] for key in ("actor", "action", "target", "date_from", "date_to") if data[key]}
        if data["team"]:
            filters["team_id"] = data["team"].pk
    events = selectors.audit_event_list(user=request.user, **filters) if not form.errors else []
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = links.attach_target_urls(page.object_list)
    return render(request, "audit/event_list.html", {"form": form, "page": page})


@login_required
def event_detail(request, sequence):
    _require_audit_reader(request.user)
    event = get_object_or_404(selectors.audit_event_list(user=request.user), sequence=sequence)
    links.attach_target_urls([event])
    return render(request, "audit/event_detail.html", {"event": event})
