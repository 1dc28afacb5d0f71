"""Audit events as table rows: `{% event_rows events link_events show_context %}` in partials/event_table.html, which
frames them (the audit trail, and the histories on the model, version, request and target pages)."""

from html import escape

from django import template
from django.urls import reverse
from django.utils.safestring import mark_safe

from apps.core.templatetags.portal import changes_table, ts

from ..actors import ActorKind

register = template.Library()

# One event as the table shows it. Written here, not as template tags per cell: a row's dozen variables and
# conditions cost some 110 µs in the template engine, 25 rows a fifth of the audit trail's time. Every value is
# escaped below (`escape`) unless it is markup made here or by ts() and changes_table(), which escape their own.
EVENT_ROW = """
  <tr>
    <td class="mono">{number}</td>
    <td class="text-nowrap">{time}</td>
    <td>{actor}</td>
    <td>{what}</td>
    <td>{target}</td>
    <td>{changes}</td>
    {context}
  </tr>
  """


@register.simple_tag
def event_rows(events, link_events=False, show_context=False):
    """The events' rows; `link_events`: each number links to the event's page; `show_context`: a source/IP cell."""
    # One reverse() for the table: an event's page is this path and its number (sequence numbers need no quoting).
    event_path = escape(reverse("audit:event-detail", args=[0]).removesuffix("0/")) if link_events else ""
    return mark_safe("".join(_row(event, event_path, show_context) for event in events))  # noqa: S308 — escaped


def _row(event, event_path: str, show_context: bool) -> str:
    number = str(event.sequence)
    return EVENT_ROW.format(
        number=f'<a href="{event_path}{number}/">{number}</a>' if event_path else number,
        time=ts(event.timestamp),
        actor=_actor(event),
        what=_what(event),
        target=_target(event),
        changes=_changes(event.changes),
        context=_context(event.context) if show_context else "",
    )


def _actor(event) -> str:
    """The actor's name as describe() found it (the frozen label on pages that do not ask), and its kind unless a
    person."""
    name = escape(getattr(event, "actor_name", "") or event.actor_label)
    if event.actor_kind == ActorKind.USER:
        return name
    return f'{name} <span class="badge text-bg-light border">{escape(event.get_actor_kind_display().lower())}</span>'


def _what(event) -> str:
    sentence = getattr(event, "sentence", "")
    code = f"<code>{escape(event.action)}</code>"
    return f'<div class="event-sentence">{escape(sentence)}</div>{code}' if sentence else code


def _target(event) -> str:
    """The target's label, linked to its page where audit.links found one."""
    url = getattr(event, "target_url", None)
    if url:
        return f'<a href="{escape(url)}">{escape(event.target_label)}</a>'
    return escape(event.target_label or "—")


def _changes(changes) -> str:
    if not changes:
        return '<span class="text-muted">—</span>'
    fields = len(changes)
    summary = f'<summary class="small">{fields} field{"" if fields == 1 else "s"}</summary>'
    return f"<details>{summary}{changes_table(changes)}</details>"


def _context(context) -> str:
    """Where the event came from: its source and client IP, as the request context recorded them."""
    context = context if isinstance(context, dict) else {}
    source, client_ip = (escape(str(context.get(key) or "")) for key in ("source", "client_ip"))
    return f'<td class="small text-muted">{source} {client_ip}</td>'
