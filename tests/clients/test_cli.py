"""The CLI against a fake portal (a stdlib HTTP server): no Django, no database.

Most tests call `main()` in-process (fast, output captured); the ones about the process itself (streaming
output, the standard library alone) run `python -m govportal_cli` as a subprocess.
"""

import ast
import json
import subprocess
import sys

import pytest
from django.utils.text import slugify as django_slugify
from govportal_cli import api, cli

from tests.clients.support import (
    CLIENTS,
    MASKED,
    RITA,
    SAM,
    TOKEN,
    Cli,
    FakePortal,
    approval_story,
    decision,
    doc,
    problem,
    step,
)

REQUESTS = "/api/v1/deployment-requests/"
REQUEST_7 = f"{REQUESTS}7/"
DEPLOY = ["request-deploy", "--model", "Retail Scorecard", "--version", "2.0.0", "--env", "production",
          "--justification", "Quarterly refresh."]  # fmt: skip
WAIT = ["--wait", "--poll", "0.01", "--timeout", "20"]


@pytest.fixture
def portal():
    fake = FakePortal()
    yield fake
    fake.close()


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    """Retries wait milliseconds, not seconds (the delays' arithmetic is tested on the Client itself)."""
    monkeypatch.setattr(api, "BACKOFF_BASE", 0.01)


@pytest.fixture
def run(portal, monkeypatch, capsys):
    """run(*argv, env={...}) -> (exit code, stdout, stderr) of the CLI in-process against the fake portal."""

    def invoke(*argv, env=None):
        monkeypatch.setenv("GOVPORTAL_URL", portal.url)
        monkeypatch.setenv("GOVPORTAL_TOKEN", TOKEN)
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        code = cli.main([str(arg) for arg in argv])
        out, err = capsys.readouterr()
        assert TOKEN not in out and TOKEN not in err
        return code, out, err

    return invoke


def story(portal):
    """POST creates request #7; each GET then shows the next stage of the approval story."""
    created, *polls = approval_story()
    portal.on("POST", REQUESTS, (201, created))
    portal.on("GET", REQUEST_7, *[(200, stage) for stage in polls])


def rejected_story(portal, final="rejected"):
    created = doc(
        steps=[step(11, 1, "Model risk review", "open", 2), step(12, 2, "Business owner sign-off", "waiting")]
    )
    no = decision(4, "rita", "reject", comment="AUC dropped on the holdout.")
    closed = doc(state=final, steps=[step(11, 1, "Model risk review", "rejected", 2, [no]),
                                     step(12, 2, "Business owner sign-off", "void")])  # fmt: skip
    if final != "rejected":
        closed["steps"] = created["steps"]
    portal.on("POST", REQUESTS, (201, created))
    portal.on("GET", REQUEST_7, (200, created), (200, closed))


# --- request-deploy --------------------------------------------------------------------------------------------------


def test_approval_exits_0_printing_the_url_first_then_each_decision_and_step(portal, run):
    story(portal)
    code, out, err = run(*DEPLOY, *WAIT)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "Request #7 (pending): https://portal.example/approvals/requests/7/"
    expected = [
        "  rita approved step 1 (Model risk review) [1/2], signed",
        "  sam approved step 1 (Model risk review) [2/2], signed",
        "Step 1/2 Model risk review: approved by rita, sam",
        "Step 2/2 Business owner sign-off: open, waiting for 1 approval",
        "  bo approved step 2 (Business owner sign-off) [1/1], signed",
        "Step 2/2 Business owner sign-off: approved by bo",
        "Request #7 approved: retail-scorecard 2.0.0 may be deployed to production.",
    ]
    assert [line for line in lines if line in expected] == expected  # each once, in this order
    assert "  1. Model risk review: 2 approvals, e-signature (open)" in lines
    [post] = portal.hits("POST", REQUESTS)
    assert post.body == {"model": "retail-scorecard", "version": "2.0.0", "environment": "production",
                         "justification": "Quarterly refresh.", "submit": True}  # fmt: skip
    assert post.headers["authorization"] == f"Bearer {TOKEN}"
    assert post.headers["user-agent"].startswith("govportal-cli/0.1.0")
    assert len(portal.hits("GET", REQUEST_7)) == 3


