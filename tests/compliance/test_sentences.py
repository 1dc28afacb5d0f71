"""Audit events read as sentences, beside their codes, on the audit trail and the event page.

Every action in the catalogue has a sentence; a sentence reads the event's own changes and labels; an event
that lacks what its sentence needs reads as the generic sentence rather than as an invented fact.
"""

import html
import re
from types import SimpleNamespace

import pytest
from django.db import transaction

from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.audit.services import Target, record
from apps.compliance import sentences
from apps.core import request_context


def event(action, changes=None, target="Request #7: Retail Scorecard 2.0.0 → production", actor="rita"):
    return SimpleNamespace(action=action, changes=changes or {}, target_label=target, actor_label=actor)


def test_every_action_in_the_catalogue_has_a_sentence():
    assert set(sentences.SENTENCES) == set(Action)


# What each service records (apps/*/services): an event with these changes reads as its own sentence, not GENERIC.
RECORDED = {
    Action.AUDIT_EXPORTED: {"format": [None, "csv"], "row_count": [None, 12], "complete": [None, True]},
    Action.AUDIT_CHECKPOINT_SIGNED: {},
    Action.USER_CREATED: {"username": [None, "kenji"]},
    Action.USER_UPDATED: {"email": ["a@x", "b@x"]},
    Action.USER_LOGGED_IN: {},
    Action.USER_LOGIN_FAILED: {},
    Action.USER_LOGIN_LOCKED: {"locked": [None, "user"], "failures": [None, 5], "until": [None, "2026-12-02T22:13Z"]},
    Action.USER_UNLOCKED: {"failed_attempts": [5, 0], "locked": [True, False]},
    Action.USER_LOGGED_OUT: {},
    Action.TEAM_CREATED: {"name": [None, "Fraud"]},
    Action.TEAM_UPDATED: {"name": ["Fraud", "Fraud & Financial Crime"]},
    Action.ROLE_GRANTED: {"user": [None, "kenji"], "role": [None, "contributor"], "team": [None, "Fraud"]},
    Action.ROLE_CHANGED: {"role": ["viewer", "approver"]},
    Action.ROLE_REVOKED: {"user": ["kenji", None], "role": ["contributor", None]},
    Action.PERMISSION_GRANTED: {"user": [None, "vera"], "permission": [None, "view_registeredmodel"]},
    Action.PERMISSION_REVOKED: {"user": ["vera", None], "permission": ["view_registeredmodel", None]},
    Action.SERVICE_ACCOUNT_CREATED: {"username": [None, "svc-ci"], "team": [None, "Credit Risk"]},
    Action.TOKEN_CREATED: {"account": [None, "svc-ci"], "name": [None, "GitHub"], "prefix": [None, "ab12cd34"]},
    Action.TOKEN_REVOKED: {"account": [None, "svc-ci"], "prefix": [None, "ab12cd34"]},
    Action.CREDENTIAL_CREATED: {"name": [None, "github-credit-risk"]},
    Action.CREDENTIAL_UPDATED: {"hosts": [["github.com"], ["github.com", "gitlab.com"]]},
    Action.MODEL_REGISTERED: {"name": [None, "Retail Scorecard"]},
    Action.MODEL_UPDATED: {"description": ["", "Scores applications."]},
    Action.MODEL_LIFECYCLE_CHANGED: {"lifecycle_status": ["development", "validation"], "reason": [None, "Frozen."]},
    Action.MODEL_VALIDATED: {"last_validated_on": [None, "2026-10-18"]},
    Action.VERSION_CREATED: {"version": [None, "2.0.0"]},
    Action.VERSION_UPDATED: {"notes": ["", "Retrained."]},
    Action.ENVIRONMENT_CREATED: {"name": [None, "staging"]},
    Action.ENVIRONMENT_UPDATED: {"protected": [False, True]},
    Action.POLICY_CREATED: {"name": [None, "Production, high risk"]},
    Action.POLICY_CHANGED: {"revision": [1, 2]},
    Action.REQUEST_CREATED: {"state": [None, "draft"], "justification": [None, "AUC up."]},
    Action.REQUEST_SUBMITTED: {"state": ["draft", "pending"], "policy": [None, "Production (revision 2)"]},
    Action.REQUEST_STEP_OPENED: {"step": [None, "2. Security review"], "due_at": [None, "2026-12-04T10:00:00Z"]},
    Action.REQUEST_STEP_APPROVED: {"step": [None, "1. Model risk review"], "approvals": [None, 2]},
    Action.REQUEST_APPROVED: {},
    Action.REQUEST_REJECTED: {"step": [None, "Model risk review"]},
    Action.REQUEST_CANCELLED: {"reason": [None, "Superseded by 2.0.1."]},
    Action.REQUEST_EXPIRED: {"expires_at": [None, "2026-12-16T10:00:00Z"]},
    Action.REQUEST_RESET: {"state": ["pending", "draft"], "voided_decisions": [None, 1]},
    Action.DECISION_RECORDED: {
        "step": [None, "1. Model risk review"],
        "outcome": [None, "approve"],
        "signed": [None, True],
    },
    Action.SIGNATURE_FAILED: {"meaning": [None, "Approved as Model risk review"]},
    Action.DEPLOYMENT_REPORTED: {"target": [None, "prod-k8s"], "status": [None, "succeeded"]},
    Action.TARGET_CREATED: {"name": [None, "prod-gitops"]},
    Action.TARGET_UPDATED: {"enabled": [True, False]},
    Action.TARGET_OBSERVE_REQUESTED: {"coalesced": [None, False]},
    Action.DEPLOYMENT_OBSERVED: {"status": ["rollout_pending", "in_sync"], "reason": [None, "Runs as approved."]},
    Action.DEPLOYMENT_DRIFT_DETECTED: {
        "status": ["in_sync", "unapproved"],
        "reason": [None, "1.2.0 was never approved."],
    },
    Action.DEPLOYMENT_DRIFT_RESOLVED: {"status": ["unapproved", "in_sync"]},
    Action.DEPLOYMENT_STARTED: {"target": [None, "prod-k8s"], "version": [None, "2.0.0"], "attempt": [None, 1]},
    Action.DEPLOYMENT_SUCCEEDED: {"target": [None, "prod-k8s"], "version": [None, "2.0.0"]},
    Action.DEPLOYMENT_FAILED: {"target": [None, "prod-k8s"], "version": [None, "2.0.0"]},
    Action.BREAK_GLASS_RECORDED: {
        "model": [None, "Retail Scorecard"],
        "version": [None, "2.0.1"],
        "environment": [None, "production"],
        "reason": [None, "Outage."],
        "deployed": [None, "by hand"],
    },
    Action.BREAK_GLASS_POST_HOC: {"request": [None, 9], "outcome": [None, "approved"], "open": [True, False]},
    Action.REPOSITORY_CREATED: {"url": [None, "https://github.com/acme/models"]},
    Action.REPOSITORY_UPDATED: {"branch": ["main", "release"]},
    Action.REPOSITORY_SECRET_ROTATED: {},
    Action.GIT_SYNC_REQUESTED: {"trigger": [None, "webhook"], "coalesced": [None, True]},
    Action.GIT_HISTORY_REWRITTEN: {"branch": [None, "main"], "head": ["a" * 40, "b" * 40]},
    Action.GIT_TAG_MOVED: {"tag": [None, "lead-scorer@v1.0.0"], "target": ["a" * 40, "b" * 40]},
    Action.WEBHOOK_REJECTED: {"reason": [None, "bad signature"], "event": [None, "push"]},
    Action.GITHUB_DEPLOYMENT_ANSWERED: {"state": [None, "approved"], "environment": [None, "production"]},
}


