"""PDF plumbing shared by the compliance report and the model dossier (ReportLab, pure Python).

- `ReportDocument`: A4 pages with a running header, a footer naming the export and "Page N of M"
  (M is a form drawn once at the end, so the document is built in one pass), and three page
  templates: "cover" (portrait), "body" (landscape) and "listing" (landscape, with the event
  listing's column header drawn on every page, so its rows flow as many small tables).
- `LazyStory`: a flowable list that ReportLab consumes from the front while generators fill it,
  so a listing of 100,000 events is never held in memory as flowables at once.
- Table cells are plain strings wrapped here to the column width (a Paragraph per cell would cost
  kilobytes each). Text outside Latin-1 and the Symbol font (e.g. CJK) prints as a box.
"""

import itertools
import json
import re
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Frame, LongTable, PageTemplate, Paragraph, Table, TableStyle

FONT, BOLD, MONO = "Helvetica", "Helvetica-Bold", "Courier"
INK = colors.HexColor("#1d2733")
MUTED = colors.HexColor("#5d6875")
RULE = colors.HexColor("#c9d1da")
BAND = colors.HexColor("#e8edf2")
ZEBRA = colors.HexColor("#f5f7f9")
GOOD, GOOD_BG = colors.HexColor("#1e6b34"), colors.HexColor("#e7f4ea")
BAD, BAD_BG = colors.HexColor("#a4121c"), colors.HexColor("#fdecec")
MARGIN = 15 * mm
CELL_SIZE, CELL_LEADING, CELL_PAD = 7, 8.6, 3
LISTING_ROWS_PER_TABLE = 100
ELLIPSIS = "…"
_FRACTION = re.compile(r"\.\d+Z$")

STYLES = {
    "brand": ParagraphStyle("brand", fontName=BOLD, fontSize=9, leading=12, textColor=MUTED, spaceAfter=2),
    "title": ParagraphStyle("title", fontName=BOLD, fontSize=22, leading=27, textColor=INK, spaceAfter=4),
    "subtitle": ParagraphStyle("subtitle", fontName=FONT, fontSize=11, leading=15, textColor=MUTED, spaceAfter=12),
    "h1": ParagraphStyle(
        "h1", fontName=BOLD, fontSize=14, leading=18, textColor=INK, spaceBefore=10, spaceAfter=5, keepWithNext=1
    ),
    "h2": ParagraphStyle(
        "h2", fontName=BOLD, fontSize=10.5, leading=14, textColor=INK, spaceBefore=8, spaceAfter=3, keepWithNext=1
    ),
    "body": ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12, textColor=INK, spaceAfter=5),
    "small": ParagraphStyle("small", fontName=FONT, fontSize=8, leading=10.5, textColor=MUTED, spaceAfter=4),
    "label": ParagraphStyle("label", fontName=BOLD, fontSize=8.5, leading=11, textColor=MUTED),
    "value": ParagraphStyle("value", fontName=FONT, fontSize=8.5, leading=11, textColor=INK, alignment=TA_LEFT),
    "mono": ParagraphStyle("mono", fontName=MONO, fontSize=8, leading=10.5, textColor=INK),
    "pre": ParagraphStyle(
        "pre",
        fontName=MONO,
        fontSize=7,
        leading=8.8,
        textColor=INK,
        spaceAfter=8,
        leftIndent=6,
        rightIndent=6,
        backColor=ZEBRA,
        borderPadding=(4, 6, 4, 6),
    ),
    "verdict": ParagraphStyle("verdict", fontName=BOLD, fontSize=11, leading=14),
}


def para(text, style: str = "body") -> Paragraph:
    """A paragraph of plain text (escaped; newlines kept)."""
    return Paragraph(escape(str(text)).replace("\n", "<br/>"), STYLES[style])


def markup(text: str, style: str = "body") -> Paragraph:
    """A paragraph of trusted ReportLab markup (<b>, <font>): callers escape what they interpolate."""
    return Paragraph(text, STYLES[style])


def utc(value) -> str:
    """ISO 8601 UTC with a Z, to the second; '—' for nothing. Strings (already formatted) pass through."""
    if value is None or value == "":
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _FRACTION.sub("Z", str(value))