def test_rejection_exits_1_with_the_reason(portal, run):
    rejected_story(portal)
    code, out, _ = run(*DEPLOY, *WAIT)
    assert code == 1
    assert '  rita rejected step 1 (Model risk review), signed: "AUC dropped on the holdout."' in out
    assert "Step 1/2 Model risk review: rejected by rita" in out
    assert out.splitlines()[-1] == "Request #7 rejected: retail-scorecard 2.0.0 is not approved for production."


@pytest.mark.parametrize("final", ["cancelled", "expired"])
def test_cancelled_or_expired_exits_1(portal, run, final):
    rejected_story(portal, final)
    code, out, _ = run(*DEPLOY, *WAIT)
    assert code == 1
    assert out.splitlines()[-1].startswith(f"Request #7 {final}: ")


def test_timeout_exits_2_and_leaves_the_request_open(portal, run, tmp_path):
    pending = approval_story()[0]
    portal.on("POST", REQUESTS, (201, pending))
    portal.on("GET", REQUEST_7, (200, pending))
    outputs = tmp_path / "github_output"
    code, _, err = run(*DEPLOY, "--wait", "--poll", "0.05", "--timeout", "0.3", env={"GITHUB_OUTPUT": str(outputs)})
    assert code == 2
    assert "error: timed out after 0.3s: request #7 is still pending" in err
    assert "govportal status 7 --wait" in err
    assert 2 <= len(portal.hits("GET", REQUEST_7)) <= 8
    assert outputs.read_text().splitlines() == [
        "request-id=7", "request-url=https://portal.example/approvals/requests/7/", "state=pending"
    ]  # fmt: skip


def test_without_wait_it_exits_0_once_the_request_is_submitted(portal, run):
    story(portal)
    code, out, _ = run(*DEPLOY)
    assert code == 0
    assert out.startswith("Request #7 (pending): https://portal.example/approvals/requests/7/\n")
    assert portal.hits("GET", REQUEST_7) == []


def test_github_output_gets_the_request_id_url_and_final_state(portal, run, tmp_path):
    story(portal)
    outputs = tmp_path / "github_output"
    outputs.write_text("earlier=step\n")
    code, _, _ = run(*DEPLOY, *WAIT, env={"GITHUB_OUTPUT": str(outputs)})
    assert code == 0
    assert outputs.read_text().splitlines() == [
        "earlier=step", "request-id=7", "request-url=https://portal.example/approvals/requests/7/", "state=approved"
    ]  # fmt: skip


def test_json_prints_one_document_on_stdout_and_progress_on_stderr(portal, run):
    story(portal)
    code, out, err = run("--json", *DEPLOY, *WAIT)
    assert code == 0
    result = json.loads(out)
    assert result["outcome"] == "approved" and result["exit_code"] == 0
    assert result["request"]["id"] == 7 and result["request"]["state"] == "approved"
    assert "Step 1/2 Model risk review: approved by rita, sam" in err
    # --json is accepted after the command too
    story(portal)
    code, out, _ = run(*DEPLOY, "--json")
    assert code == 0 and json.loads(out)["request"]["state"] == "pending"