def test_the_table_above_names_every_action():
    assert set(RECORDED) == set(Action)


@pytest.mark.parametrize("action", list(Action), ids=str)
def test_every_action_reads_as_its_own_sentence_with_what_its_service_records(action):
    generic = sentences.GENERIC.format(actor="Rita Okafor", action=action, target=event(action).target_label)
    text = sentences.sentence(event(action, RECORDED[action]), "Rita Okafor")
    assert text and text != generic
    assert "{" not in text and "None" not in text


@pytest.mark.parametrize(
    ("action", "changes", "expected"),
    [
        (Action.DECISION_RECORDED, RECORDED[Action.DECISION_RECORDED],
         "Rita Okafor approved step 1, Model risk review, with an e-signature"),
        (Action.DECISION_RECORDED, {"step": [None, "2. Security review"], "outcome": [None, "reject"],
                                    "signed": [None, False]},
         "Rita Okafor rejected step 2, Security review, without an e-signature"),
        (Action.REQUEST_STEP_APPROVED, RECORDED[Action.REQUEST_STEP_APPROVED],
         "Step 1, Model risk review, of Request #7: Retail Scorecard 2.0.0 → production was approved with 2 approvals"),
        (Action.MODEL_LIFECYCLE_CHANGED, RECORDED[Action.MODEL_LIFECYCLE_CHANGED],
         "Rita Okafor moved Request #7: Retail Scorecard 2.0.0 → production from development to validation"),
        (Action.ROLE_REVOKED, RECORDED[Action.ROLE_REVOKED],
         "Rita Okafor revoked the contributor role of kenji (Request #7: Retail Scorecard 2.0.0 → production)"),
        (Action.REQUEST_CANCELLED, RECORDED[Action.REQUEST_CANCELLED],
         "Rita Okafor withdrew Request #7: Retail Scorecard 2.0.0 → production: Superseded by 2.0.1."),
        (Action.DEPLOYMENT_OBSERVED, RECORDED[Action.DEPLOYMENT_OBSERVED],
         "Rita Okafor observed Request #7: Retail Scorecard 2.0.0 → production: in sync"),
    ],
)  # fmt: skip
def test_a_sentence_reads_the_events_changes(action, changes, expected):
    assert sentences.sentence(event(action, changes), "Rita Okafor") == expected