def short(value, limit: int = 80) -> str:
    """A value as a reader expects it: strings bare, structures as compact JSON, cut at `limit` characters."""
    if value is None:
        text = "∅"
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "), default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def summarise_changes(changes: dict, value_limit: int = 80, separator: str = "\n") -> str:
    """{field: [old, new]} as "field: old → new" items (a created value reads "field: new")."""
    lines = []
    for field, values in (changes or {}).items():
        if isinstance(values, list) and len(values) == 2:
            old, new = values
            lines.append(
                f"{field}: {short(new, value_limit)}"
                if old is None
                else f"{field}: {short(old, value_limit)} → {short(new, value_limit)}"
            )
        else:
            lines.append(f"{field}: {short(values, value_limit)}")
    return separator.join(lines)


def _fit(word: str, width: float, font: str, size: float) -> int:
    """How many leading characters of `word` fit in `width` (at least one)."""
    low, high = 1, len(word)
    while low < high:
        middle = (low + high + 1) // 2
        if stringWidth(word[:middle], font, size) <= width:
            low = middle
        else:
            high = middle - 1
    return low


def wrap(text, width: float, font: str = FONT, size: float = CELL_SIZE, max_lines: int | None = None) -> str:
    """`text` broken into lines no wider than `width` points (long tokens such as hashes are cut), at most
    `max_lines` of them, the last ending in an ellipsis when text was left out."""
    text = str(text if text is not None else "")
    if max_lines:
        text = text[: max_lines * 200]  # bounds the work on huge values; the cut shows as an ellipsis
    lines: list[str] = []
    truncated = False
    for source in text.splitlines() or [""]:
        line = ""
        for word in source.split(" "):
            candidate = f"{line} {word}" if line else word
            if stringWidth(candidate, font, size) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            while stringWidth(word, font, size) > width:
                cut = _fit(word, width, font, size)
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
        if max_lines and len(lines) > max_lines:
            break
    if max_lines and len(lines) > max_lines:
        lines, truncated = lines[:max_lines], True
    if truncated:
        last = lines[-1]
        while last and stringWidth(last + ELLIPSIS, font, size) > width:
            last = last[:-1]
        lines[-1] = last + ELLIPSIS
    return "\n".join(lines)


class Column:
    """One table column: its heading, width in points, font, how many lines a cell may take, alignment."""

    def __init__(self, heading: str, width: float, font: str = FONT, max_lines: int | None = 6, align: str = "LEFT"):
        self.heading, self.width, self.font, self.max_lines, self.align = heading, width, font, max_lines, align

    def cell(self, value) -> str:
        return wrap(value, self.width - 2 * CELL_PAD, self.font, CELL_SIZE, self.max_lines)


def scale(columns: list[Column], total: float) -> list[Column]:
    """Columns whose widths are stretched (or shrunk) proportionally to fill `total` points."""
    factor = total / sum(column.width for column in columns)
    return [Column(c.heading, c.width * factor, c.font, c.max_lines, c.align) for c in columns]


def make_columns(spec, total: float) -> list[Column]:
    """Columns from (heading, relative width[, font[, max_lines[, align]]]) tuples, stretched to `total` points."""
    return scale([Column(*item) for item in spec], total)


def _table_style(columns: list[Column], header: bool) -> list:
    style = [
        ("FONT", (0, 0), (-1, -1), FONT, CELL_SIZE, CELL_LEADING),
        ("TEXTCOLOR", (0, 0), (-1, -1), INK),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), CELL_PAD),
        ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PAD),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
        ("ROWBACKGROUNDS", (0, 1 if header else 0), (-1, -1), [colors.white, ZEBRA]),
    ]
    first = 1 if header else 0
    for index, column in enumerate(columns):
        if column.font != FONT:
            style.append(("FONT", (index, first), (index, -1), column.font, CELL_SIZE - 0.5, CELL_LEADING))
        if column.align != "LEFT":
            style.append(("ALIGN", (index, 0), (index, -1), column.align))
    if header:
        style += [
            ("FONT", (0, 0), (-1, 0), BOLD, CELL_SIZE, CELL_LEADING),
            ("BACKGROUND", (0, 0), (-1, 0), BAND),
            ("LINEBELOW", (0, 0), (-1, 0), 0.6, MUTED),
        ]
    return style