def test_an_open_request_for_the_same_version_is_followed_not_duplicated(portal, run):
    _, *polls = approval_story()
    already = problem(409, "request_already_open", "Request #7 for Retail Scorecard 2.0.0 to production is pending.")
    portal.on("POST", REQUESTS, (409, already))
    portal.on("GET", REQUESTS, (200, {"count": 1, "next": None, "previous": None, "results": [polls[1]]}))
    portal.on("GET", REQUEST_7, (200, polls[2]))
    code, out, _ = run(*DEPLOY, *WAIT)
    assert code == 0
    assert "Request #7 for retail-scorecard 2.0.0 to production is already open: following it." in out
    assert "Step 1/2 Model risk review: approved by rita, sam" in out  # decided before this run: still shown
    [listing] = portal.hits("GET", REQUESTS)
    assert listing.query == {"model": ["retail-scorecard"], "version": ["2.0.0"], "environment": ["production"],
                             "state": ["draft", "pending"]}  # fmt: skip
    # --no-reuse: the conflict is an error
    portal.on("POST", REQUESTS, (409, already))
    code, _, err = run(*DEPLOY, "--no-reuse")
    assert code == 2 and "409 Conflict [request_already_open]: Request #7" in err


# --- errors ----------------------------------------------------------------------------------------------------------


def test_401_exits_2_with_the_problem_detail_and_the_token_masked(portal, run):
    # A server that echoes the credentials back: whatever it says, the token is never printed.
    echo = problem(401, "authentication_failed", f"The token {TOKEN} is unknown, expired or revoked.")
    portal.on("POST", REQUESTS, (401, echo, {"WWW-Authenticate": 'Bearer realm="api"'}))
    code, out, err = run(*DEPLOY, "--wait")
    assert code == 2
    assert out == ""
    assert f"error: 401 Unauthorized [authentication_failed]: The token {MASKED} is unknown, expired or revoked." in err
    assert "hint: check GOVPORTAL_TOKEN" in err
    assert len(portal.hits("POST", REQUESTS)) == 1  # a 401 is not retried
    code, out, err = run("--json", *DEPLOY)
    assert code == 2 and json.loads(out)["error"]["status"] == 401 and MASKED in out


def test_403_names_the_scope_the_command_needs(portal, run):
    portal.on("POST", REQUESTS, (403, problem(403, "permission_denied", "You do not have permission.")))
    code, _, err = run(*DEPLOY)
    assert code == 2
    assert "error: 403 Forbidden [permission_denied]: You do not have permission." in err
    assert "needs a token with the request-deploy scope" in err


def test_400_prints_the_detail_and_every_field_error(portal, run):
    errors = {"version": ["No version 2.0.0 of model retail-scorecard that you can see."],
              "environment": ["Object with slug=prod does not exist."]}  # fmt: skip
    portal.on("POST", REQUESTS, (400, problem(400, "invalid", "The request was not valid.", errors)))
    code, _, err = run(*DEPLOY)
    assert code == 2
    assert err.splitlines() == [
        "error: 400 Bad Request [invalid]: The request was not valid.",
        "  version: No version 2.0.0 of model retail-scorecard that you can see.",
        "  environment: Object with slug=prod does not exist.",
    ]


