"""The auditor's path end to end in Chromium, as audrey walks it: filter the trail by model (the picker that searches
as you type) and by date, open an event, export the filtered view as CSV, JSON Lines and PDF, and verify each file
offline with the command its export page shows, under a Python without Django. Then one byte of each file is
changed, inside what the file says, and each verification fails with a non-zero exit and says why.
"""

import csv
import io
import json
import re
import shlex
import subprocess
from datetime import UTC, timedelta
from types import SimpleNamespace

import pytest
from django.db import transaction

from apps.audit import services as audit_services
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.audit.services import record
from tests.compliance.export_helpers import add_trail, bare_python

pytestmark = pytest.mark.browser

PDF_WAIT_MS = 60_000  # a PDF is written by the (in-process) worker; its page polls until it is done


@pytest.fixture
def day(cast, models, monkeypatch):
    """The trail of one UTC day (the `models` fixture's events and export_helpers.add_trail's), then a Retail Scorecard
    event two days later: the date filter must leave it out. Returns the day."""
    add_trail(cast, models)
    today = AuditEvent.objects.order_by("-sequence").first().timestamp
    later = today + timedelta(days=2)
    with monkeypatch.context() as patch, transaction.atomic():
        patch.setattr(audit_services, "timezone", SimpleNamespace(now=lambda: later))
        record(action=Action.MODEL_UPDATED, actor=Actor.of(cast.dana), target=models.scorecard,
               changes={"description": ["", "Two days later."]})  # fmt: skip
    return today.astimezone(UTC).date()


