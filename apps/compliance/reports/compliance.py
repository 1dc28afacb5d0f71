"""The audit trail's PDF compliance report, written for a reader who never saw the portal.

Cover: scope in words, who generated it and when, the chain head, the result of verifying the
whole chain at that moment, the signing key and how to verify offline. Then summaries derived
from the exported events (summary.py), then every event, oldest first.

Events come through server-side cursors: one pass over the summary actions, one over the
listing, whose rows become small tables only as pages are laid out (`pdf.LazyStory`). 100,000
events make about 4,800 pages in 70-80 s and 240 MB (ReportLab holds the pages until it saves;
MAX_EVENTS bounds that). Both passes stop at the chain head read when verification began, so
the cover, the summaries and the listing describe the same events.
"""

from xml.sax.saxutils import escape

from django.conf import settings
from django.db.models import Count, Max, Min
from django.utils import timezone
from reportlab.platypus import NextPageTemplate, PageBreak, Spacer

from apps.accounts import permissions
from apps.accounts.models import Team
from apps.audit import signing
from apps.audit.models import AuditEvent
from apps.audit.verification import Verification, verify_chain

from ..exports import services, writer
from ..exports.filters import AuditFilters
from ..models import AuditExport
from . import pdf
from .summary import CLOSING, EVENT_COLUMNS, Summary, actor_text, sections

TITLE = "Audit trail compliance report"
PROGRESS_EVERY = 2000
# ReportLab keeps every page in memory until the file is saved (about 2 KB per listed event):
# beyond this a PDF is refused with a pointer to CSV or JSON Lines, which stream in flat memory.
MAX_EVENTS = 250_000
TARGET_TYPES = {"model": "inventory.registeredmodel", "version": "inventory.modelversion",
                "environment": "inventory.environment", "request": "approvals.deploymentrequest"}  # fmt: skip
LISTING_COLUMNS = (("Seq.", 38, pdf.FONT, None), ("Time (UTC)", 88), ("Actor", 80, pdf.FONT, 3), ("Action", 96),
                   ("Target", 160, pdf.FONT, 3), ("Changes", 350, pdf.FONT, 4))  # fmt: skip
OFFLINE_STEPS = (
    "1. Download the signed manifest of this export, {portal}/audit/exports/{export}/manifest, and the portal's "
    "public key, {portal}/audit/public-key (key id {key_id}).",
    "2. Check the manifest's Ed25519 signature with that key over the manifest's canonical JSON (keys sorted, no "
    "spaces, UTF-8). The manifest states the scope, the event count and sequence ranges, the chain head and any "
    "signed checkpoints.",
    "3. Compute the SHA-256 of this PDF file (sha256sum on Linux, shasum -a 256 on macOS, Get-FileHash in "
    "PowerShell) and compare it with the manifest's file_sha256. A match proves the file is exactly what the "
    "portal produced; a file cannot state its own hash, so the manifest does.",
    "4. Or let verify_audit.py (the portal's /audit/verify_audit.py) do steps 2 and 3 (Python standard library and "
    "the cryptography package; no portal needed): python verify_audit.py {file} --manifest {file}.manifest.json "
    "--public-key govportal-audit.pub. To recompute every event's hash yourself, export the same scope as JSON Lines "
    "and run it on that file.",
)
CONTENTS = (
    "1. Deployment requests by outcome and environment · 2. Approvals and signature manifestations · 3. Deployments "
    "approved · 4. Lifecycle changes · 5. Emergency (break-glass) deployments · 6. Event listing. Sections 1 to 5 "
    "are derived from the events in this report "
    "alone. The listing summarises each event's changes and cuts long values; the CSV and JSON Lines exports hold "
    "every field in full. Times are UTC, ISO 8601."
)


def _labels(user, target_type: str, ids) -> dict[str, str]:
    """The newest label the trail (as `user` may read it) gives each of these targets."""
    rows = AuditEvent.objects.restrict(user).filter(target_type=target_type, target_id__in=[str(i) for i in ids])
    return dict(rows.order_by("sequence").values_list("target_id", "target_label"))


