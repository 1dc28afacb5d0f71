"""The audit API: the page's readers, scope and filters over a cursor-paginated list; exports a person starts."""

import base64
import hashlib
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_event_list
from apps.compliance.models import AuditExport, ExportStatus
from apps.compliance.reports import compliance
from tests.compliance.export_helpers import add_trail, run_verifier, save_public_key, split_jsonl

EVENTS = "/api/v1/audit/events/"
EXPORTS = "/api/v1/audit/exports/"


@pytest.fixture
def trail(cast, models):
    add_trail(cast, models)


def problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (body["status"], body["code"]) == (status, code)
    return body


def all_pages(client, url, **params):
    """Every event the list returns, following `next`; and the number of pages."""
    response = client.get(url, params)
    events, pages = [], 0
    while True:
        assert response.status_code == 200, response.content
        pages += 1
        events += response.json()["results"]
        if not response.json()["next"]:
            return events, pages
        response = client.get(response.json()["next"])


def sequences(events):
    return [event["sequence"] for event in events]


# --- reading events -------------------------------------------------------------------------------------------


def test_an_auditor_reads_the_trail_newest_first_through_cursor_pages(session_client, cast, trail):
    events, pages = all_pages(session_client(cast.audrey), EVENTS, page_size=3)
    expected = list(audit_event_list(user=cast.audrey).values_list("sequence", flat=True))
    assert sequences(events) == expected and len(expected) > 6
    assert pages == -(-len(expected) // 3)
    first = events[0]
    assert set(first) >= {"sequence", "timestamp", "actor", "actor_kind", "action", "target_type", "hash", "prev_hash"}
    assert first["timestamp"].endswith("Z")


def test_the_list_is_not_page_numbered(session_client, cast, trail):
    body = session_client(cast.audrey).get(EVENTS).json()
    assert set(body) == {"next", "previous", "results"}  # no count: cursor pagination


def test_a_read_token_reads_its_teams_trail_and_portal_wide_events_only(token_client, cast, trail):
    events, _ = all_pages(token_client(["read"]), EVENTS)
    teams = {event["team_id"] for event in events}
    assert teams == {cast.team_a.pk, None}
    fraud = AuditEvent.objects.filter(team_id=cast.team_b.pk).first()
    response = token_client(["read"]).get(f"{EVENTS}{fraud.sequence}/")
    problem(response, 404, "not_found")


def test_the_filters_are_the_audit_pages(session_client, cast, models, trail):
    client = session_client(cast.admin)
    by_action, _ = all_pages(client, EVENTS, action="version.")
    assert {event["action"] for event in by_action} == {"version.created", "version.updated"}
    by_actor, _ = all_pages(client, EVENTS, actor="DANA")
    assert by_actor and {event["actor"] for event in by_actor} == {"dana"}
    by_model, _ = all_pages(client, EVENTS, model=models.detector.pk)
    assert by_model and {event["model_id"] for event in by_model} == {models.detector.pk}
    by_team, _ = all_pages(client, EVENTS, team=cast.team_b.pk, action="role.")
    assert sequences(by_team) == list(
        AuditEvent.objects.filter(team_id=cast.team_b.pk, action__startswith="role.").values_list("sequence", flat=True)
    )
    by_target, _ = all_pages(client, EVENTS, target="inventory.environment")
    assert [event["target_label"] for event in by_target] == ["Staging"]
    today = timezone.now().date()
    assert all_pages(client, EVENTS, date_from=today, date_to=today)[0]
    assert all_pages(client, EVENTS, date_to=today - timedelta(days=1))[0] == []


@pytest.mark.parametrize(
    "params, field",
    [
        ({"date_from": "2026-13-01"}, "date_from"),
        ({"date_from": "2026-03-02", "date_to": "2026-03-01"}, "date_to"),
        ({"team": "abc"}, "team"),
        ({"version": "0"}, "version"),
        ({"actor": "x" * 201}, "actor"),
        ({"colour": "red"}, "__all__"),
    ],
)
def test_bad_filters_are_a_400_problem_naming_the_field(session_client, cast, trail, params, field):
    body = problem(session_client(cast.audrey).get(EVENTS, params), 400, "invalid")
    assert field in body["errors"]


def test_filtering_on_a_team_one_may_not_audit_is_forbidden(session_client, cast, trail):
    body = problem(session_client(cast.audrey).get(EVENTS, {"team": cast.team_b.pk}), 403, "permission_denied")
    assert "team" in body["detail"]


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        base64.b64encode(b"p=abc").decode(),  # decodes, but the position is not a sequence
        base64.b64encode(b"o=-1").decode(),
    ],
)
def test_a_bad_cursor_is_a_400_invalid_cursor(session_client, cast, trail, cursor):
    body = problem(session_client(cast.audrey).get(EVENTS, {"cursor": cursor}), 400, "invalid_cursor")
    assert "cursor" in body["detail"]