def run(argv: list[str], folder) -> subprocess.CompletedProcess:
    """A command as the export page shows it (`python verify_audit.py …`), run from the folder holding the downloads
    with a Python that has cryptography and no Django (-I: neither the folder nor PYTHONPATH adds anything)."""
    assert argv[:2] == ["python", "verify_audit.py"], argv
    return subprocess.run([bare_python(), "-I", *argv[1:]], cwd=folder, capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip


def flip(path, offset: int) -> None:
    """Change one bit of the byte at `offset` in `path`, as corruption or an edit would."""
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def first_page_byte(pdf: bytes) -> int:
    """The offset of a byte of the first page's drawing (its content stream, ASCII85 over Flate in ReportLab's PDFs)
    whose flipped low bit is still an ASCII85 digit: the page's content itself changes, not padding or whitespace."""
    contents = int(re.search(rb"/Contents (\d+) 0 R", pdf).group(1))
    start = pdf.index(b"stream\n", pdf.index(b"\n%d 0 obj" % contents)) + len(b"stream\n")
    return next(offset for offset in range(start + 16, len(pdf)) if 0x22 <= pdf[offset] <= 0x75)


def test_audrey_filters_reads_exports_three_formats_and_each_verifies_offline_until_a_byte_changes(
    login, cast, models, day, tmp_path
):
    from playwright.sync_api import expect

    expected = set(
        AuditEvent.objects.filter(model_id=models.scorecard.pk, timestamp__date=day).values_list("sequence", flat=True)
    )
    later = AuditEvent.objects.filter(model_id=models.scorecard.pk, timestamp__date__gt=day).get().sequence
    others = AuditEvent.objects.restrict(cast.audrey).exclude(model_id=models.scorecard.pk)
    assert len(expected) >= 5 and others.exists()  # both filters leave events out

    # Filter: the model by typing part of its name and choosing a suggestion, the day by the date fields
    page = login("audrey")
    page.goto("/audit/")
    model = page.get_by_role("combobox", name="Model")
    model.press_sequentially("retail sc")
    page.get_by_role("listbox", name="Model suggestions").get_by_role("option", name="Retail Scorecard").click()
    expect(model).to_have_value("Retail Scorecard")
    page.get_by_label("From (UTC)").fill(day.isoformat())
    page.get_by_label("To (UTC)").fill(day.isoformat())
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/audit/?*")
    rows = page.locator("a[href^='/audit/']").evaluate_all(
        "links => links.map(a => a.getAttribute('href')).filter(href => /^\\/audit\\/\\d+\\/$/.test(href))"
    )
    assert {int(href.split("/")[2]) for href in rows} == expected
    assert later not in expected
    filtered = page.url

    # Open an event: the newest of the day, alice's lifecycle change, as a sentence with its changes
    newest = max(expected)
    page.locator(f"a[href='/audit/{newest}/']").first.click()
    page.wait_for_url(f"**/audit/{newest}/")
    expect(page.locator("#event-sentence")).to_contain_text("Alice Tester moved Retail Scorecard")
    expect(page.locator(".changes-table")).to_contain_text("Lifecycle status")
    page.goto(filtered)

    # The verifier and the public key, as an outside auditor gets them
    with page.expect_download() as verifier:
        page.locator("#export-form").get_by_role("link", name="verify_audit.py").click()
    verifier.value.save_as(tmp_path / "verify_audit.py")
    (tmp_path / "govportal-audit.pub").write_bytes(page.request.get("/audit/public-key").body())

    def export_page_command(file_name: str) -> list[str]:
        """The newest export's page: its filters, its manifest saved beside the file, and its verify command."""
        page.goto("/audit/exports/")
        page.locator("tbody tr a").first.click()
        status = page.locator("#export-status")
        expect(status).to_contain_text("model: Retail Scorecard")  # by name, not by the id the export keeps
        expect(status).to_contain_text(f"from: {day.isoformat()}")
        expect(status).to_contain_text(f"to: {day.isoformat()}")
        if not file_name.endswith(".pdf"):  # streamed to the browser: the page says how to get the file again
            expect(page.locator("#delivery")).to_contain_text(f"Streamed to your browser as {file_name}")
            expect(page.locator("#export-again")).to_contain_text("To download it again")
        argv = shlex.split(page.locator("#verify-command").inner_text())
        assert file_name in argv, (file_name, argv)
        if "--manifest" in argv:
            with page.expect_download() as manifest:
                page.locator("#download-manifest").click()
            assert manifest.value.suggested_filename == argv[argv.index("--manifest") + 1]
            manifest.value.save_as(tmp_path / manifest.value.suggested_filename)
        return argv

    def export(fmt: str):
        """Start an export of the filtered view from the audit page; (the saved file, the command its page shows)."""
        page.goto(filtered)
        with page.expect_download(timeout=PDF_WAIT_MS) as download:
            page.locator("#export-form").get_by_role("button", name=fmt).click()
            if fmt == "PDF report":  # written by the worker: its page offers the file when it is done
                page.wait_for_url("**/audit/exports/*/")
                page.locator("#download").click(timeout=PDF_WAIT_MS)
        path = tmp_path / download.value.suggested_filename
        download.value.save_as(path)
        return path, export_page_command(path.name)

    csv_file, csv_command = export("CSV")
    jsonl_file, jsonl_command = export("JSON Lines")
    pdf_file, pdf_command = export("PDF report")
    assert [csv_file.suffix, jsonl_file.suffix, pdf_file.suffix] == [".csv", ".jsonl", ".pdf"]
    assert "--manifest" in csv_command and "--manifest" in pdf_command and "--manifest" not in jsonl_command

    # What the files hold: the filtered view's events, no more
    rows = list(csv.DictReader(io.StringIO(csv_file.read_text(encoding="utf-8"), newline="")))
    assert {int(row["sequence"]) for row in rows} == expected
    lines = jsonl_file.read_bytes().splitlines()
    assert {json.loads(line)["sequence"] for line in lines[:-1]} == expected
    assert json.loads(lines[-1])["manifest"]["filters"]["date_from"] == day.isoformat()

    # Each verifies with its page's command
    count = len(expected)
    results = {name: run(argv, tmp_path) for name, argv in
               (("csv", csv_command), ("jsonl", jsonl_command), ("pdf", pdf_command))}  # fmt: skip
    for name, result in results.items():
        assert result.returncode == 0, (name, result.stdout, result.stderr)
    assert results["csv"].stdout.startswith("OK: file intact and signed by key ")
    assert f"CSV export {csv_file.name.split('-')[-1][:8]} of {count} events" in results["csv"].stdout
    assert f"OK: {count} events verified; manifest signature and file hash valid" in results["jsonl"].stdout
    assert results["pdf"].stdout.startswith("OK: file intact and signed by key ")
    assert f"of {count} events" in results["pdf"].stdout

    # One byte of each, inside what it says: a label in the CSV and in a JSON Lines event, a byte of the PDF's page
    flip(csv_file, csv_file.read_bytes().index(b"Retail Scorecard"))  # R becomes S
    flip(jsonl_file, jsonl_file.read_bytes().index(b"Retail Scorecard"))
    flip(pdf_file, first_page_byte(pdf_file.read_bytes()))
    tampered = {name: run(argv, tmp_path) for name, argv in
                (("csv", csv_command), ("jsonl", jsonl_command), ("pdf", pdf_command))}  # fmt: skip
    for name, result in tampered.items():
        assert result.returncode == 1, (name, result.stdout, result.stderr)
        assert result.stdout.startswith("FAILED: "), (name, result.stdout)
    changed = "FAILED: the file's SHA-256 does not match the signed manifest: the file was changed"
    assert tampered["csv"].stdout.startswith(changed)
    assert tampered["pdf"].stdout.startswith(changed)
    assert "its content does not match its hash (edited)" in tampered["jsonl"].stdout
