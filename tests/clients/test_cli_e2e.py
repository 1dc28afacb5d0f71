"""End to end: the CLI, as a subprocess against the live test server, registers a version and requests its
deployment with --wait; the approvers decide through the browser's session endpoints (the request page's
decision form, signed with their password); the CLI exits 0 having printed each step as it completed.
The same with a rejection exits 1, and with a short timeout exits 2.

The production policy (tests/approvals/conftest.py) has two signed steps: two approvers of the model's
team (rita and sam), then the business owner (bo). CI acts through a service account of the team.
"""

import json
import re
import subprocess
import sys

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from apps.accounts.tokens import service_account_create, token_create
from apps.approvals.models import DeploymentRequest, RequestState
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.inventory.models import ModelVersion, Source
from tests.approvals.conftest import envs, policy  # noqa: F401 - fixtures: the environments and production policy
from tests.clients.support import CLIENTS, Cli
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

SCOPES = ["register", "request-deploy", "read", "report-deployment"]
SHA = "0123456789abcdef0123456789abcdef01234567"
DIGEST = "sha256:" + "ab" * 32
MODEL_CARD = "# Retail Scorecard 2.0.0\n\nIntended use: retail credit decisions.\n"
REQUEST_URL = re.compile(r"Request #(\d+) \(pending\): (\S+)$")


@pytest.fixture
def ci(cast, policy, models, live_server, tmp_path):  # noqa: F811 - `policy` before `models`: see approvals' conftest
    """A pipeline's view of the portal: its token, the live server's URL, and a way to run the CLI."""
    with transaction.atomic():
        account = service_account_create(actor=Actor.of(cast.alice), team=cast.team_a, name="scorecard-ci")
        _, token = token_create(actor=Actor.of(cast.alice), account=account, name="pipeline", scopes=SCOPES)
    (tmp_path / "MODEL_CARD.md").write_text(MODEL_CARD)

    class Pipeline:
        url, outputs = live_server.url, tmp_path / "github_output"

        def run(self, *args):
            """The CLI to completion: (exit code, stdout, stderr)."""
            environment = {"PATH": "/usr/bin:/bin", "GOVPORTAL_URL": self.url, "GOVPORTAL_TOKEN": token}
            result = subprocess.run(
                [sys.executable, "-m", "govportal_cli", *args], cwd=CLIENTS, env=environment, capture_output=True,
                text=True, timeout=60, check=False,
            )  # fmt: skip
            assert token not in result.stdout + result.stderr
            return result.returncode, result.stdout, result.stderr

        def register(self, version):
            code, out, err = self.run(
                "register-version", "--model", "Retail Scorecard", "--version", version, "--digest", DIGEST,
                "--commit", SHA, "--artifact-uri", f"s3://models/retail-scorecard/{version}/model.pkl",
                "--metrics", '{"auc": 0.86}', "--model-card", f"@{tmp_path / 'MODEL_CARD.md'}",
            )  # fmt: skip
            assert code == 0, err
            return out

        def request(self, version, *, timeout=60):
            """request-deploy --wait, started in the background; returns it once it printed the request's URL."""
            process = Cli(
                "request-deploy", "--model", "retail-scorecard", "--version", version, "--env", "production",
                "--justification", f"Scorecard {version}: quarterly refresh.", "--wait", "--poll", "0.2",
                "--timeout", str(timeout), url=self.url, token=token, env={"GITHUB_OUTPUT": str(self.outputs)},
            )  # fmt: skip
            line = process.expect("/approvals/requests/")
            match = REQUEST_URL.search(line)
            assert match, line
            process.request = DeploymentRequest.objects.get(pk=int(match[1]))
            process.url = match[2]
            process.token = token
            return process

    return Pipeline()


def decide(user, deployment_request, outcome="approve", comment=""):
    """What the approver's browser does: open the request's page, then post its decision form, signed."""
    browser = Client()
    browser.force_login(user)
    page = reverse("approvals:request-detail", args=[deployment_request.pk])
    assert browser.get(page).status_code == 200
    step = DeploymentRequest.objects.get(pk=deployment_request.pk).open_step()
    form = {"outcome": outcome, "comment": comment, "password": PASSWORD, "step": step.pk}
    response = browser.post(reverse("approvals:request-decide", args=[deployment_request.pk]), form)
    assert response.status_code == 302, response.content.decode()[:2000]


def outputs(path):
    return dict(line.split("=", 1) for line in path.read_text().splitlines())