def test_an_event_shows_its_hash_and_the_previous_events(session_client, cast, trail):
    client = session_client(cast.admin)
    newest = AuditEvent.objects.order_by("-sequence")[:2]
    body = client.get(f"{EVENTS}{newest[0].sequence}/").json()
    previous = client.get(f"{EVENTS}{newest[1].sequence}/").json()
    assert body["hash"] == newest[0].hash == newest[0].compute_hash()
    assert body["prev_hash"] == previous["hash"]
    assert body["changes"] == newest[0].changes and body["context"] == newest[0].context
    problem(client.get(f"{EVENTS}999999/"), 404, "not_found")
    problem(client.get(f"{EVENTS}abc/"), 404, "not_found")


@pytest.mark.parametrize("name", ["vera", "dana", "rita"])
def test_people_who_may_not_audit_are_forbidden(session_client, cast, trail, name):
    body = problem(session_client(getattr(cast, name)).get(EVENTS), 403, "permission_denied")
    assert body["detail"] == "The audit trail is open to auditors and team admins."


def test_a_token_without_the_read_scope_is_forbidden_and_told_why(token_client, cast, trail):
    body = problem(token_client(["register"]).get(EVENTS), 403, "permission_denied")
    assert "`read` scope" in body["detail"]


def test_anonymous_callers_are_unauthorised(api, trail):
    problem(api.get(EVENTS), 401, "not_authenticated")