def test_an_event_without_what_its_sentence_needs_reads_as_the_generic_sentence():
    assert sentences.sentence(event(Action.DECISION_RECORDED, {"outcome": [None, "approve"]}), "Rita Okafor") == (
        "Rita Okafor recorded decision.recorded on Request #7: Retail Scorecard 2.0.0 → production"
    )
    assert sentences.sentence(event("something.new", target="X")) == "rita recorded something.new on X"


def page_text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def lifecycle_event(cast, models):
    """dana moves the scorecard to validation through a recorded event, with a request context."""
    web = {"source": "web", "client_ip": "10.1.2.3", "user_agent": "Mozilla/5.0 (X11; Linux x86_64)"}
    with request_context.bind(**web), transaction.atomic():
        return record(
            action=Action.MODEL_LIFECYCLE_CHANGED,
            actor=Actor.of(cast.dana),
            target=Target("inventory.registeredmodel", models.scorecard.pk, "Retail Scorecard",
                          scope={"team": cast.team_a.pk, "model": models.scorecard.pk}),
            changes={"lifecycle_status": ["development", "validation"], "reason": [None, "Frozen for validation."],
                     "sources": [None, ["s3://bucket/a.parquet", "snowflake://db/table"]]},
        )  # fmt: skip


def test_the_audit_trail_shows_each_event_as_a_sentence_by_the_actors_full_name(client, cast, lifecycle_event):
    client.force_login(cast.audrey)
    text = page_text(client.get("/audit/"))
    row = re.search(rf'<a href="/audit/{lifecycle_event.sequence}/">.*?</tr>', text, re.S).group(0)
    assert "Dana Tester" in row
    assert '<div class="event-sentence">Dana Tester moved Retail Scorecard from development to validation</div>' in row
    assert "<code>model.lifecycle_changed</code>" in row


def test_the_event_page_shows_the_sentence_a_changes_table_labelled_context_and_the_raw_record(
    client, cast, lifecycle_event
):
    client.force_login(cast.audrey)
    text = page_text(client.get(f"/audit/{lifecycle_event.sequence}/"))
    assert '<p class="lead mb-1" id="event-sentence">Dana Tester moved Retail Scorecard from development to ' in text
    assert 'Dana Tester <span class="text-muted">(dana)</span>' in text
    table = text.split('class="table table-sm table-bordered mb-0 changes-table"')[1].split("</table>")[0]
    assert '<th scope="row" class="fw-normal">Lifecycle status</th><td>development</td><td>validation</td>' in table
    assert '<th scope="row" class="fw-normal">Reason</th><td>—</td><td>Frozen for validation.</td>' in table
    assert "<li>s3://bucket/a.parquet</li><li>snowflake://db/table</li>" in table and "['s3://" not in text
    context = text.split('id="event-context">')[1].split("</dl>")[0]
    for label, value in (("Source", "web"), ("IP address", "10.1.2.3"), ("User agent", "Mozilla/5.0 (X11; Linux")):
        assert f'<dt class="col-sm-3">{label}</dt><dd class="col-sm-9">{value}' in context
    assert lifecycle_event.context["request_id"] in context
    raw = text.split('<details class="mb-3" id="event-raw"><summary>Raw</summary>')[1].split("</details>")[0]
    assert lifecycle_event.hash in raw and lifecycle_event.prev_hash in raw and '"lifecycle_status": [' in raw


def test_the_audit_trail_page_reads_every_actors_name_with_the_events(client, cast, lifecycle_event,
                                                                       django_assert_max_num_queries):  # fmt: skip
    client.force_login(cast.audrey)
    client.get("/audit/")  # warm the session and the content types
    with django_assert_max_num_queries(20) as queries:
        client.get("/audit/")
    users = [q for q in queries.captured_queries if 'FROM "accounts_user"' in q["sql"]]
    assert AuditEvent.objects.count() > 1 and len(users) == 1  # the session's user; the actors come with the events
