"""The home page's charts as inline SVG made here, on the server: no script and no style attribute (the
Content-Security-Policy allows neither), colours from CSS classes (static/css/portal.css), every text escaped.

Each chart carries its numbers as a table too (`columns`, `rows`): templates/dashboard/_chart.html puts it beside
the drawing for screen readers, and the drawing is hidden from them. Pure functions: no queries.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 480, 220
LEFT, RIGHT, TOP, BOTTOM = 32, 8, 10, 26  # room for the axis labels
BAR_HEIGHT, BAR_GAP, LABEL_WIDTH = 24, 10, 96  # horizontal bars


@dataclass(frozen=True)
class Series:
    key: str  # also the CSS class suffix: .chart-series-<key>
    label: str


@dataclass
class Chart:
    """A drawing and the same numbers as a table: `columns` head it, each row starts with its row header."""

    id: str
    title: str
    svg: SafeString
    columns: list[str]
    rows: list[list[str]]
    legend: list[Series] = field(default_factory=list)
    empty: str = ""  # what to say instead of drawing, when there is nothing to draw


def _ticks(maximum: float) -> list[int]:
    """Round gridline values from 0 to at least `maximum` (counts: whole numbers, at most five lines)."""
    if maximum <= 0:
        return [0, 1]
    raw = maximum / 4
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    top = math.ceil(maximum / step) * step
    return list(range(0, int(top) + 1, int(step)))


def _svg(chart_id: str, parts: list[str], height: int = HEIGHT) -> SafeString:
    # Every part was made by format_html (escaped), so joining them stays safe.
    body = mark_safe("".join(parts))  # noqa: S308
    return format_html(
        '<svg class="chart-svg" id="{}-svg" viewBox="0 0 {} {}" preserveAspectRatio="xMidYMid meet" '
        'aria-hidden="true" focusable="false">{}</svg>',
        chart_id, WIDTH, height, body,
    )  # fmt: skip


def _grid(ticks: list[int]) -> tuple[list[str], Callable[[float], float]]:
    """Horizontal gridlines with their values on the left; returns them and the value → y function."""
    plot = HEIGHT - TOP - BOTTOM
    top = ticks[-1] or 1

    def y(value: float) -> float:
        return round(TOP + plot - plot * value / top, 1)

    parts = []
    for tick in ticks:
        parts.append(format_html('<line class="chart-grid" x1="{}" x2="{}" y1="{}" y2="{}"/>',
                                 LEFT, WIDTH - RIGHT, y(tick), y(tick)))  # fmt: skip
        parts.append(format_html('<text class="chart-axis" x="{}" y="{}" text-anchor="end">{}</text>',
                                 LEFT - 6, y(tick) + 4, tick))  # fmt: skip
    return parts, y


def _x_labels(categories: list[str], x_of) -> list[str]:
    """Every other category's label (they would overlap), counting back from the last one (this week)."""
    last = len(categories) - 1
    return [
        format_html('<text class="chart-axis" x="{}" y="{}" text-anchor="middle">{}</text>',
                    x_of(index), HEIGHT - BOTTOM + 17, label)
        for index, label in enumerate(categories) if (last - index) % 2 == 0
    ]  # fmt: skip


def stacked_columns(
    *, id: str, title: str, categories: list[str], series: list[Series], values: list[dict[str, int]], header: str
) -> Chart:
    """One column per category (a week), stacked by series (an outcome); `values[i][series.key]` counts."""
    totals = [sum(row.get(s.key, 0) for s in series) for row in values]
    grid, y = _grid(_ticks(max(totals, default=0)))
    slot = (WIDTH - LEFT - RIGHT) / max(len(categories), 1)
    width = round(slot * 0.62, 1)

    def x_mid(index: int) -> float:
        return round(LEFT + slot * index + slot / 2, 1)

    bars = []
    for index, (category, row) in enumerate(zip(categories, values, strict=True)):
        base = 0
        for s in series:
            count = row.get(s.key, 0)
            if not count:
                continue
            top_y, base_y = y(base + count), y(base)
            bars.append(format_html(
                '<rect class="chart-bar chart-series-{}" x="{}" y="{}" width="{}" height="{}"><title>{}: {} {}</title>'
                "</rect>",
                s.key, round(x_mid(index) - width / 2, 1), top_y, width, round(base_y - top_y, 1), category,
                count, s.label.lower(),
            ))  # fmt: skip
            base += count
    rows = [
        [category, *[str(row.get(s.key, 0)) for s in series]] for category, row in zip(categories, values, strict=True)
    ]
    return Chart(
        id=id, title=title, svg=_svg(id, grid + bars + _x_labels(categories, x_mid)),
        columns=[header, *[s.label for s in series]], rows=rows, legend=series,
        empty="" if any(totals) else "Nothing in these weeks yet.",
    )  # fmt: skip