# --- exports --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, content_type", [("csv", "text/csv"), ("jsonl", "application/jsonl")])
def test_a_small_export_is_written_at_once_and_downloads(session_client, cast, trail, fmt, content_type):
    client = session_client(cast.audrey)
    response = client.post(EXPORTS, {"format": fmt, "action": "model."}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    export = AuditExport.objects.get()
    assert response["Location"] == body["status_url"] == f"http://testserver{EXPORTS}{export.pk}/"
    expected = audit_event_list(user=cast.audrey, action="model.").count()
    assert (body["status"], body["row_count"], body["filters"]) == ("done", expected, {"action": "model."})
    assert body["manifest"]["file_sha256"] == body["file_sha256"] and body["signature"]

    download = client.get(body["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"].startswith(content_type)
    assert download["Content-Disposition"] == f'attachment; filename="{export.file_name}"'
    data = b"".join(download.streaming_content)
    signed = data if fmt == "csv" else b"".join(line + b"\n" for line in split_jsonl(data)[0])
    assert hashlib.sha256(signed).hexdigest() == body["file_sha256"]
    exported = AuditEvent.objects.order_by("sequence").last()
    assert (exported.action, exported.actor_label) == ("audit.exported", "audrey")
    assert exported.changes["delivery"] == [None, "file"]  # the API never streams
    assert client.get(f"{EXPORTS}{export.pk}/").json() == body


def test_an_api_jsonl_export_verifies_offline(session_client, client, cast, trail, tmp_path):
    api = session_client(cast.audrey)
    body = api.post(EXPORTS, {"format": "jsonl"}, format="json").json()
    path = tmp_path / body["file_name"]
    path.write_bytes(b"".join(api.get(body["download_url"]).streaming_content))
    result = run_verifier(path, save_public_key(client, tmp_path))
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1].startswith(f"OK: {body['row_count']} events verified")


def test_a_large_export_runs_in_the_background_then_downloads(
    session_client, cast, trail, settings, django_capture_on_commit_callbacks
):
    settings.AUDIT_EXPORT_STREAM_LIMIT = 3
    client = session_client(cast.alice)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        body = client.post(EXPORTS, {"format": "csv"}, format="json").json()
    assert (body["status"], body["download_url"]) == ("running", None)
    problem(client.get(f"{EXPORTS}{body['id']}/download/"), 404, "not_found")
    assert len(callbacks) == 1
    callbacks[0]()  # the worker runs it
    status = client.get(body["status_url"]).json()
    assert (status["status"], status["row_count"], status["progress_percent"]) == ("done", body["total"], 100)
    download = client.get(status["download_url"], headers={"Accept": "text/csv"})
    assert download.status_code == 200 and download["Content-Type"] == "text/csv; charset=utf-8"


def test_a_pdf_report_is_an_export_too(session_client, cast, trail, django_capture_on_commit_callbacks):
    client = session_client(cast.audrey)
    with django_capture_on_commit_callbacks(execute=True):
        body = client.post(EXPORTS, {"format": "pdf", "action": "model."}, format="json").json()
    status = client.get(body["status_url"]).json()
    assert status["status"] == "done", status["error"]
    download = client.get(status["download_url"])
    assert download["Content-Type"] == "application/pdf"
    assert b"".join(download.streaming_content).startswith(b"%PDF")


def test_a_pdf_of_too_many_events_is_a_400_pointing_to_csv_and_nothing_is_written(
    session_client, cast, trail, monkeypatch
):
    monkeypatch.setattr(compliance, "MAX_EVENTS", 2)
    before = AuditEvent.objects.count()

    body = problem(session_client(cast.audrey).post(EXPORTS, {"format": "pdf"}, format="json"), 400, "too_many_events")

    assert "too many for a PDF report" in body["detail"] and "export CSV or JSON Lines" in body["detail"]
    assert (AuditExport.objects.count(), AuditEvent.objects.count()) == (0, before)


def test_tokens_cannot_export_and_are_told_why(token_client, cast, trail):
    client = token_client(["read", "register"])
    before = AuditEvent.objects.count()
    body = problem(client.post(EXPORTS, {"format": "csv"}, format="json"), 403, "permission_denied")
    assert "API tokens cannot export" in body["detail"]
    assert (AuditExport.objects.count(), AuditEvent.objects.count()) == (0, before)


@pytest.mark.parametrize("name", ["vera", "dana", "rita"])
def test_people_without_export_rights_cannot_export(session_client, cast, trail, name):
    response = session_client(getattr(cast, name)).post(EXPORTS, {"format": "csv"}, format="json")
    assert problem(response, 403, "permission_denied")["detail"].startswith("Only auditors and team admins")
    assert not AuditExport.objects.exists()


@pytest.mark.parametrize(
    "data, field",
    [
        ({"format": "xml"}, "format"),
        ({}, "format"),
        ({"format": "dossier-pdf"}, "format"),
        ({"format": "csv", "colour": "red"}, "colour"),
        ({"format": "csv", "date_from": "2026-02-30"}, "date_from"),
        ({"format": "csv", "date_from": "2026-03-02", "date_to": "2026-03-01"}, "date_to"),
        ({"format": "csv", "team": 0}, "team"),
    ],
)
def test_bad_export_input_is_a_400_naming_the_field_and_nothing_is_written(session_client, cast, trail, data, field):
    before = AuditEvent.objects.count()
    body = problem(session_client(cast.audrey).post(EXPORTS, data, format="json"), 400, "invalid")
    assert field in body["errors"]
    assert (AuditExport.objects.count(), AuditEvent.objects.count()) == (0, before)


def test_exporting_another_teams_trail_is_forbidden(session_client, cast, trail):
    response = session_client(cast.audrey).post(EXPORTS, {"format": "csv", "team": cast.team_b.pk}, format="json")
    problem(response, 403, "permission_denied")
    assert not AuditExport.objects.exists()


def test_someone_elses_export_is_not_found_but_portal_admins_see_it(session_client, cast, trail):
    body = session_client(cast.audrey).post(EXPORTS, {"format": "csv"}, format="json").json()
    ben = session_client(cast.ben)
    problem(ben.get(body["status_url"]), 404, "not_found")
    problem(ben.get(body["download_url"]), 404, "not_found")
    assert session_client(cast.admin).get(body["status_url"]).json()["id"] == body["id"]
    problem(ben.get(f"{EXPORTS}not-a-uuid/"), 404, "not_found")


def test_an_expired_export_has_no_file(session_client, cast, trail):
    from apps.compliance.exports.services import exports_expire

    client = session_client(cast.audrey)
    body = client.post(EXPORTS, {"format": "csv"}, format="json").json()
    exports_expire(now=timezone.now() + timedelta(days=30))
    status = client.get(body["status_url"]).json()
    assert (status["status"], status["download_url"]) == (ExportStatus.EXPIRED, None)
    problem(client.get(body["download_url"]), 404, "not_found")


def test_the_schema_documents_downloads_as_binary_files(api, db):
    schema = json.loads(api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    content = schema["paths"]["/api/v1/audit/exports/{id}/download/"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"text/csv", "application/jsonl", "application/pdf"}
    assert all(media["schema"] == {"type": "string", "format": "binary"} for media in content.values())
    created = schema["paths"]["/api/v1/audit/exports/"]["post"]["responses"]
    assert "202" in created and "201" not in created
