"""POST /hooks/github/: signed deliveries queue a sync once; the rest is refused or ignored, never a 500."""

import json

import pytest
from django.db import connection
from django.test import Client

from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.gitsync import services as gitsync
from apps.gitsync import tasks
from apps.hooks import services
from apps.hooks.models import Outcome, WebhookDelivery
from tests.conftest import Trail

from .conftest import URL, ping_payload, push_payload, sign

DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"


def problem(response):
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert set(body) >= {"type", "title", "status", "detail"}
    assert body["status"] == response.status_code
    return body


def rejection(trail):
    """The one webhook.rejected event written since `trail` opened, and nothing else."""
    events = trail.events()
    assert [event.action for event in events] == [Action.WEBHOOK_REJECTED]
    return events[0]


# --- pushes that queue a sync ----------------------------------------------------------------------------------------


def test_a_push_to_the_repository_branch_queues_one_sync(repos, github, enqueued):
    response = github(push_payload(), secret=repos.churn_secret, delivery=DELIVERY)

    assert response.status_code == 202
    assert response.json() == {"status": "queued", "detail": "Sync of Churn queued.", "repositories": ["Churn"]}
    assert enqueued == [(repos.churn.pk, "webhook", "github-webhook")]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.delivery_id, delivery.event, delivery.repository, delivery.full_name, delivery.outcome) == (
        DELIVERY, "push", repos.churn, "acme/churn", Outcome.QUEUED,
    )  # fmt: skip


def test_a_repeated_delivery_does_not_queue_a_second_sync(repos, github, enqueued):
    github(push_payload(), secret=repos.churn_secret, delivery=DELIVERY)

    again = github(push_payload(), secret=repos.churn_secret, delivery=DELIVERY)

    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert again.json()["detail"] == "duplicate delivery"
    assert len(enqueued) == 1
    assert WebhookDelivery.objects.count() == 1


def test_a_new_push_while_a_sync_waits_joins_it(repos, github, enqueued):
    github(push_payload(), secret=repos.churn_secret)

    response = github(push_payload(), secret=repos.churn_secret)

    assert response.status_code == 202
    assert response.json()["status"] == "coalesced"
    assert len(enqueued) == 1


def test_a_tag_push_queues_a_sync_whatever_the_branch(repos, github, enqueued):
    response = github(push_payload(ref="refs/tags/churn@v1.2.0"), secret=repos.churn_secret)

    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    assert enqueued == [(repos.churn.pk, "webhook", "github-webhook")]


def test_each_registered_branch_takes_the_same_event_through_its_own_webhook(cast, repos, github, enqueued):
    # GitHub gives one event the same delivery id in every webhook, so ids are de-duplicated per repository.
    tags, tags_secret = gitsync.repository_create(
        actor=Actor.of(cast.alice), team=cast.team_a, name="Churn tags", url="https://github.com/acme/churn.git",
        branch="release",
    )  # fmt: skip
    payload = push_payload(ref="refs/tags/churn@v2.0.0")

    first = github(payload, secret=repos.churn_secret, delivery=DELIVERY)
    second = github(payload, secret=tags_secret, delivery=DELIVERY)

    assert [first.status_code, second.status_code] == [202, 202]
    assert enqueued == [(repos.churn.pk, "webhook", "github-webhook"), (tags.pk, "webhook", "github-webhook")]


def test_a_repository_named_in_another_case_is_still_found(repos, github, enqueued):
    response = github(push_payload(full_name="ACME/Churn"), secret=repos.churn_secret)

    assert response.status_code == 202
    assert len(enqueued) == 1