def test_server_errors_then_success_while_polling_are_retried(portal, run):
    created, *polls = approval_story()
    portal.on("POST", REQUESTS, (201, created))
    down = problem(503, "unavailable", "Down for maintenance.")
    portal.on(
        "GET", REQUEST_7, (503, down), (502, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
        (429, problem(429, "throttled", "Slow down."), {"Retry-After": "0"}), *[(200, stage) for stage in polls],
    )  # fmt: skip
    code, out, err = run(*DEPLOY, *WAIT)
    assert code == 0, err
    assert "warning: GET /api/v1/deployment-requests/7/: 503 Service Unavailable; retrying in" in err
    assert "warning: GET /api/v1/deployment-requests/7/: 502 Bad Gateway; retrying in" in err
    assert "429 Too Many Requests; retrying in 0.0s" in err
    assert out.splitlines()[-1].startswith("Request #7 approved")


def test_a_request_that_fails_for_good_while_polling_exits_2(portal, run):
    created = approval_story()[0]
    portal.on("POST", REQUESTS, (201, created))
    portal.on("GET", REQUEST_7, (401, problem(401, "authentication_failed", "The token was revoked.")))
    code, out, err = run(*DEPLOY, *WAIT)
    assert code == 2
    assert out.startswith("Request #7 (pending): ")
    assert "error: 401 Unauthorized [authentication_failed]: The token was revoked." in err


def test_missing_configuration_is_an_error_saying_what_to_set(monkeypatch, capsys):
    assert cli.main(DEPLOY) == 2
    assert "set GOVPORTAL_URL" in capsys.readouterr().err
    monkeypatch.setenv("GOVPORTAL_URL", "https://portal.example")
    assert cli.main(DEPLOY) == 2
    assert "set GOVPORTAL_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("GOVPORTAL_URL", "ftp://portal.example")
    monkeypatch.setenv("GOVPORTAL_TOKEN", TOKEN)
    assert cli.main(DEPLOY) == 2
    assert "must be an http(s) address" in capsys.readouterr().err


def test_an_unreachable_portal_is_an_error_after_retries(monkeypatch, capsys):
    closed = FakePortal()
    url = closed.url
    closed.close()
    monkeypatch.setenv("GOVPORTAL_URL", url)
    monkeypatch.setenv("GOVPORTAL_TOKEN", TOKEN)
    assert cli.main(["status", "7"]) == 2
    err = capsys.readouterr().err
    assert err.count("retrying in") == api.ATTEMPTS - 1
    assert "error: request failed: cannot reach 127.0.0.1:" in err and "is GOVPORTAL_URL right" in err


# --- the HTTP client -------------------------------------------------------------------------------------------------


def client_for(portal, sleeps=None):
    return api.Client(portal.url, TOKEN, sleep=(sleeps.append if sleeps is not None else lambda s: None))


def test_get_backs_off_exponentially_and_honours_retry_after(portal):
    portal.on("GET", "/x/", (503, problem(503, "down", "Down.")), (500, problem(500, "error", "Oops.")),
              (429, problem(429, "throttled", "Slow down."), {"Retry-After": "7"}), (200, {"ok": True}))  # fmt: skip
    sleeps = []
    assert client_for(portal, sleeps).call("GET", "/x/") == {"ok": True}
    assert 0.008 <= sleeps[0] <= 0.01 and 0.016 <= sleeps[1] <= 0.02  # BACKOFF_BASE 0.01, doubled, with jitter
    assert sleeps[2] == 7.0


def test_post_is_resent_only_when_the_server_did_not_act(portal):
    portal.on("POST", "/made/", (500, problem(500, "error", "Oops.")), (201, {"id": 1}))
    with pytest.raises(api.ApiError) as raised:
        client_for(portal).call("POST", "/made/", {"a": 1})
    assert raised.value.status == 500 and len(portal.hits("POST", "/made/")) == 1
    portal.on(
        "POST", "/busy/", (503, problem(503, "down", "Down.")), (429, problem(429, "t", "Slow.")), (201, {"id": 2})
    )
    assert client_for(portal).call("POST", "/busy/", {"a": 1}) == {"id": 2}
    assert [call.body for call in portal.hits("POST", "/busy/")] == [{"a": 1}] * 3


def test_a_deadline_ends_the_retries(portal):
    portal.on("GET", "/down/", (503, problem(503, "down", "Down.")))
    clock = iter(range(100)).__next__  # one second passes at each reading
    client = api.Client(portal.url, TOKEN, sleep=lambda s: None, clock=lambda: float(clock()))
    with pytest.raises(api.TimedOut) as raised:
        client.call("GET", "/down/", deadline=5.0)
    assert raised.value.last.status == 503
    assert len(portal.hits("GET", "/down/")) == 6  # clock 0 to 5: the sixth failure meets the deadline


def test_redirects_are_not_followed_so_the_token_never_goes_elsewhere(portal):
    elsewhere = FakePortal()
    try:
        elsewhere.on("GET", "/x/", (200, {"stolen": True}))
        portal.on("GET", "/x/", (302, "", {"Location": f"{elsewhere.url}/x/"}))
        with pytest.raises(api.ApiError) as raised:
            client_for(portal).call("GET", "/x/")
        assert raised.value.status == 302 and raised.value.code == "redirect"
        assert elsewhere.url in raised.value.detail
        assert elsewhere.calls == []
    finally:
        elsewhere.close()


def test_retry_after_as_an_http_date():
    assert api._retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no wait
    assert api._retry_after("120") == 120.0
    assert api._retry_after("soon") is None


# --- register-version, status, report-deployment ---------------------------------------------------------------------


VERSIONS = "/api/v1/models/retail-scorecard/versions/"
SHA = "c" * 40


def version_doc(**extra):
    body = {
        "model": "retail-scorecard", "version": "2.0.0", "artifact_digest": "d" * 64, "git_commit_sha": SHA,
        "artifact_uri": "s3://models/rs/2.0.0", "url": "https://portal.example/models/retail-scorecard/2.0.0/",
    }  # fmt: skip
    return body | extra


def test_register_version_sends_the_fields_given_reading_files(portal, run, tmp_path):
    (tmp_path / "metrics.json").write_text('{"auc": 0.91}')
    (tmp_path / "card.md").write_text("# Retail Scorecard\n")
    portal.on("POST", VERSIONS, (201, version_doc()))
    outputs = tmp_path / "github_output"
    code, out, _ = run(
        "register-version", "--model", "Retail Scorecard", "--version", "2.0.0", "--digest", "sha256:" + "D" * 64,
        "--commit", SHA, "--artifact-uri", "s3://models/rs/2.0.0", "--metrics", f"@{tmp_path / 'metrics.json'}",
        "--parameters", '{"depth": 6}', "--model-card", f"@{tmp_path / 'card.md'}", "--training-data", "s3://d/1",
        env={"GITHUB_OUTPUT": str(outputs)},
    )  # fmt: skip
    assert code == 0
    assert out == "Registered: retail-scorecard 2.0.0: https://portal.example/models/retail-scorecard/2.0.0/\n"
    [post] = portal.hits("POST", VERSIONS)
    assert post.body == {
        "version": "2.0.0", "artifact_digest": "sha256:" + "D" * 64, "git_commit_sha": SHA,
        "artifact_uri": "s3://models/rs/2.0.0", "metrics": {"auc": 0.91}, "parameters": {"depth": 6},
        "model_card": "# Retail Scorecard\n", "training_data": ["s3://d/1"],
    }  # fmt: skip
    assert "version-url=https://portal.example/models/retail-scorecard/2.0.0/" in outputs.read_text()


def test_register_version_exist_ok_accepts_only_the_same_version(portal, run):
    exists = problem(400, "invalid", "The request was not valid.", {"version": ["Retail Scorecard already has 2.0.0."]})
    portal.on("POST", VERSIONS, (400, exists))
    portal.on("GET", f"{VERSIONS}2.0.0/", (200, version_doc()))
    argv = ["register-version", "--model", "retail-scorecard", "--version", "2.0.0", "--commit", SHA]
    code, _, err = run(*argv, "--digest", "sha256:" + "d" * 64)
    assert code == 2 and "version: Retail Scorecard already has 2.0.0." in err  # without --exist-ok
    code, out, _ = run(*argv, "--digest", "sha256:" + "d" * 64, "--exist-ok")
    assert code == 0 and out.startswith("Already registered (--exist-ok): retail-scorecard 2.0.0")
    code, _, err = run(*argv, "--digest", "e" * 64, "--exist-ok")
    assert code == 2 and "already registered with a different artifact digest" in err


def test_register_version_rejects_bad_json_before_calling(portal, run):
    code, _, err = run("register-version", "--model", "m", "--version", "1", "--metrics", "[1, 2]")
    assert code == 2 and "--metrics must be a JSON object" in err
    code, _, err = run("register-version", "--model", "m", "--version", "1", "--model-card", "@/nonexistent/card.md")
    assert code == 2 and "cannot read --model-card from /nonexistent/card.md" in err
    assert portal.calls == []


@pytest.mark.parametrize(
    ("state", "code"), [("approved", 0), ("rejected", 1), ("expired", 1), ("pending", 3), ("draft", 3)]
)
def test_status_exit_code_says_whether_it_is_approved(portal, run, state, code):
    steps = [step(11, 1, "Model risk review", "approved" if state == "approved" else "open", 2, [RITA, SAM])]
    portal.on("GET", REQUEST_7, (200, doc(state=state, steps=steps)))
    result, out, _ = run("status", "https://portal.example/approvals/requests/7/")
    assert result == code
    assert out.splitlines()[:2] == [
        "Retail Scorecard 2.0.0 → production, requested by svc-ci: Refresh.",
        f"Request #7 ({state}): https://portal.example/approvals/requests/7/",
    ]


def test_status_wait_resumes_waiting(portal, run):
    _, *polls = approval_story()
    portal.on("GET", REQUEST_7, *[(200, stage) for stage in polls])
    code, out, _ = run("status", "7", *WAIT)
    assert code == 0 and "Step 2/2 Business owner sign-off: approved by bo" in out


def test_report_deployment_links_the_github_run(portal, run):
    answer = {
        "recorded": True, "request": 7, "target": "prod-eu", "status": "succeeded", "details": "", "event": 345,
        "url": "https://github.com/acme/models/actions/runs/99", "reported_at": "2026-01-01T12:00:00Z",
    }  # fmt: skip
    portal.on("POST", f"{REQUEST_7}deployments/", (201, answer))
    github = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "acme/models", "GITHUB_RUN_ID": "99"}
    code, out, _ = run("report-deployment", "7", "--target", "prod-eu", "--status", "succeeded", env=github)
    assert code == 0
    assert out == "Reported: request #7 deployment to prod-eu succeeded (audit event #345).\n"
    [post] = portal.hits("POST", f"{REQUEST_7}deployments/")
    assert post.body == {"target": "prod-eu", "status": "succeeded", "details": "",
                         "url": "https://github.com/acme/models/actions/runs/99"}  # fmt: skip


