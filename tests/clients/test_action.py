"""The composite GitHub Action (clients/github-action/action.yml), run step by step as a runner would.

A small stand-in for the runner: `${{ inputs.* }}`, `${{ github.* }}` and `${{ steps.*.outputs.* }}` are
substituted, `if:` conditions evaluated, each `run:` executed with `bash --noprofile --norc -eo pipefail` (the
runner's bash) against the fake portal, GITHUB_OUTPUT and GITHUB_ENV files honoured. The install step is
replaced by the CLI from clients/ (test_packaging.py installs it with pip for real).
"""

import re
import subprocess
import sys

import pytest
import yaml

from tests.clients.support import CLIENTS, TOKEN, FakePortal, approval_story, decision, doc, step

ACTION = CLIENTS / "github-action" / "action.yml"
EXPRESSION = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")
SHA = "f" * 40
GITHUB = {
    "sha": SHA, "repository": "acme/models", "actor": "octocat", "server_url": "https://github.com", "run_id": "99",
    "action_path": str(CLIENTS / "github-action"),
}  # fmt: skip
REQUESTS = "/api/v1/deployment-requests/"


def load():
    return yaml.safe_load(ACTION.read_text())


def evaluate(expression, context):
    comparison = re.fullmatch(r"([\w.-]+)\s*==\s*'([^']*)'", expression)
    if comparison:  # GitHub compares strings ignoring case
        return str(lookup(comparison[1], context)).lower() == comparison[2].lower()
    return lookup(expression, context)


def lookup(path, context):
    value = context
    for part in path.split("."):
        value = value.get(part, "") if isinstance(value, dict) else ""
    return value


def substitute(text, context):
    return EXPRESSION.sub(lambda match: str(evaluate(match[1], context)), str(text))


def run_action(inputs, portal, tmp_path):
    """(steps run → exit codes, the action's outputs, the stdout+stderr of every step)."""
    action = load()
    context = {"github": GITHUB, "steps": {}}
    given = {name: str(value).lower() if isinstance(value, bool) else str(value) for name, value in inputs.items()}
    context["inputs"] = {
        name: given.get(name, substitute(spec.get("default", ""), context)) for name, spec in action["inputs"].items()
    }
    base = {"PATH": "/usr/bin:/bin", "RUNNER_TEMP": str(tmp_path), "PYTHONPATH": str(CLIENTS),
            "GOVPORTAL_CLI": sys.executable}  # fmt: skip
    codes, logs = {}, []
    for index, spec in enumerate(action["runs"]["steps"]):
        if spec["name"] == "Install the GovPortal CLI":
            continue
        condition = spec.get("if")
        if condition and not evaluate(EXPRESSION.fullmatch(condition)[1], context):
            continue
        output_file = tmp_path / f"output-{index}"
        output_file.touch()
        env = base | {key: substitute(value, context) for key, value in spec.get("env", {}).items()}
        env |= {"GITHUB_OUTPUT": str(output_file), "GITHUB_ENV": str(tmp_path / "env")}
        script = tmp_path / f"step-{index}.sh"
        script.write_text(substitute(spec["run"], context))
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", script], env=env, cwd=tmp_path,
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        codes[spec["name"]] = result.returncode
        logs.append(result.stdout + result.stderr)
        if "id" in spec:
            lines = output_file.read_text().splitlines()
            context["steps"][spec["id"]] = {"outputs": dict(line.split("=", 1) for line in lines)}
        if result.returncode != 0:
            break
    outputs = {name: substitute(spec["value"], context) for name, spec in action["outputs"].items()}
    log = "\n".join(logs)
    assert TOKEN not in log
    return codes, outputs, log


@pytest.fixture
def portal():
    fake = FakePortal()
    yield fake
    fake.close()


def inputs_for(portal, **extra):
    return {"url": portal.url, "token": TOKEN, "model": "retail-scorecard", "version": SHA,
            "environment": "production", "poll": "0.01"} | extra  # fmt: skip


