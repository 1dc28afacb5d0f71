"""`audit.exported` is the exported team's business: who exported Credit Risk's trail is not Fraud's to read."""

from rest_framework.test import APIClient

from apps.audit.models import AuditEvent


def api_as(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def exported_seen_by(user) -> list[str]:
    response = api_as(user).get("/api/v1/audit/events/", {"action": "audit.exported"})
    assert response.status_code == 200
    return [event["actor"] for event in response.json()["results"]]


def start_export(user, **body) -> None:
    response = api_as(user).post("/api/v1/audit/exports/", body, format="json")
    assert response.status_code == 202, response.content


def test_an_export_by_a_one_team_auditor_is_recorded_in_that_team(cast, models):
    start_export(cast.audrey, format="csv")

    [event] = AuditEvent.objects.filter(action="audit.exported")
    assert event.team_id == cast.team_a.pk
    assert exported_seen_by(cast.alice) == exported_seen_by(cast.audrey) == ["audrey"]
    assert exported_seen_by(cast.ben) == []


def test_an_export_filtered_on_a_team_is_recorded_in_it_and_a_superusers_other_exports_stay_portal_wide(cast, models):
    start_export(cast.admin, format="csv", team=cast.team_b.pk)
    start_export(cast.admin, format="jsonl")

    events = AuditEvent.objects.filter(action="audit.exported").order_by("sequence")
    assert [event.team_id for event in events] == [cast.team_b.pk, None]
    assert len(exported_seen_by(cast.ben)) == 2  # Fraud's own, and the portal-wide one every auditor reads
    assert len(exported_seen_by(cast.audrey)) == 1