def scope_in_words(export: AuditExport, filters: AuditFilters) -> list[str]:
    """What the report covers, as sentences: the requester's audit scope, then each filter."""
    user = export.requested_by
    if permissions.is_portal_admin(user):
        lines = ["The whole audit trail (the requester is a portal administrator)."]
    else:
        teams = Team.objects.filter(pk__in=permissions.team_ids_with(user, permissions.VIEW_AUDIT)).order_by("name")
        names = ", ".join(teams.values_list("name", flat=True)) or "none"
        lines = [f"The audit trail of the teams whose trail the requester may read ({names}), and portal-wide "
                 "events (environments, approval policies, accounts)."]  # fmt: skip
    if filters.team is not None:
        team = Team.objects.filter(pk=filters.team).values_list("name", flat=True).first()
        lines.append(f"Team: {team or 'unknown'} (id {filters.team}).")
    for key, target_type in TARGET_TYPES.items():
        value = getattr(filters, key)
        if value is not None:
            label = _labels(user, target_type, [value]).get(str(value), "no event names it")
            lines.append(f"{key.title()}: {label} (id {value}).")
    if filters.date_from or filters.date_to:
        start = filters.date_from.isoformat() if filters.date_from else "the first event"
        end = filters.date_to.isoformat() if filters.date_to else "generation"
        lines.append(f"Dates: from {start} to {end} (UTC days, both inclusive).")
    if filters.actor:
        lines.append(f'Actor: "{filters.actor}".')
    if filters.action:
        lines.append(f'Actions starting with "{filters.action}".')
    if filters.target:
        lines.append(f'Targets whose label contains "{filters.target}" or whose type is "{filters.target}".')
    if len(lines) == 1:
        lines.append("No filters: every event in that scope.")
    return lines


def _verdict(verification: Verification, width: float):
    """The cover's statement on the chain: green and short when it holds, red and explicit when it does not."""
    if verification.ok:
        return pdf.callout([
            pdf.markup(f"<font color='#1e6b34'>Verified: {verification.count:,} events intact</font>", "verdict"),
            pdf.para(f"When this report was generated, the portal recomputed the hash chain from event 1 to the chain "
                     f"head #{verification.head_sequence}: every event matched its stored hash and its link to the "
                     "event before it. The whole chain was checked, not only the events in this report.", "small"),
        ], ok=True, width=width)  # fmt: skip
    bad = verification.bad_sequence
    headline = f"VERIFICATION FAILED at sequence {bad}: {verification.problem} — {verification.detail}"
    return pdf.callout([
        pdf.markup(f"<font color='#a4121c'>{escape(headline)}</font>", "verdict"),
        pdf.para(f"The audit trail's hash chain does not hold: the database was changed outside the portal (an event "
                 f"edited, deleted or inserted). {verification.count:,} events before sequence {bad} verified. Treat "
                 f"the events from sequence {bad} on as unproven and escalate; this report shows them as they are "
                 "stored now.", "small"),
    ], ok=False, width=width)  # fmt: skip


def _cover(export, filters, verification: Verification, stats: dict, generated_at: str, width: float) -> list:
    user = export.requested_by
    portal = settings.PORTAL_BASE_URL.rstrip("/")
    key_id = signing.key_id()
    names = {"portal": portal, "export": export.pk, "key_id": key_id, "file": services.file_name(export)}
    events = f"{stats['count']:,} (sequences {stats['first']} to {stats['last']})" if stats["count"] else None
    facts = [
        ("Portal", portal),
        ("Scope", pdf.para("\n".join(scope_in_words(export, filters)), "value")),
        ("Events in this report", events or "none match the scope"),
        ("Generated by", f"{user.get_full_name() or user.username} (username {user.username})"),
        ("Generated at", generated_at),
        ("Export id", str(export.pk)),
        ("Chain head", pdf.para(f"#{verification.head_sequence}\n{verification.head_hash}", "mono")),
        ("Signing key", pdf.para(key_id, "mono")),
    ]
    return [
        pdf.para("GovPortal · ML model governance and audit", "brand"),
        pdf.para(TITLE, "title"),
        pdf.para(
            "The record of who changed, requested, approved and deployed what, taken from the portal's "
            "tamper-evident audit trail.",
            "subtitle",
        ),
        _verdict(verification, width),
        Spacer(1, 10),
        pdf.facts(facts, width=width),
        pdf.para("How to verify this report offline", "h2"),
        *(pdf.para(step.format(**names), "small") for step in OFFLINE_STEPS),
        pdf.para("Contents", "h2"),
        pdf.para(CONTENTS, "small"),
    ]