def test_registered_requested_approved_step_by_step_exits_0_and_reports_the_deployment(ci, cast):
    registered = ci.register("2.0.0")
    assert registered.startswith("Registered: retail-scorecard 2.0.0: http")  # the page, at PORTAL_BASE_URL
    assert registered.rstrip().endswith("/models/retail-scorecard/versions/2.0.0/")
    version = ModelVersion.objects.get(model__slug="retail-scorecard", version="2.0.0")
    assert (version.source, version.git_commit_sha, version.artifact_digest) == (Source.API, SHA, "ab" * 32)
    assert version.model_card == MODEL_CARD and version.metrics == {"auc": 0.86}

    cli = ci.request("2.0.0")
    try:
        request = cli.request
        assert cli.url == f"{ci.url}/approvals/requests/{request.pk}/"
        assert request.state == RequestState.PENDING and request.requester.username == "svc-scorecard-ci"
        cli.expect("  1. Model risk review: 2 approvals, e-signature (open)")
        cli.expect("  2. Business owner sign-off: 1 approval, e-signature (waiting)")

        decide(cast.rita, request)
        cli.expect("  rita approved step 1 (Model risk review) [1/2], signed")
        assert cli.process.poll() is None  # still waiting
        decide(cast.sam, request)
        cli.expect("Step 1/2 Model risk review: approved by rita, sam")
        cli.expect("Step 2/2 Business owner sign-off: open, waiting for 1 approval")
        assert cli.process.poll() is None
        decide(cast.bo, request)
        cli.expect("Step 2/2 Business owner sign-off: approved by bo")
        assert cli.wait(timeout=60) == 0, cli.stderr
    finally:
        cli.kill()
    assert cli.lines[-1] == (f"Request #{request.pk} approved: retail-scorecard 2.0.0 may be deployed to production.")
    assert DeploymentRequest.objects.get(pk=request.pk).state == RequestState.APPROVED
    assert outputs(ci.outputs) == {"request-id": str(request.pk), "request-url": cli.url, "state": "approved"}

    code, out, err = ci.run("report-deployment", str(request.pk), "--target", "prod-eu", "--status", "succeeded",
                            "--link", "https://ci.example/runs/1")  # fmt: skip
    assert code == 0, err
    event = AuditEvent.objects.get(action="deployment.reported")
    assert out == f"Reported: request #{request.pk} deployment to prod-eu succeeded (audit event #{event.sequence}).\n"

    code, out, _ = ci.run("--json", "status", cli.url)
    assert code == 0 and json.loads(out)["request"]["state"] == "approved"


def test_a_rejection_exits_1_with_the_reason(ci, cast):
    ci.register("2.1.0")
    cli = ci.request("2.1.0")
    try:
        decide(cast.rita, cli.request, "reject", comment="The holdout AUC fell below the benchmark.")
        cli.expect('  rita rejected step 1 (Model risk review), signed: "The holdout AUC fell below the benchmark."')
        cli.expect("Step 1/2 Model risk review: rejected by rita")
        assert cli.wait(timeout=60) == 1, cli.stderr
    finally:
        cli.kill()
    assert cli.lines[-1] == (
        f"Request #{cli.request.pk} rejected: retail-scorecard 2.1.0 is not approved for production."
    )
    assert outputs(ci.outputs)["state"] == "rejected"
    code, _, err = ci.run("report-deployment", str(cli.request.pk), "--target", "prod-eu", "--status", "succeeded")
    assert code == 2 and "409 Conflict [not_approved]" in err


def test_nobody_deciding_within_the_timeout_exits_2_leaving_the_request_pending(ci):
    ci.register("2.2.0")
    cli = ci.request("2.2.0", timeout=2)
    try:
        assert cli.wait(timeout=60) == 2
    finally:
        cli.kill()
    assert f"error: timed out after 2s: request #{cli.request.pk} is still pending" in cli.stderr
    assert DeploymentRequest.objects.get(pk=cli.request.pk).state == RequestState.PENDING
    assert outputs(ci.outputs)["state"] == "pending"

    # Running the pipeline again follows the open request instead of failing on a duplicate.
    again = ci.request("2.2.0", timeout=1)
    try:
        assert again.wait(timeout=60) == 2
    finally:
        again.kill()
    assert again.request.pk == cli.request.pk
    assert any("is already open: following it." in line for line in again.lines)


def test_register_versions_from_a_json_lines_file_each_audited_or_none(ci, tmp_path):
    versions = [
        {"version": f"3.{i}.0", "artifact_digest": DIGEST, "git_commit_sha": SHA, "metrics": {"auc": 0.8 + i / 100},
         "parent": "1.1.0"}
        for i in range(4)
    ]  # fmt: skip
    (tmp_path / "versions.jsonl").write_text("".join(json.dumps(version) + "\n" for version in versions))
    code, out, err = ci.run("register-versions", "--model", "Retail Scorecard", "--from", tmp_path / "versions.jsonl")
    assert code == 0, err
    assert out == "Registered 4 versions of retail-scorecard (3.0.0 to 3.3.0).\n"
    made = ModelVersion.objects.filter(model__slug="retail-scorecard", version__startswith="3.").order_by("pk")
    assert [(v.version, v.source, v.parent.version, v.artifact_digest) for v in made] == [
        (f"3.{i}.0", Source.API, "1.1.0", "ab" * 32) for i in range(4)
    ]
    events = AuditEvent.objects.filter(action="version.created", target_id__in=[str(v.pk) for v in made])
    assert events.count() == 4 and {event.actor_kind for event in events} == {"token"}

    # One bad entry: the file's line is named, and nothing of the batch is written.
    bad = [{"version": "4.0.0"}, {"version": "4.1.0", "artifact_digest": "not-a-digest"}]
    (tmp_path / "bad.jsonl").write_text("".join(json.dumps(version) + "\n" for version in bad))
    before = (ModelVersion.objects.count(), AuditEvent.objects.count())
    code, _, err = ci.run("register-versions", "--model", "retail-scorecard", "--from", tmp_path / "bad.jsonl")
    assert code == 2
    assert "  line 2 (4.1.0) artifact_digest: Enter a SHA-256 digest" in err
    assert (ModelVersion.objects.count(), AuditEvent.objects.count()) == before