def test_report_deployment_of_an_unapproved_request_is_refused(portal, run):
    refused = problem(409, "not_approved", "Request #7 is pending approval, not approved.")
    portal.on("POST", f"{REQUEST_7}deployments/", (409, refused))
    code, _, err = run("report-deployment", "7", "--target", "prod", "--status", "failed", "--link", "")
    assert code == 2 and "409 Conflict [not_approved]: Request #7 is pending approval, not approved." in err
    assert portal.hits("POST", f"{REQUEST_7}deployments/")[0].body["url"] == ""


# --- pieces ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["Retail Scorecard", "  Card-Fraud  Detector v2 ", "Modèle d'octroi (FR)", "churn_model", "A -- B"]
)
def test_slugify_matches_the_portals(name):
    assert cli.slugify(name) == django_slugify(name)


def test_mask_hides_the_token_and_anything_shaped_like_one():
    out = cli.Output(json_mode=False, secrets=[TOKEN, "plain-secret"])
    text = out.mask(f"a {TOKEN} b plain-secret c gpt_zzzz9999_{'x' * 30} d")
    assert text == f"a {MASKED} b **** c gpt_zzzz9999_**** d"
    short = cli.Output(json_mode=False, secrets=["x"])  # a malformed token masks only itself, not every "x"
    assert short.mask("token x at example.invalid: x") == "token **** at example.invalid: ****"