@pytest.mark.django_db(transaction=True)
def test_the_sync_is_sent_once_the_delivery_is_committed(repos, client, monkeypatch):
    # Real commits, as in production: the enqueue runs from on_commit, after the delivery row is stored.
    # The recorder stands in for the broker and the remote repository, which tests cannot reach.
    sent = []

    def send(*args):
        stored = WebhookDelivery.objects.filter(delivery_id=DELIVERY).exists()
        sent.append((args, stored, connection.in_atomic_block))

    monkeypatch.setattr(tasks.sync_repository_task, "delay", send)
    body = json.dumps(push_payload()).encode()
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": DELIVERY}
    headers["X-Hub-Signature-256"] = sign(body, repos.churn_secret)

    first = client.post(URL, data=body, content_type="application/json", headers=headers)
    second = client.post(URL, data=body, content_type="application/json", headers=headers)

    assert [first.status_code, second.status_code] == [202, 200]
    assert sent == [((repos.churn.pk, "webhook", "github-webhook"), True, False)]

    # A refused delivery leaves its audit event committed, though nothing else is written.
    trail = Trail()
    forged_headers = headers | {"X-Hub-Signature-256": "sha256=00"}
    forged = client.post(URL, data=body, content_type="application/json", headers=forged_headers)
    assert forged.status_code == 401
    assert trail.actions() == [Action.WEBHOOK_REJECTED]


# --- signed deliveries that change nothing ---------------------------------------------------------------------------


def test_a_push_to_another_branch_is_ignored(repos, github, enqueued):
    response = github(push_payload(ref="refs/heads/experiment"), secret=repos.churn_secret)

    assert response.status_code == 202
    assert response.json()["status"] == "ignored"
    assert response.json()["detail"] == "Churn follows main; refs/heads/experiment is ignored."
    assert enqueued == []
    assert WebhookDelivery.objects.get().outcome == Outcome.IGNORED


def test_a_push_to_a_disabled_repository_is_ignored(cast, repos, github, enqueued):
    gitsync.repository_update(actor=Actor.of(cast.alice), repository=repos.churn, enabled=False)

    response = github(push_payload(), secret=repos.churn_secret)

    assert response.status_code == 202
    assert response.json()["status"] == "ignored"
    assert "disabled" in response.json()["detail"]
    assert enqueued == []


def test_a_ping_answers_ok(repos, github, enqueued):
    response = github(ping_payload(), secret=repos.churn_secret, event="ping")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert enqueued == []
    assert WebhookDelivery.objects.get().outcome == Outcome.OK


def test_an_event_without_a_handler_is_ignored(repos, github, enqueued):
    payload = {"action": "opened", "issue": {"number": 7}, "repository": push_payload()["repository"]}

    response = github(payload, secret=repos.churn_secret, event="issues")

    assert response.status_code == 202
    assert response.json() == {"status": "ignored", "detail": "The issues event is not used.", "repositories": []}
    assert enqueued == []


def test_events_are_dispatched_through_the_handler_table(repos, github, monkeypatch):
    seen = []

    def handler(payload, repository):
        seen.append((payload["action"], repository))
        return services.Receipt(Outcome.OK, "Handled.", (repository.name,))

    monkeypatch.setitem(services.HANDLERS, "deployment_protection_rule", handler)
    payload = {"action": "requested", "environment": "production", "repository": push_payload()["repository"]}

    response = github(payload, secret=repos.churn_secret, event="deployment_protection_rule")

    assert response.status_code == 200
    assert seen == [("requested", repos.churn)]


@pytest.mark.parametrize(
    "fields",
    [
        {"deleted": True, "after": "0" * 40, "commits": [], "head_commit": None},
        {"created": True, "before": "0" * 40, "base_ref": "refs/heads/main"},
        {"commits": [], "head_commit": None},
        {"forced": True},
        {"ref": None},
        {"ref": 12},
    ],
    ids=["deleted", "created", "no-commits", "forced", "null-ref", "numeric-ref"],
)
def test_documented_push_shapes_never_fail(repos, github, enqueued, fields):
    response = github(push_payload(**fields), secret=repos.churn_secret)

    assert response.status_code == 202
    assert response.json()["status"] in {"queued", "ignored"}


