"""Presentation helpers for deployment requests, for the tables that show many of them at once."""

from django import template
from django.utils.html import format_html

from apps.approvals.models import RequestState

register = template.Library()

STATE_BADGES = {
    RequestState.APPROVED: "text-bg-success",
    RequestState.REJECTED: "text-bg-danger",
    RequestState.PENDING: "text-bg-warning",
    RequestState.EXPIRED: "text-bg-secondary",
    RequestState.CANCELLED: "text-bg-secondary",
}


@register.filter
def state_badge(request):
    """A request's state as approvals/_state.html shows it (the same HTML, its newline included), without an
    include per row: a table of 50 requests rendered that template 50 times."""
    badge = STATE_BADGES.get(request.state, "text-bg-light border")
    return format_html('<span class="badge {}">{}</span>\n', badge, request.get_state_display())