# --- the process: streaming, the standard library only ----------------------------------------------------------------


def test_steps_are_printed_as_they_complete_not_at_the_end(portal):
    """The fake portal moves on only after the CLI printed the previous stage: output streams while it waits."""
    stages = approval_story()
    current = {"stage": stages[0]}
    portal.on("POST", REQUESTS, (201, stages[0]))
    portal.on("GET", REQUEST_7, lambda call: (200, current["stage"]))
    process = Cli(*DEPLOY, "--wait", "--poll", "0.05", url=portal.url)
    try:
        process.expect("Request #7 (pending): https://portal.example/approvals/requests/7/")
        lines = (
            "rita approved step 1",
            "Step 1/2 Model risk review: approved",
            "Step 2/2 Business owner sign-off: approved",
        )
        for stage, line in zip(stages[1:], lines, strict=True):
            assert process.process.poll() is None
            current["stage"] = stage
            process.expect(line)
        assert process.wait() == 0
    finally:
        process.kill()
    assert TOKEN not in process.stdout + process.stderr


def test_help_and_a_command_run_on_the_standard_library_alone(portal):
    """`-S -E`: no site-packages (neither the project's venv nor the system's), no PYTHON* variables."""
    result = subprocess.run(
        [sys.executable, "-S", "-E", "-m", "govportal_cli", "--help"], cwd=CLIENTS, env={"PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "usage: govportal" in result.stdout and "request-deploy" in result.stdout
    portal.on("GET", REQUEST_7, (200, doc(state="approved")))
    process = Cli("status", "7", url=portal.url, flags=("-S", "-E"))
    assert process.wait() == 0, process.stderr
    assert "Request #7 (approved)" in process.stdout


def test_the_package_imports_nothing_beyond_the_standard_library():
    package = CLIENTS / "govportal_cli"
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top == "__future__", f"{source.name} imports {name}"


def test_python_m_runs_from_the_clients_folder_with_the_system_python():
    """As the issue asks: `env -i PATH=$PATH /usr/bin/python3 -m govportal_cli --help` from clients/."""
    python = "/usr/bin/python3"
    if not __import__("os").path.exists(python):
        pytest.skip("no /usr/bin/python3 on this machine")
    result = subprocess.run(
        [python, "-m", "govportal_cli", "--version"], cwd=CLIENTS, env={"PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "govportal 0.1.0"


# --- register-versions --------------------------------------------------------------------------------------------

BULK = "/api/v1/models/retail-scorecard/versions/bulk/"


def created(call):
    """What the portal answers a good batch: the versions it made, in the order sent."""
    return 201, {"versions": [version_doc(version=entry["version"]) for entry in call.body["versions"]]}


def test_register_versions_sends_a_json_lines_file_in_one_request(portal, run, tmp_path):
    lines = [json.dumps({"version": f"2.{i}.0", "artifact_digest": "sha256:" + "d" * 64}) for i in range(3)]
    (tmp_path / "versions.jsonl").write_text("\n".join([lines[0], "", *lines[1:]]) + "\n")
    portal.on("POST", BULK, created)
    outputs = tmp_path / "github_output"
    code, out, err = run("register-versions", "--model", "Retail Scorecard", "--from", tmp_path / "versions.jsonl",
                         env={"GITHUB_OUTPUT": str(outputs)})  # fmt: skip
    assert code == 0, err
    assert out == "Registered 3 versions of retail-scorecard (2.0.0 to 2.2.0).\n"
    [post] = portal.hits("POST", BULK)
    assert post.body == {"versions": [json.loads(line) for line in lines]}
    assert outputs.read_text().splitlines() == ["model=retail-scorecard", "count=3"]


@pytest.mark.parametrize("shape", ["list", "object"])
def test_register_versions_reads_a_json_file_and_splits_it_into_batches(portal, run, tmp_path, shape):
    versions = [{"version": f"3.{i}.0"} for i in range(5)]
    (tmp_path / "versions.json").write_text(json.dumps(versions if shape == "list" else {"versions": versions}))
    portal.on("POST", BULK, created)
    code, out, _ = run("--json", "register-versions", "--model", "retail-scorecard", "--from",
                       tmp_path / "versions.json", "--batch-size", "2")  # fmt: skip
    assert code == 0
    assert [call.body["versions"] for call in portal.hits("POST", BULK)] == [versions[:2], versions[2:4], versions[4:]]
    document = json.loads(out)
    assert document["outcome"] == "registered" and document["count"] == 5
    assert [version["version"] for version in document["versions"]] == [f"3.{i}.0" for i in range(5)]


def test_register_versions_names_a_refused_entry_by_its_place_in_the_file(portal, run, tmp_path):
    (tmp_path / "versions.jsonl").write_text("".join(json.dumps({"version": f"2.{i}.0"}) + "\n" for i in range(4)))
    refused = problem(400, "invalid", "The request was not valid.", {
        "versions[1].artifact_digest": ["Enter a SHA-256 digest."], "versions[0]": ["Expected a dictionary."]
    })  # fmt: skip
    portal.on("POST", BULK, created, (400, refused))
    code, out, err = run("register-versions", "--model", "retail-scorecard", "--from", tmp_path / "versions.jsonl",
                         "--batch-size", "2")  # fmt: skip
    assert code == 2
    assert out == "Batch 1/2: 2 versions registered.\n"
    assert err.splitlines() == [
        "warning: 2 of 4 versions were registered before batch 2 of 2 (line 3 to line 4) was refused; that batch "
        "and those after it were not.",
        "error: 400 Bad Request [invalid]: The request was not valid.",
        "  line 4 (2.3.0) artifact_digest: Enter a SHA-256 digest.",
        "  line 3 (2.2.0): Expected a dictionary.",
    ]


def test_register_versions_403_names_the_register_scope(portal, run, tmp_path):
    (tmp_path / "versions.json").write_text('[{"version": "2.0.0"}]')
    portal.on("POST", BULK, (403, problem(403, "permission_denied", "You may not add versions to Retail Scorecard.")))
    code, _, err = run("register-versions", "--model", "retail-scorecard", "--from", tmp_path / "versions.json")
    assert code == 2 and "needs a token with the register scope" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"version": "1.0"}\n{"version": "1.1"\n', "line 2 is not JSON"),
        (
            '[{"version": "1.0"}, {"artifact_digest": "x"}]',
            'versions[1]: each version is a JSON object with a "version"',
        ),
        ('[{"version": "1.0"}, "1.1"]', "versions[1]: each version is a JSON object"),
        ('"1.0"', "holds neither a list of versions"),
        ("[]", "holds no versions"),
        ("", "holds no versions"),
    ],
)
def test_register_versions_refuses_a_bad_file_before_calling(portal, run, tmp_path, content, message):
    (tmp_path / "versions.json").write_text(content)
    code, _, err = run("register-versions", "--model", "m", "--from", tmp_path / "versions.json")
    assert code == 2 and message in err, err
    code, _, err = run("register-versions", "--model", "m", "--from", tmp_path / "missing.json")
    assert code == 2 and "cannot read --from" in err
    code, _, err = run("register-versions", "--model", "m", "--from", tmp_path / "versions.json", "--batch-size", "0")
    assert code == 2 and "--batch-size is 1 to 1000, not 0" in err
    assert portal.calls == []


def test_register_versions_reads_standard_input(portal, tmp_path):
    portal.on("POST", BULK, created)
    result = subprocess.run(
        [sys.executable, "-m", "govportal_cli", "register-versions", "--model", "retail-scorecard", "--from", "-"],
        cwd=CLIENTS, env={"PATH": "/usr/bin:/bin", "GOVPORTAL_URL": portal.url, "GOVPORTAL_TOKEN": TOKEN},
        input='{"version": "2.0.0"}\n{"version": "2.1.0"}\n', capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Registered 2 versions of retail-scorecard (2.0.0 to 2.1.0).\n"