def table(columns: list[Column], rows, *, total_row: bool = False) -> LongTable:
    """A table with a header row repeated on every page it spans; cells are wrapped strings."""
    data = [[wrap(column.heading, column.width - 2 * CELL_PAD, BOLD) for column in columns]]
    data += [[column.cell(value) for column, value in zip(columns, row, strict=True)] for row in rows]
    style = _table_style(columns, header=True)
    if total_row:
        style += [
            ("FONT", (0, -1), (-1, -1), BOLD, CELL_SIZE, CELL_LEADING),
            ("LINEABOVE", (0, -1), (-1, -1), 0.6, MUTED),
        ]
    return LongTable(data, colWidths=[c.width for c in columns], repeatRows=1, style=TableStyle(style), hAlign="LEFT")


def listing_tables(columns: list[Column], rows, per_table: int = LISTING_ROWS_PER_TABLE):
    """Header-less tables of `per_table` rows each, for the "listing" template (which draws the header)."""
    style = TableStyle(_table_style(columns, header=False))
    widths = [column.width for column in columns]
    batch = []
    for row in rows:
        batch.append([column.cell(value) for column, value in zip(columns, row, strict=True)])
        if len(batch) == per_table:
            yield Table(batch, colWidths=widths, style=style, hAlign="LEFT")
            batch = []
    if batch:
        yield Table(batch, colWidths=widths, style=style, hAlign="LEFT")


def facts(pairs, label_width: float = 38 * mm, width: float | None = None) -> Table:
    """A two-column label/value table (the cover's facts, a version's record)."""
    width = width or (A4[0] - 2 * MARGIN)
    data = [
        [para(label, "label"), value if isinstance(value, Paragraph) else para(value, "value")]
        for label, value in pairs
    ]
    return Table(
        data,
        colWidths=[label_width, width - label_width],
        hAlign="LEFT",
        style=TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 6),
                ("TOPPADDING", (0, 0), (-1, -1), 2.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, RULE),
            ]
        ),
    )


def callout(paragraphs: list[Paragraph], *, ok: bool, width: float) -> Table:
    """A boxed statement: green when all is well, red (and thicker) when it is not."""
    ink, background = (GOOD, GOOD_BG) if ok else (BAD, BAD_BG)
    return Table(
        [[paragraphs]],
        colWidths=[width],
        hAlign="LEFT",
        style=TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, -1), background),
                ("BOX", (0, 0), (-1, -1), 0.8 if ok else 2, ink),
                ("LEFTPADDING", (0, 0), (-1, -1), 8),
                ("RIGHTPADDING", (0, 0), (-1, -1), 8),
                ("TOPPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
            ]
        ),
    )


class LazyStory:
    """The flowable list handed to build(): filled from `parts` (lists or generators) only as it is consumed.

    ReportLab reads flowables[0], deletes it, and puts split remainders back at the front; it
    looks a few items ahead for keep-with-next chains, which `LOOKAHEAD` covers.
    """

    LOOKAHEAD = 8

    def __init__(self, *parts):
        self._items: list = []
        self._source = itertools.chain.from_iterable(parts)
        self._exhausted = False

    def _fill(self, count: int) -> None:
        while not self._exhausted and len(self._items) < count:
            try:
                self._items.append(next(self._source))
            except StopIteration:
                self._exhausted = True

    def __len__(self):
        self._fill(self.LOOKAHEAD)
        return len(self._items)

    def __getitem__(self, key):
        self._fill((key.stop or self.LOOKAHEAD) if isinstance(key, slice) else key + 1)
        return self._items[key]

    def __setitem__(self, key, value):
        self._items[key] = value

    def __delitem__(self, key):
        del self._items[key]

    def insert(self, index, value):
        self._items.insert(index, value)


