import html
import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import urlencode

from django import template
from django.utils.formats import localize
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from apps.core import markdown

register = template.Library()


@register.filter
def render_markdown(text: str):
    return mark_safe(markdown.render(text))  # noqa: S308 — sanitised by nh3 in markdown.render


# A datetime as recorded in JSON (audit changes, evidence): ISO 8601 with a zone.
ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})")


@register.filter
def ts(value):
    """The portal's one time format: a datetime as YYYY-MM-DD HH:MM in the reader's local time (static/js/portal.js
    rewrites the UTC text sent here), with the exact UTC time on hover; a date (no time of day) as YYYY-MM-DD.
    ISO 8601 text with a zone (as JSON records times) is read as a datetime."""
    if not value:
        return "—"
    if isinstance(value, str) and ISO_DATETIME.fullmatch(value):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        # Digits, dashes and colons only: nothing to escape (format_html's escaping cost every row of every table).
        day, second = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S").split(" ")
        return mark_safe(f'<time datetime="{day}T{second}Z" title="{day} {second} UTC">{day} {second[:5]} UTC</time>')  # noqa: S308
    if isinstance(value, date):
        return format_html('<time datetime="{}">{}</time>', value.isoformat(), value.isoformat())
    return value


@register.filter
def change_rows(changes) -> list[tuple[str, object, object]]:
    """(field in words, before, after) for each change of an audit event; a value not recorded as a [before, after]
    pair is shown as after."""
    rows = []
    for field, value in (changes or {}).items():
        before, after = value if isinstance(value, list) and len(value) == 2 else (None, value)
        rows.append((field.replace("_", " ").capitalize(), before, after))
    return rows


@register.filter
def show(value):
    """A recorded value (audit changes, evidence) as a reader wants it: a list as a list, a time in the one time
    format, yes/no, and "—" for nothing; an object as compact JSON."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime | date) or (isinstance(value, str) and ISO_DATETIME.fullmatch(value)):
        return ts(value)
    if isinstance(value, list | tuple):
        items = format_html_join("", "<li>{}</li>", ((show(item),) for item in value))
        return format_html('<ul class="value-list">{}</ul>', items)
    if isinstance(value, dict):
        return format_html('<code class="value-json">{}</code>', json.dumps(value, sort_keys=True, ensure_ascii=False))
    return value


CHANGES_TABLE = (
    '<table class="table table-sm table-bordered mb-0 changes-table"><thead class="table-light"><tr><th scope="col">'
    'Field</th><th scope="col">Before</th><th scope="col">After</th></tr></thead>\n<tbody>{}</tbody></table>'
)
CHANGE_ROW = '<tr><th scope="row" class="fw-normal">{}</th><td>{}</td><td>{}</td></tr>'


@register.filter
def changes_table(changes):
    """An audit event's changes as a table: each field in words, its value before and after as {{ value|show }}
    writes it. Built here rather than by an include per event (on the audit trail's 25 rows the include and its
    per-cell template work were a fifth of the page's time), and escaped here: no format_html per cell."""
    rows = "".join(
        CHANGE_ROW.format(html.escape(field), _shown(before), _shown(after))
        for field, before, after in change_rows(changes)
    )
    return mark_safe(CHANGES_TABLE.format(rows))  # noqa: S308 — every value above is escaped or show()'s own HTML


def _shown(value) -> str:
    """{{ value|show }}: show()'s HTML (times, lists, JSON) as it is; a number localized, then any text escaped."""
    shown = show(value)
    if hasattr(shown, "__html__"):
        return shown.__html__()
    if isinstance(shown, int | float | Decimal):
        shown = localize(shown)
    return html.escape(str(shown))


@register.simple_tag(takes_context=True)
def query_with(context, **changes):
    """The current query string with some parameters replaced (pagination, sorting), in the order it had (a
    replaced parameter where it was, a new one last). Read without QueryDict.copy(), a deep copy: a list page asks
    this for every tag of every row."""
    pairs = []
    for key, values in context["request"].GET.lists():
        if key not in changes:
            pairs.extend((key, value) for value in values)
        elif changes[key] not in (None, ""):
            pairs.append((key, str(changes[key])))
    known = context["request"].GET
    pairs.extend((key, str(value)) for key, value in changes.items() if key not in known and value not in (None, ""))
    encoded = urlencode(pairs)
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