def listing_row(row: dict) -> list:
    """One event as the listing shows it: changes summarised on a few lines."""
    target = row["target_label"] or (f"{row['target_type']} {row['target_id']}".strip() or "—")
    changes = pdf.summarise_changes(row["changes"], 72, separator="\u00a0· ") or "—"
    return [row["sequence"], pdf.utc(row["timestamp"]), actor_text(row), row["action"], target, changes]


def _listing(events, tally: writer.Tally, export_id, columns):
    """The listing's tables, oldest first; feeds the tally and reports progress as pages are laid out."""

    def rows():
        for row in events.order_by("sequence").values(*EVENT_COLUMNS).iterator(chunk_size=writer.CHUNK):
            tally.add_event(row["sequence"])
            if tally.count % PROGRESS_EVERY == 0:
                AuditExport.objects.filter(pk=export_id).update(row_count=tally.count)
            yield listing_row(row)

    yield from pdf.listing_tables(columns, rows())
    if tally.count == 0:
        yield pdf.para("No events match this report's scope.")


def _write(export, handle, *, filters, verification, events, stats, summary, tally, generated_at) -> None:
    user = export.requested_by
    doc = pdf.ReportDocument(
        handle, title=TITLE, author=f"{user.get_full_name() or user.username} via GovPortal",
        subject=f"Audit export {export.pk}", footer=f"GovPortal audit export {export.pk}",
        header=f"{TITLE} · {settings.PORTAL_BASE_URL.rstrip('/')} · generated {generated_at}",
    )  # fmt: skip
    doc.listing_columns = pdf.make_columns(LISTING_COLUMNS, doc.landscape_width)
    doc.listing_title = f"6. Event listing — {stats['count']:,} events, oldest first"
    doc.build(pdf.LazyStory(
        _cover(export, filters, verification, stats, generated_at, doc.portrait_width),
        [NextPageTemplate("body"), PageBreak()],
        sections(summary, doc.landscape_width),
        [NextPageTemplate("listing"), PageBreak()],
        _listing(events, tally, export.pk, doc.listing_columns),
    ))  # fmt: skip


def export_compliance_pdf(export: AuditExport) -> AuditExport:
    """Write the export's PDF report to its file and finish the export (manifest signed, `audit.exported`)."""
    filters = services.filters_of(export)
    verification = verify_chain()
    generated_at = pdf.utc(timezone.now())
    events = services.export_events(user=export.requested_by, filters=filters)
    events = events.filter(sequence__lte=verification.head_sequence)
    stats = events.aggregate(count=Count("pk"), first=Min("sequence"), last=Max("sequence"))
    if stats["count"] > MAX_EVENTS:
        raise ValueError(
            f"{stats['count']:,} events are too many for a PDF report (at most {MAX_EVENTS:,}): narrow the filters, "
            "or export CSV or JSON Lines."
        )
    closing = events.filter(action__in=CLOSING, environment_id__isnull=False).values_list("environment_id", flat=True)
    environments = _labels(export.requested_by, TARGET_TYPES["environment"], set(closing.distinct()))
    summary = Summary.collect(events, environments)
    path = services.file_path(export)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".part")
    tally = writer.Tally()
    try:
        with open(partial, "wb") as handle:
            _write(export, handle, filters=filters, verification=verification, events=events, stats=stats,
                   summary=summary, tally=tally, generated_at=generated_at)  # fmt: skip
        with open(partial, "rb") as handle:  # the manifest states the finished file's hash
            for block in iter(lambda: handle.read(1 << 20), b""):
                tally.add_bytes(block)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    manifest, signature = writer.build_manifest(export=export, tally=tally)
    partial.replace(path)
    return services.export_finish(export=export, tally=tally, manifest=manifest, signature=signature)