class _Canvas(Canvas):
    """Draws the "of M" page total, referenced by every page, once the last page is known."""

    def save(self):
        self.beginForm("page_total")
        self.setFont(FONT, 7.5)
        self.setFillColor(MUTED)
        self.drawString(0, 0, str(self._pageNumber - 1))
        self.endForm()
        super().save()


class ReportDocument(BaseDocTemplate):
    """A4 report: portrait cover, landscape body and listing pages, each with header and numbered footer."""

    def __init__(
        self,
        file,
        *,
        title: str,
        header: str,
        footer: str,
        listing_columns: list[Column] = (),
        listing_title: str = "",
        author: str = "",
        subject: str = "",
    ):
        super().__init__(
            file,
            pagesize=A4,
            leftMargin=MARGIN,
            rightMargin=MARGIN,
            topMargin=MARGIN + 6 * mm,
            bottomMargin=MARGIN + 4 * mm,
            title=title,
            author=author,
            subject=subject,
            creator="GovPortal",
            pageCompression=1,
            producer="GovPortal (ReportLab)",
        )
        self.header_text, self.footer_text = header, footer
        self.listing_columns, self.listing_title = list(listing_columns), listing_title
        wide, band = landscape(A4), 12 * mm
        self.portrait_width, self.landscape_width = A4[0] - 2 * MARGIN, wide[0] - 2 * MARGIN
        bottom = MARGIN + 4 * mm

        def frame(name, page_height, width, space=0.0):
            height = page_height - 2 * MARGIN - 10 * mm - space
            return Frame(MARGIN, bottom, width, height, id=name, leftPadding=0, rightPadding=0, topPadding=0)

        portrait_frame = frame("portrait", A4[1], self.portrait_width)
        body_frame = frame("body", wide[1], self.landscape_width)
        listing_frame = frame("listing", wide[1], self.landscape_width, band)
        self.addPageTemplates(
            [
                PageTemplate("cover", [portrait_frame], onPage=self._decorate, pagesize=A4),
                PageTemplate("body", [body_frame], onPage=self._decorate, pagesize=wide),
                PageTemplate("listing", [listing_frame], onPage=self._decorate_listing, pagesize=wide),
            ]
        )

    def build(self, story, **kwargs):
        return super().build(story, canvasmaker=_Canvas, **kwargs)

    def _decorate(self, canvas, doc):
        width, height = doc.pageTemplate.pagesize
        canvas.saveState()
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        if doc.page > 1:
            canvas.setFont(FONT, 7.5)
            canvas.setFillColor(MUTED)
            canvas.drawString(MARGIN, height - MARGIN, self.header_text)
            canvas.line(MARGIN, height - MARGIN - 3, width - MARGIN, height - MARGIN - 3)
        canvas.line(MARGIN, MARGIN + 2, width - MARGIN, MARGIN + 2)
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(MUTED)
        canvas.drawString(MARGIN, MARGIN - 7, self.footer_text)
        label = f"Page {doc.page} of "
        right = width - MARGIN - stringWidth("00000", FONT, 7.5)
        canvas.drawRightString(right, MARGIN - 7, label)
        canvas.translate(right, MARGIN - 7)
        canvas.doForm("page_total")
        canvas.restoreState()

    def _decorate_listing(self, canvas, doc):
        self._decorate(canvas, doc)
        width, height = doc.pageTemplate.pagesize
        top = height - MARGIN - 6 * mm
        canvas.saveState()
        canvas.setFont(BOLD, 10)
        canvas.setFillColor(INK)
        canvas.drawString(MARGIN, top - 4, self.listing_title)
        y = top - 12 * mm + 1
        canvas.setFillColor(BAND)
        canvas.rect(MARGIN, y, width - 2 * MARGIN, 5 * mm, stroke=0, fill=1)
        canvas.setStrokeColor(MUTED)
        canvas.setLineWidth(0.6)
        canvas.line(MARGIN, y, width - MARGIN, y)
        canvas.setFillColor(INK)
        canvas.setFont(BOLD, CELL_SIZE)
        x = MARGIN
        for column in self.listing_columns:
            canvas.drawString(x + CELL_PAD, y + 4.5, column.heading)
            x += column.width
        canvas.restoreState()