def line(*, id: str, title: str, categories: list[str], values: list[int], header: str, label: str) -> Chart:
    """One value per category (a week), joined by a line; each point keeps its value as a tooltip."""
    grid, y = _grid(_ticks(max(values, default=0)))
    step = (WIDTH - LEFT - RIGHT) / max(len(categories), 1)

    def x_mid(index: int) -> float:
        return round(LEFT + step * index + step / 2, 1)

    points = " ".join(f"{x_mid(i)},{y(v)}" for i, v in enumerate(values))
    parts = [*grid, format_html('<polyline class="chart-line" points="{}"/>', points)]
    for index, (category, value) in enumerate(zip(categories, values, strict=True)):
        parts.append(format_html('<circle class="chart-point" cx="{}" cy="{}" r="3.5"><title>{}: {}</title></circle>',
                                 x_mid(index), y(value), category, value))  # fmt: skip
    rows = [[category, str(value)] for category, value in zip(categories, values, strict=True)]
    return Chart(
        id=id, title=title, svg=_svg(id, parts + _x_labels(categories, x_mid)), columns=[header, label], rows=rows,
    )  # fmt: skip


def horizontal_bars(*, id: str, title: str, labels: list[str], durations: list[timedelta], extra: list[str],
                    header: str, value_header: str, extra_header: str) -> Chart:  # fmt: skip
    """One bar per label (an environment), as long as its duration, the duration written after it."""
    height = TOP + max(len(labels), 1) * (BAR_HEIGHT + BAR_GAP) + BAR_GAP
    longest = max((d.total_seconds() for d in durations), default=0) or 1
    room = WIDTH - LABEL_WIDTH - 150  # the bar's length at most, leaving space for the value
    parts = []
    for index, (label, duration, note) in enumerate(zip(labels, durations, extra, strict=True)):
        top = TOP + index * (BAR_HEIGHT + BAR_GAP)
        length = max(round(room * duration.total_seconds() / longest, 1), 2)
        text = duration_text(duration)
        parts.append(format_html('<text class="chart-label" x="{}" y="{}" text-anchor="end">{}</text>',
                                 LABEL_WIDTH - 8, top + BAR_HEIGHT / 2 + 4, label))  # fmt: skip
        parts.append(format_html(
            '<rect class="chart-bar chart-series-median" x="{}" y="{}" width="{}" height="{}"><title>{}: {} ({})'
            "</title></rect>",
            LABEL_WIDTH, top, length, BAR_HEIGHT, label, text, note,
        ))  # fmt: skip
        parts.append(format_html(
            '<text class="chart-value" x="{}" y="{}">{} <tspan class="chart-note">· {}</tspan></text>',
            LABEL_WIDTH + length + 6, top + BAR_HEIGHT / 2 + 4, text, note,
        ))  # fmt: skip
    rows = [[label, duration_text(d), note] for label, d, note in zip(labels, durations, extra, strict=True)]
    return Chart(
        id=id, title=title, svg=_svg(id, parts, height=height), columns=[header, value_header, extra_header],
        rows=rows, empty="" if labels else "Nothing in these weeks yet.",
    )  # fmt: skip


def duration_text(duration: timedelta) -> str:
    """A waiting time as people say it: "under 1 s", "40 s", "25 min", "3 h 10 min", "2 d 4 h"."""
    seconds = max(int(duration.total_seconds()), 0)
    if seconds < 1:
        return "under 1 s"
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