# --- refused before anything is stored --------------------------------------------------------------------------------


def test_a_delivery_without_a_signature_is_rejected_and_audited(repos, github, enqueued):
    trail = Trail()

    response = github(push_payload(), delivery=DELIVERY)

    assert response.status_code == 401
    assert "X-Hub-Signature-256" in problem(response)["detail"]
    event = rejection(trail)
    assert event.changes == {
        "reason": [None, "missing signature"], "event": [None, "push"], "delivery": [None, DELIVERY],
        "repository": [None, "acme/churn"], "minute": event.changes["minute"], "rejected_this_minute": [None, 1],
        "recorded": [None, services._RECORDED],
    }  # fmt: skip
    assert (event.actor_label, event.actor_kind, event.actor) == ("github-webhook", "system", None)
    assert (event.target_type, event.target_id, event.team_id) == ("hooks.delivery", DELIVERY, repos.churn.team_id)
    assert event.context["source"] == "webhook"
    assert enqueued == []
    assert not WebhookDelivery.objects.exists()


def test_a_wrong_signature_is_rejected_and_audited(repos, github, enqueued):
    trail = Trail()

    response = github(push_payload(), signature="sha256=" + "0" * 64)

    assert response.status_code == 401
    assert problem(response)["detail"] == "The signature does not match the repository's webhook secret."
    assert rejection(trail).changes["reason"] == [None, "signature mismatch"]
    assert enqueued == []
    assert not WebhookDelivery.objects.exists()


def test_another_repositorys_secret_does_not_sign_for_this_one(repos, github, enqueued):
    trail = Trail()

    response = github(push_payload(), secret=repos.fraud_secret)

    assert response.status_code == 401
    assert rejection(trail).changes["reason"] == [None, "signature mismatch"]
    assert enqueued == []


def test_an_unknown_repository_is_rejected_like_a_wrong_signature(repos, github, enqueued):
    trail = Trail()

    response = github(push_payload(full_name="acme/unknown"), secret=repos.churn_secret)

    assert response.status_code == 401
    assert problem(response)["detail"] == "The signature does not match the repository's webhook secret."
    event = rejection(trail)
    assert event.changes["reason"] == [None, "unknown repository"]
    assert event.changes["repository"] == [None, "acme/unknown"]
    assert event.team_id is None
    assert enqueued == []


@pytest.mark.parametrize(
    "payload",
    [
        {"zen": "An organisation hook names no repository."},
        {"repository": "acme/churn"},
        {"repository": {"full_name": ["acme/churn"]}},
        {"repository": {"full_name": "acme/churn\u0000"}},
        {"repository": {"full_name": "x" * 5000}},
    ],
    ids=["no-repository", "repository-string", "full-name-list", "nul", "long"],
)
def test_a_payload_naming_no_registered_repository_is_rejected(repos, github, payload):
    trail = Trail()

    response = github(payload, secret=repos.churn_secret)

    assert response.status_code == 401
    assert rejection(trail).changes["reason"] == [None, "unknown repository"]


def test_a_signature_with_foreign_characters_is_rejected_not_an_error(repos, github):
    trail = Trail()

    response = github(push_payload(), signature="sha256=ünïcode")

    assert response.status_code == 401
    assert rejection(trail).changes["reason"] == [None, "signature mismatch"]


def test_a_rejected_delivery_does_not_use_up_its_id(repos, github, enqueued):
    github(push_payload(), signature="sha256=forged", delivery=DELIVERY)

    response = github(push_payload(), secret=repos.churn_secret, delivery=DELIVERY)

    assert response.status_code == 202
    assert len(enqueued) == 1


