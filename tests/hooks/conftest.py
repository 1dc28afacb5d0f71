"""Webhook test furniture: registered repositories, a GitHub that signs deliveries, and a stand-in broker."""

import hashlib
import hmac
import json
import uuid
from types import SimpleNamespace

import pytest

from apps.audit.actors import Actor
from apps.gitsync import services as gitsync
from apps.gitsync import tasks

URL = "/hooks/github/"


def sign(body: bytes, secret: str) -> str:
    """What GitHub sends in X-Hub-Signature-256."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def repository_payload(full_name="acme/churn"):
    owner, name = full_name.split("/")
    return {
        "id": 123456,
        "name": name,
        "full_name": full_name,
        "private": True,
        "owner": {"login": owner, "id": 42, "type": "Organization"},
        "default_branch": "main",
    }


def push_payload(ref="refs/heads/main", full_name="acme/churn", **fields):
    """A push as GitHub sends it (trimmed to the fields that matter, plus a few that do not)."""
    after = "9f3c2d1e" * 5
    commit = {"id": after, "message": "Retrain churn model", "added": [], "removed": [], "modified": ["dvc.lock"]}
    payload = {
        "ref": ref,
        "before": "1a2b3c4d" * 5,
        "after": after,
        "created": False,
        "deleted": False,
        "forced": False,
        "base_ref": None,
        "compare": f"https://github.com/{full_name}/compare/1a2b3c4d...9f3c2d1e",
        "commits": [commit],
        "head_commit": commit,
        "repository": repository_payload(full_name),
        "pusher": {"name": "dana", "email": "dana@example.com"},
        "sender": {"login": "dana", "id": 7},
    }
    return payload | fields


def ping_payload(full_name="acme/churn"):
    return {
        "zen": "Keep it logically awesome.",
        "hook_id": 987,
        "hook": {"type": "Repository", "id": 987, "events": ["push"], "config": {"content_type": "json"}},
        "repository": repository_payload(full_name),
        "sender": {"login": "alice", "id": 8},
    }


@pytest.fixture
def repos(cast):
    """acme/churn on main (team A) and acme/fraud (team B), each with the secret shown once at registration."""
    churn, churn_secret = gitsync.repository_create(
        actor=Actor.of(cast.alice), team=cast.team_a, name="Churn", url="https://github.com/acme/churn.git",
        branch="main",
    )  # fmt: skip
    fraud, fraud_secret = gitsync.repository_create(
        actor=Actor.of(cast.ben), team=cast.team_b, name="Fraud", url="https://github.com/acme/fraud.git",
        branch="main",
    )  # fmt: skip
    return SimpleNamespace(churn=churn, churn_secret=churn_secret, fraud=fraud, fraud_secret=fraud_secret)


@pytest.fixture
def enqueued(monkeypatch):
    """The sync tasks sent to the broker, as (repository id, trigger, requested by).

    The only mock in these tests: it stands in for the Celery broker and the remote GitHub repository the
    sync would fetch, neither of which a test can reach (tasks run eagerly here, and there is no network).
    """
    sent = []
    monkeypatch.setattr(tasks.sync_repository_task, "delay", lambda *args: sent.append(args))
    return sent


@pytest.fixture
def github(client, django_capture_on_commit_callbacks):
    """Deliver like GitHub: `github(payload, secret=..., event=...)`; on_commit callbacks run as on a commit."""

    def deliver(payload=None, *, secret=None, event="push", delivery=None, body=None, signature=None, **headers):
        body = json.dumps(payload).encode() if body is None else body
        if event is not None:
            headers["X-GitHub-Event"] = event
        if delivery != "":  # "" leaves the header out
            headers["X-GitHub-Delivery"] = delivery or str(uuid.uuid4())
        if signature is None and secret is not None:
            signature = sign(body, secret)
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        headers.setdefault("User-Agent", "GitHub-Hookshot/abc1234")
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(URL, data=body, content_type="application/json", headers=headers)

    return deliver
