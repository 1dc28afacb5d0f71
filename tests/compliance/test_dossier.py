"""A model's compliance dossier (JSON and PDF): its contents, who may have it, and that it is an audit export."""

import hashlib
import io
import json
from types import SimpleNamespace

import pytest
from pypdf import PdfReader

from apps.accounts.signatures import SignatureError
from apps.approvals.models import Decision
from apps.audit import hashing, signing
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent, ChainHead
from apps.compliance import dossier
from apps.compliance.exports import services as exports
from apps.compliance.models import AuditExport, ExportStatus
from apps.inventory import services as inventory
from tests.approvals.conftest import (  # noqa: F401 — fixtures used by name
    BUSINESS_SIGN_OFF,
    MODEL_CARD,
    MODEL_RISK_REVIEW,
    decide,
    envs,
    policy,
    request_production,
    scorecard,
)
from tests.conftest import DIGEST

from .export_helpers import flip_byte, run_verifier, save_public_key

# Signed decisions re-authenticate outside any transaction, so the story runs on real transactions.
pytestmark = pytest.mark.usefixtures("transactional_db")


@pytest.fixture
def story(cast, envs, scorecard):  # noqa: F811 — fixtures imported from tests/approvals/conftest.py
    """Retail Scorecard: two versions, sent to validation, 1.0.0 approved for production with three signatures."""
    inventory.registered_model_set_lifecycle(
        actor=Actor.of(cast.dana), model=scorecard, status="validation", reason="Frozen for independent validation."
    )
    approved = request_production(cast, scorecard.versions.get(version="1.0.0"), envs)
    for person in (cast.rita, cast.sam, cast.bo):
        decide(person, approved)
    return SimpleNamespace(model=scorecard, approved=approved, url=f"/dossiers/{scorecard.slug}/")


def fetch(client, user, url, fmt):
    client.force_login(user)
    return client.post(url, {"format": fmt})


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


def test_json_dossier_has_every_heading_and_the_models_record(client, cast, story):
    head = ChainHead.objects.get()
    response = fetch(client, cast.audrey, story.url, "json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith('attachment; filename="govportal-dossier-')
    data = json.loads(body_of(response))
    assert [section["heading"] for section in data["sections"]] == [heading for _, heading in dossier.SECTIONS]
    assert all(key in data for key, _ in dossier.SECTIONS)
    assert data["export_id"] == response["X-Export-Id"]
    assert data["generated_by"] == {"username": "audrey", "name": "Audrey Tester"}
    assert data["chain_head"] == {"sequence": head.sequence, "hash": head.hash}

    record = data["inventory_record"]
    assert (record["name"], record["team"], record["risk_tier"]) == ("Retail Scorecard", "Credit Risk", "high")
    assert record["owners"] == [{"username": "dana", "name": "Dana Tester"}] and record["tags"] == ["credit"]
    assert data["intended_use"]["intended_use"] == "Retail credit decisions."
    assert [v["version"] for v in data["versions"]] == ["1.1.0", "1.0.0"]
    assert all(v["artifact_digest"] == DIGEST and v["metrics"] == {"auc": 0.81} for v in data["versions"])
    assert all(v["model_card"] == MODEL_CARD for v in data["versions"])

    validation = data["validation"]
    assert validation["validator"] == {"username": "rita", "name": "Rita Tester"}
    lifecycle = [entry for entry in validation["history"] if entry["action"] == Action.MODEL_LIFECYCLE_CHANGED]
    assert lifecycle[0]["changes"] == {"lifecycle_status": ["development", "validation"],
                                       "reason": [None, "Frozen for independent validation."]}  # fmt: skip

    [request] = data["deployment_requests"]
    assert (request["id"], request["state"], request["environment"]) == (story.approved.pk, "approved", "production")
    assert request["policy"] == {"name": "Production high risk", "revision": 1}
    signatures = {(d["printed_name"], d["meaning"], d["signature_hash"]) for d in request["decisions"]}
    assert signatures == {(d.printed_name, d.meaning, d.signature_hash) for d in Decision.objects.all()}
    assert {d["meaning"] for d in request["decisions"]} == {f"Approved as {MODEL_RISK_REVIEW}",
                                                           f"Approved as {BUSINESS_SIGN_OFF}"}  # fmt: skip
    assert all(d["signed"] and len(d["signature_hash"]) == 64 for d in request["decisions"])
    assert data["current_deployments"] == [{
        "environment": "production", "status": "approved for", "version": "1.0.0", "artifact_digest": DIGEST,
        "approved_at": request["closed_at"], "request": story.approved.pk, "running": [], "drift": None,
    }]  # fmt: skip

    events = data["event_history"]
    model_events = AuditEvent.objects.filter(model_id=story.model.pk, sequence__lte=head.sequence)
    assert [e["sequence"] for e in events] == list(model_events.order_by("sequence").values_list("sequence", flat=True))
    assert all(hashing.compute_hash(event) == event["hash"] for event in events)  # recomputable from the JSON alone


def test_pdf_dossier_renders_every_heading_and_the_signatures(client, cast, story):
    response = fetch(client, cast.audrey, story.url, "pdf")

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    body = body_of(response)
    assert body.startswith(b"%PDF-")
    text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(body)).pages)
    assert "Model compliance dossier" in text and "Retail Scorecard" in text
    for number, (_, heading) in enumerate(dossier.SECTIONS, 1):
        assert f"{number}. {heading}" in text
    for decision in Decision.objects.all():
        assert f"{decision.printed_name} ({decision.username})" in text
    assert f"Approved as {MODEL_RISK_REVIEW}" in text and "approved for" in text
    assert "Frozen for independent validation." in text and "Retail credit decisions." in text
    assert f"GovPortal dossier export {response['X-Export-Id']}" in text


