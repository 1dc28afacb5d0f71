import json
from datetime import UTC, date, datetime

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from apps.core import markdown

register = template.Library()


@register.filter
def render_markdown(text: str):
    return mark_safe(markdown.render(text))  # noqa: S308 — sanitised by nh3 in markdown.render


@register.filter
def ts(value):
    """A UTC timestamp the browser rewrites into the reader's local time (static/js/portal.js)."""
    if not value:
        return "—"
    if isinstance(value, datetime):
        utc = value.astimezone(UTC)
        iso = utc.strftime("%Y-%m-%dT%H:%M:%SZ")
        return format_html('<time datetime="{}" title="{} UTC">{} UTC</time>', iso, iso, utc.strftime("%Y-%m-%d %H:%M"))
    if isinstance(value, date):
        return value.isoformat()
    return value


@register.simple_tag(takes_context=True)
def query_with(context, **changes):
    """The current query string with some parameters replaced (pagination, sorting)."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.simple_tag(takes_context=True)
def query_page(context, param: str, number) -> str:
    """The current query string with the page parameter `param` (a page has several paginated lists) set."""
    return query_with(context, **{param or "page": number})


RISK_BADGES = {"low": "success", "medium": "info", "high": "warning", "critical": "danger"}
LIFECYCLE_BADGES = {"development": "secondary", "validation": "info", "production": "success", "retired": "dark"}


@register.filter
def risk_badge(tier: str):
    return format_html('<span class="badge text-bg-{}">{}</span>', RISK_BADGES.get(tier, "secondary"), tier.title())


@register.filter
def lifecycle_badge(status: str):
    return format_html(
        '<span class="badge text-bg-{}">{}</span>', LIFECYCLE_BADGES.get(status, "secondary"), status.title()
    )


@register.filter
def first_items(mapping, count: int):
    """The first `count` (key, value) pairs of a dict, for compact summaries."""
    return list((mapping or {}).items())[: int(count)]


@register.filter
def as_json(value):
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)