def test_the_audit_event_never_holds_the_secret_or_the_signature(repos, github):
    trail = Trail()
    body = json.dumps(push_payload(ref="refs/heads/main")).encode()
    wrong = sign(body, repos.fraud_secret)

    github(body=body, signature=wrong)

    event = rejection(trail)
    stored = json.dumps([event.changes, event.context, event.target_label, event.actor_label])
    for secret in (repos.churn_secret, repos.fraud_secret, wrong, wrong.removeprefix("sha256=")):
        assert secret not in stored


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{not json", "The body is not valid JSON."),
        (b"\xff\xfe\x00", "The body is not valid JSON."),
        (b"", "The body is not valid JSON."),
        (b"[1, 2]", "The body must be a JSON object."),
        (b'"push"', "The body must be a JSON object."),
        (b"payload=%7B%7D", "The body is form-encoded: set the webhook's content type to application/json."),
    ],
    ids=["malformed", "binary", "empty", "array", "string", "form-encoded"],
)
def test_a_body_that_is_not_a_json_object_is_refused_and_nothing_written(repos, github, enqueued, body, detail):
    trail = Trail()

    response = github(body=body, secret=repos.churn_secret)

    assert response.status_code == 400
    assert problem(response)["detail"] == detail
    assert trail.events() == []
    assert not WebhookDelivery.objects.exists()
    assert enqueued == []


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({"event": None}, "The X-GitHub-Event header is missing."),
        ({"event": "push\u00e9"}, "X-GitHub-Event does not name a GitHub event."),
        ({"delivery": ""}, "X-GitHub-Delivery is missing or is not a delivery id."),
        ({"delivery": "x" * 65}, "X-GitHub-Delivery is missing or is not a delivery id."),
    ],
    ids=["no-event", "odd-event", "no-delivery", "long-delivery"],
)
def test_missing_or_odd_github_headers_are_refused(repos, github, enqueued, headers, detail):
    trail = Trail()

    response = github(push_payload(), secret=repos.churn_secret, **headers)

    assert response.status_code == 400
    assert problem(response)["detail"] == detail
    assert trail.events() == []
    assert enqueued == []


def test_a_body_over_githubs_limit_is_refused(repos, github, enqueued):
    body = b" " * (services.MAX_BODY_BYTES + 1)

    response = github(body=body, secret=repos.churn_secret)

    assert response.status_code == 413
    assert problem(response)["code"] == "payload_too_large"
    assert enqueued == []


def test_a_large_push_within_githubs_limit_is_accepted(repos, github, enqueued):
    # Over Django's 2.5 MB form limit, under GitHub's 25 MB: the endpoint must read it.
    commits = [{"id": f"{n:040x}", "message": "x" * 1000, "modified": []} for n in range(4000)]

    response = github(push_payload(commits=commits), secret=repos.churn_secret)

    assert response.status_code == 202
    assert len(enqueued) == 1


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_only_post_is_allowed(client, method):
    assert getattr(client, method)(URL).status_code == 405


def test_the_endpoint_needs_no_csrf_token_and_no_login(repos, enqueued, django_capture_on_commit_callbacks):
    body = json.dumps(push_payload()).encode()
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": DELIVERY}
    headers["X-Hub-Signature-256"] = sign(body, repos.churn_secret)
    strict = Client(enforce_csrf_checks=True)
    with django_capture_on_commit_callbacks(execute=True):
        response = strict.post(URL, data=body, content_type="application/json", headers=headers)

    assert response.status_code == 202


def test_deliveries_are_readable_but_not_editable_in_the_admin(cast, repos, github, client, enqueued):
    github(push_payload(), secret=repos.churn_secret, delivery=DELIVERY)
    delivery = WebhookDelivery.objects.get()
    client.force_login(cast.admin)

    listing = client.get("/admin/hooks/webhookdelivery/")
    detail = client.get(f"/admin/hooks/webhookdelivery/{delivery.pk}/change/")

    assert listing.status_code == 200
    assert DELIVERY in listing.content.decode()
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert client.get("/admin/hooks/webhookdelivery/add/").status_code == 403
    assert client.post(f"/admin/hooks/webhookdelivery/{delivery.pk}/delete/").status_code == 403