@pytest.mark.parametrize("fmt", ["json", "pdf"])
def test_each_dossier_is_one_audit_export_of_exactly_those_bytes(client, cast, story, fmt):
    response = fetch(client, cast.audrey, story.url, fmt)
    body = body_of(response)

    export = AuditExport.objects.get()
    assert str(export.pk) == response["X-Export-Id"]
    assert response["Link"] == f'</audit/exports/{export.pk}/manifest>; rel="describedby"'
    [recorded] = AuditEvent.objects.filter(action=Action.AUDIT_EXPORTED)
    assert recorded.actor_label == "audrey" and recorded.target_id == str(export.pk)
    assert recorded.changes["format"] == [None, f"dossier-{fmt}"]
    assert recorded.changes["filters"] == [None, {"model": story.model.pk}]
    assert recorded.changes["file_sha256"] == [None, hashlib.sha256(body).hexdigest()]
    model_events = AuditEvent.objects.filter(model_id=story.model.pk, sequence__lt=recorded.sequence)
    assert recorded.changes["row_count"] == [None, model_events.count()]
    assert export.status == ExportStatus.DONE and export.manifest["file_sha256"] == hashlib.sha256(body).hexdigest()
    assert signing.verify(export.manifest, export.signature)
    client.force_login(cast.audrey)
    assert b"".join(client.get(f"/audit/exports/{export.pk}/download").streaming_content) == body
    assert exports.file_path(export).read_bytes() == body
    assert not list(exports.file_path(export).parent.glob("*.part"))


@pytest.mark.parametrize(("fmt", "what"), [("json", "JSON model dossier"), ("pdf", "PDF model dossier")])
def test_each_dossier_verifies_offline_against_its_manifest_and_a_flipped_byte_fails(
    client, cast, story, tmp_path, fmt, what
):
    response = fetch(client, cast.audrey, story.url, fmt)
    export = AuditExport.objects.get()
    path = tmp_path / export.file_name
    path.write_bytes(body_of(response))
    (tmp_path / export.manifest_file_name).write_bytes(client.get(f"/audit/exports/{export.pk}/manifest").content)
    key = save_public_key(client, tmp_path)

    result = run_verifier(path, key)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(
        f"OK: file intact and signed by key {signing.key_id()}: {what} {str(export.pk)[:8]}"
    )
    flip_byte(path)
    result = run_verifier(path, key)
    assert result.returncode == 1
    assert result.stdout.startswith("FAILED: the file's SHA-256 does not match the signed manifest")


@pytest.mark.parametrize(
    ("who", "status"),
    [("vera", 403), ("dana", 403), ("rita", 403), ("ben", 404), ("audrey", 200), ("alice", 200), ("admin", 200)],
)
def test_only_auditors_and_admins_of_the_models_team_get_its_dossier(client, cast, story, who, status):
    response = fetch(client, getattr(cast, who), story.url, "json")

    assert response.status_code == status
    exported = AuditEvent.objects.filter(action=Action.AUDIT_EXPORTED)
    assert exported.count() == (1 if status == 200 else 0)
    assert AuditExport.objects.count() == (1 if status == 200 else 0)


def test_dossier_refuses_get_and_unknown_formats(client, cast, story):
    client.force_login(cast.audrey)
    assert client.get(story.url).status_code == 405
    assert client.post(story.url, {"format": "docx"}).status_code == 400
    assert not AuditExport.objects.exists()


def test_model_page_offers_the_dossier_only_to_those_who_may_export(client, cast, story):
    client.force_login(cast.audrey)
    page = client.get(f"/models/{story.model.slug}/").content.decode()
    assert "Compliance dossier" in page and f'action="{story.url}"' in page
    client.force_login(cast.vera)
    assert "Compliance dossier" not in client.get(f"/models/{story.model.slug}/").content.decode()


@pytest.mark.parametrize(("who", "shown"), [("audrey", False), ("alice", False), ("admin", True)])
def test_a_failed_signature_is_in_the_dossier_of_portal_auditors_only(client, cast, envs, story, who, shown):  # noqa: F811
    pending = request_production(cast, story.model.versions.get(version="1.1.0"), envs)
    with pytest.raises(SignatureError):
        decide(cast.rita, pending, password="not-my-password")

    data = json.loads(body_of(fetch(client, getattr(cast, who), story.url, "json")))

    actions = {event["action"] for event in data["event_history"]}
    assert "request.submitted" in actions
    assert ("signature.failed" in actions) is shown