def test_every_input_and_output_is_documented_and_the_cli_is_installed_from_beside_it():
    action = load()
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) >= {
        "url", "token", "model", "version", "environment", "justification", "wait", "timeout", "poll", "register",
        "artifact-uri", "artifact-digest", "commit",
    }  # fmt: skip
    assert set(action["outputs"]) == {"request-id", "request-url", "state"}
    for name, spec in [*action["inputs"].items(), *action["outputs"].items()]:
        assert len(spec.get("description", "")) > 20, name
    assert action["inputs"]["wait"]["default"] == "true" and action["inputs"]["register"]["default"] == "false"
    [install] = [spec for spec in action["runs"]["steps"] if spec["name"] == "Install the GovPortal CLI"]
    assert (
        'pip install --quiet --disable-pip-version-check "${{ github.action_path }}/../govportal_cli"' in install["run"]
    )
    assert (CLIENTS / "github-action" / ".." / "govportal_cli" / "pyproject.toml").is_file()
    for spec in action["runs"]["steps"]:  # inputs reach the scripts as environment variables, never pasted in
        assert "inputs." not in spec["run"], spec["name"]


def test_registers_requests_waits_and_outputs_the_approval(portal, tmp_path):
    (tmp_path / "MODEL_CARD.md").write_text("# Card\n")
    versions = "/api/v1/models/retail-scorecard/versions/"
    portal.on("POST", versions, (201, {"model": "retail-scorecard", "version": SHA, "url": "https://p/v"}))
    created, *polls = approval_story()
    portal.on("POST", REQUESTS, (201, created))
    portal.on("GET", f"{REQUESTS}7/", *[(200, stage) for stage in polls])
    registering = {"artifact-digest": "sha256:" + "d" * 64, "metrics": '{"auc": 0.9}', "model-card": "MODEL_CARD.md"}
    inputs = inputs_for(portal, register=True, **registering)
    codes, outputs, log = run_action(inputs, portal, tmp_path)
    assert codes == {"Register the version": 0, "Request the deployment": 0}, log
    assert outputs == {"request-id": "7", "request-url": "https://portal.example/approvals/requests/7/",
                       "state": "approved"}  # fmt: skip
    assert "Step 1/2 Model risk review: approved by rita, sam" in log
    [register] = portal.hits("POST", versions)
    assert register.body == {"version": SHA, "git_commit_sha": SHA, "artifact_digest": "sha256:" + "d" * 64,
                             "metrics": {"auc": 0.9}, "model_card": "# Card\n"}  # fmt: skip
    [request] = portal.hits("POST", REQUESTS)
    assert request.body["justification"] == (
        f"acme/models@{SHA}: requested by octocat from https://github.com/acme/models/actions/runs/99"
    )


def test_a_rejection_fails_the_step_with_the_outputs_set(portal, tmp_path):
    created = doc(steps=[step(11, 1, "Model risk review", "open", 2)])
    no = decision(4, "rita", "reject", comment="Not this quarter.")
    portal.on("POST", REQUESTS, (201, created))
    portal.on("GET", f"{REQUESTS}7/", (200, doc(state="rejected", steps=[step(11, 1, "Model risk review",
                                                                               "rejected", 2, [no])])))  # fmt: skip
    codes, outputs, log = run_action(inputs_for(portal, justification="Hotfix."), portal, tmp_path)
    assert codes == {"Request the deployment": 1}  # register defaults to false: not run
    assert outputs["state"] == "rejected" and outputs["request-id"] == "7"
    assert 'rita rejected step 1 (Model risk review), signed: "Not this quarter."' in log


def test_without_waiting_it_submits_and_succeeds(portal, tmp_path):
    portal.on("POST", REQUESTS, (201, approval_story()[0]))
    codes, outputs, _ = run_action(inputs_for(portal, wait="False"), portal, tmp_path)
    assert codes == {"Request the deployment": 0}
    assert outputs["state"] == "pending"
    assert portal.hits("GET", f"{REQUESTS}7/") == []
