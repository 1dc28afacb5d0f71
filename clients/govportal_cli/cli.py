"""govportal: GovPortal from a CI pipeline. Register a model version, request its deployment, wait for the
approvers, report the deployment. The standard library only (Python 3.9+).

    export GOVPORTAL_URL=https://govportal.example.com GOVPORTAL_TOKEN=gpt_...
    govportal register-version --model "Retail Scorecard" --version 2.0.0 --digest sha256:... --commit $SHA
    govportal register-versions --model retail-scorecard --from versions.jsonl
    govportal request-deploy --model retail-scorecard --version 2.0.0 --env production \\
        --justification "Quarterly refresh" --wait --timeout 3600 --poll 10
    govportal status 42
    govportal report-deployment 42 --target prod-eu --status succeeded

Exit status: 0 success (request approved); 1 request rejected, cancelled or expired; 2 error or timeout;
3 (status only) request still open.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import unicodedata
import uuid
from typing import Any
from urllib.parse import quote, urlsplit

from . import __version__
from .api import ApiError, Client, TimedOut

EXIT_OK, EXIT_DENIED, EXIT_ERROR, EXIT_OPEN = 0, 1, 2, 3
DENIED_STATES = ("rejected", "cancelled", "expired")
OPEN_STATES = ("draft", "pending")
REQUESTS = "/api/v1/deployment-requests/"
_TOKEN = re.compile(r"gpt_([A-Za-z0-9]{8})_[A-Za-z0-9_-]+")
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")

SCOPE_HINTS = {
    "register-version": "register",
    "register-versions": "register",
    "request-deploy": "request-deploy",
    "status": "read",
    "report-deployment": "report-deployment",
}


class UsageError(Exception):
    """A problem with the command line or the environment, reported without a traceback (exit 2)."""


def slugify(value: str) -> str:
    """The model's slug as the portal (Django's slugify) makes it from a name: "Retail Scorecard" → retail-scorecard."""
    value = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode("ascii")
    value = re.sub(r"[^\w\s-]", "", value.lower())
    return re.sub(r"[-\s]+", "-", value).strip("-_")


# --- output -------------------------------------------------------------------------------------------------------


class Output:
    """Everything printed goes through here, with the token masked.

    Human mode: progress and results on stdout, warnings and errors on stderr. With --json, stdout carries
    exactly one JSON document (the result, or the error) and the progress lines move to stderr.
    """

    def __init__(self, *, json_mode: bool, secrets=()):
        self.json_mode = json_mode
        self.secrets = [secret for secret in secrets if secret]

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            if len(secret) >= 16:
                text = text.replace(secret, _masked(secret))
            else:  # a short (so malformed) token: only where it stands as a word, not inside every other word
                text = re.sub(rf"(?<![\w-]){re.escape(secret)}(?![\w-])", _masked(secret), text)
        return _TOKEN.sub(lambda match: f"gpt_{match[1]}_****", text)

    def _write(self, stream, text: str) -> None:
        stream.write(self.mask(text) + "\n")
        stream.flush()

    def say(self, text: str) -> None:
        self._write(sys.stderr if self.json_mode else sys.stdout, text)

    def warn(self, text: str) -> None:
        self._write(sys.stderr, f"warning: {text}")

    def error(self, text: str) -> None:
        self._write(sys.stderr, f"error: {text}")

    def document(self, data: Any) -> None:
        if self.json_mode:
            self._write(sys.stdout, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))

    def problem(self, exc: ApiError, command: str) -> None:
        """An API error in words: status, code, the detail, each field's errors, and a hint for 401/403/404."""
        head = f"{exc.status} {exc.title}".strip() if exc.status is not None else "request failed"
        code = f" [{exc.code}]" if exc.code else ""
        lines = [f"{head}{code}: {exc.detail or exc.message}"]
        lines += [f"  {field}: {message}" for field, message in _flatten(exc.errors)]
        hint = _hint(exc, command)
        if hint:
            lines.append(f"  hint: {hint}")
        self.error("\n".join(lines))
        self.document({"outcome": "error", "exit_code": EXIT_ERROR, "error": exc.as_dict()})


def _masked(secret: str) -> str:
    match = _TOKEN.fullmatch(secret)
    return f"gpt_{match[1]}_****" if match else "****"


def _flatten(errors: Any, prefix: str = ""):
    """("field", "message") pairs from DRF's errors: lists of messages, nested objects, lists of objects."""
    if errors is None:
        return
    if isinstance(errors, dict):
        for key, value in errors.items():
            yield from _flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(errors, list):
        if all(isinstance(item, str) for item in errors):
            yield prefix or "error", " ".join(errors)
        else:
            for index, item in enumerate(errors):
                if item:
                    yield from _flatten(item, f"{prefix}[{index}]")
    else:
        yield prefix or "error", str(errors)


def _hint(exc: ApiError, command: str) -> str:
    if exc.status == 401:
        return "check GOVPORTAL_TOKEN: the whole service-account token (gpt_...), neither expired nor revoked."
    if exc.status == 403:
        scope = SCOPE_HINTS.get(command)
        return f"this needs a token with the {scope} scope, of a service account in the model's team." if scope else ""
    if exc.status == 404:
        return "no such object, or not one this token's service account may see (check the model slug and id)."
    if exc.status is None or exc.status >= 500:
        return "is GOVPORTAL_URL right and the portal up?"
    return ""


def github_output(values: dict) -> None:
    """Step outputs for GitHub Actions, when GITHUB_OUTPUT names the file to append them to."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        for key, value in values.items():
            value = "" if value is None else str(value)
            if "\n" in value:
                delimiter = f"ghadelim_{uuid.uuid4().hex}"
                handle.write(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")
            else:
                handle.write(f"{key}={value}\n")


# --- requests: describing them and watching them move --------------------------------------------------------------


def _approvals(step: dict, outcome: str) -> list[str]:
    return [d["approver"] for d in step.get("decisions") or () if d.get("outcome") == outcome and not d.get("voided")]


class Watcher:
    """Prints a request's steps, then, poll by poll, each new decision and each step as it completes."""

    def __init__(self, out: Output):
        self.out = out
        self.steps: dict = {}  # step id → last state seen
        self.decisions: set = set()
        self.state: str | None = None
        self.round: int | None = None

    def overview(self, req: dict) -> None:
        steps = req.get("steps") or []
        if req.get("policy"):
            count = f"{len(steps)} step{'s' if len(steps) != 1 else ''}"
            self.out.say(f"Policy: {req['policy']} (revision {req.get('policy_revision')}), {count}:")
        for step in steps:
            quorum = step.get("quorum") or 1
            signed = ", e-signature" if step.get("needs_signature") else ""
            self.out.say(
                f"  {step['order']}. {step['name']}: {quorum} approval{'s' if quorum != 1 else ''}{signed}"
                f" ({step['state']})"
            )
        failed = [check for check in req.get("checks") or () if not check.get("passed")]
        for check in failed:
            self.out.say(f"  check failed: {check.get('label')}: {check.get('detail')}")
        self.update(req)

    def update(self, req: dict) -> None:
        steps = req.get("steps") or []
        if self.round is not None and req.get("round") != self.round:
            self.out.say(f"Request #{req['id']} was resubmitted (round {req.get('round')}); its steps start over.")
        if self.state is not None and req["state"] != self.state and req["state"] in OPEN_STATES:
            self.out.say(f"Request #{req['id']} is now {req['state']}.")
        self.round, self.state = req.get("round"), req["state"]
        total = len(steps)
        for step in steps:
            label = f"step {step['order']} ({step['name']})"
            for decision in step.get("decisions") or ():
                if decision["id"] in self.decisions or decision.get("voided"):
                    continue
                self.decisions.add(decision["id"])
                verb = "approved" if decision.get("outcome") == "approve" else "rejected"
                signed = ", signed" if decision.get("signed") else ""
                tally = ""
                if verb == "approved":
                    tally = f" [{len(_approvals(step, 'approve'))}/{step.get('quorum') or 1}]"
                comment = f': "{decision["comment"]}"' if decision.get("comment") else ""
                self.out.say(f"  {decision['approver']} {verb} {label}{tally}{signed}{comment}")
            previous = self.steps.get(step["id"])
            state = step["state"]
            if state == previous:
                continue
            self.steps[step["id"]] = state
            if state == "approved":
                who = ", ".join(_approvals(step, "approve"))
                self.out.say(f"Step {step['order']}/{total} {step['name']}: approved by {who}")
            elif state == "rejected":
                who = ", ".join(_approvals(step, "reject"))
                self.out.say(f"Step {step['order']}/{total} {step['name']}: rejected by {who}")
            elif state == "open" and previous is not None:
                quorum = step.get("quorum") or 1
                self.out.say(
                    f"Step {step['order']}/{total} {step['name']}: open, waiting for {quorum} "
                    f"approval{'s' if quorum != 1 else ''}"
                )


def _final_line(req: dict) -> str:
    what = f"{req.get('model')} {req.get('version')}"
    if req["state"] == "approved":
        return f"Request #{req['id']} approved: {what} may be deployed to {req.get('environment')}."
    return f"Request #{req['id']} {req['state']}: {what} is not approved for {req.get('environment')}."


def _exit_for(state: str, *, open_code: int) -> int:
    if state == "approved":
        return EXIT_OK
    if state in DENIED_STATES:
        return EXIT_DENIED
    return open_code


def _seconds(value: float) -> str:
    return f"{value:g}s"


def wait_for(ctx: Context, req: dict, watcher: Watcher, timeout: float, poll: float) -> tuple[dict, bool]:
    """Poll the request until it is final: (the request as last seen, timed out?)."""
    if req.get("final"):
        return req, False
    limit = "no time limit" if timeout <= 0 else f"at most {_seconds(timeout)}"
    ctx.out.say(f"Waiting for the approvers ({limit}, checking every {_seconds(poll)}).")
    deadline = ctx.clock() + timeout if timeout > 0 else math.inf
    path = f"{REQUESTS}{int(req['id'])}/"
    while not req.get("final"):
        remaining = deadline - ctx.clock()
        if remaining <= 0:
            return req, True
        ctx.sleep(min(poll, remaining))
        try:
            req = ctx.client.call("GET", path, deadline=deadline)
        except TimedOut as exc:
            ctx.out.warn(f"the portal did not answer: {exc.last.message}")
            return req, True
        watcher.update(req)
    return req, False


# --- the commands ---------------------------------------------------------------------------------------------------


class Context:
    def __init__(self, args, out: Output, client: Client):
        self.args, self.out, self.client = args, out, client
        self.sleep, self.clock = client.sleep, client.clock


def _read_value(value: str | None, what: str) -> str | None:
    """The text itself, or the contents of the file after an `@` (`@model-card.md`)."""
    if value is None or not value.startswith("@"):
        return value
    try:
        with open(value[1:], encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise UsageError(f"cannot read {what} from {value[1:]}: {exc.strerror or exc}") from None


def _read_json_object(value: str | None, what: str) -> dict | None:
    text = _read_value(value, what)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f'{what} must be a JSON object, e.g. {{"auc": 0.91}}.')
    return data


def _digest(value: str) -> str:
    value = (value or "").strip().lower()
    return value[7:] if value.startswith("sha256:") else value


def cmd_register_version(ctx: Context) -> int:
    args = ctx.args
    slug = slugify(args.model)
    if not slug:
        raise UsageError(f"--model {args.model!r} gives no slug; pass the model's slug, e.g. retail-scorecard.")
    body: dict = {"version": args.version}
    fields = {
        "artifact_uri": args.artifact_uri, "artifact_digest": args.digest, "git_commit_sha": args.commit,
        "framework": args.framework, "parent": args.parent,
        "metrics": _read_json_object(args.metrics, "--metrics"),
        "parameters": _read_json_object(args.parameters, "--parameters"),
        "model_card": _read_value(args.model_card, "--model-card"),
        "training_data": args.training_data or None,
    }  # fmt: skip
    body.update({key: value for key, value in fields.items() if value is not None})
    path = f"/api/v1/models/{quote(slug, safe='')}/versions/"
    try:
        version = ctx.client.call("POST", path, body)
        created = True
    except ApiError as exc:
        if not (args.exist_ok and exc.status == 400 and isinstance(exc.errors, dict) and "version" in exc.errors):
            raise
        try:
            version = ctx.client.call("GET", f"{path}{quote(args.version, safe='')}/")
        except ApiError:
            raise exc from None
        _same_version(version, body, slug)
        created = False
    verb = "Registered" if created else "Already registered (--exist-ok)"
    ctx.out.say(f"{verb}: {slug} {version.get('version', args.version)}: {version.get('url', '')}".rstrip(": "))
    ctx.out.document({"outcome": "registered" if created else "exists", "exit_code": EXIT_OK, "version": version})
    github_output({"model": slug, "version": version.get("version", args.version), "version-url": version.get("url")})
    return EXIT_OK


def _same_version(existing: dict, wanted: dict, slug: str) -> None:
    """--exist-ok accepts the registered version only if what this run would register matches it."""
    compare = {"artifact_digest": _digest, "git_commit_sha": str.lower, "artifact_uri": str.strip}
    names = {"artifact_digest": "artifact digest", "git_commit_sha": "commit", "artifact_uri": "artifact URI"}
    different = [
        names[field] for field, norm in compare.items()
        if field in wanted and norm(existing.get(field) or "") != norm(wanted[field])
    ]  # fmt: skip
    if different:
        raise UsageError(
            f"{slug} {wanted['version']} is already registered with a different {' and '.join(different)}; "
            "a version is registered once: give this build a new version."
        )


MAX_BATCH = 1000  # the portal's limit of versions in one bulk request


def _read_versions(path: str) -> list[tuple[str, dict]]:
    """(where, entry) pairs from a JSON file (a list of versions, or {"versions": [...]}) or JSON Lines (one version
    a line); `-` reads standard input. `where` names the entry in the file: `versions[3]`, or `line 12`."""
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as exc:
        raise UsageError(f"cannot read --from {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"--from {path} is not UTF-8 text: {exc}") from None
    try:
        data = json.loads(text)
    except ValueError:  # not one JSON document: JSON Lines
        entries = []
        for number, line in enumerate(text.splitlines(), 1):
            try:
                entries += [(f"line {number}", json.loads(line))] if line.strip() else []
            except ValueError as exc:
                raise UsageError(f"{path} line {number} is not JSON: {exc}") from None
    else:
        if isinstance(data, dict):  # {"versions": [...]}, or JSON Lines of one line
            data = data.get("versions", [data])
        if not isinstance(data, list):
            raise UsageError(f'{path} holds neither a list of versions, {{"versions": [...]}}, nor JSON Lines.')
        entries = [(f"versions[{index}]", entry) for index, entry in enumerate(data)]
    for where, entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("version"), str) or not entry["version"].strip():
            raise UsageError(f"{path} {where}: each version is a JSON object with a \"version\", e.g. "
                             '{"version": "2.1.0", "artifact_digest": "sha256:..."}.')  # fmt: skip
    if not entries:
        raise UsageError(f"{path} holds no versions.")
    return entries


def _in_file_terms(exc: ApiError, batch: list[tuple[str, dict]]) -> None:
    """The portal names a bad entry by its place in the batch (`versions[3].artifact_digest`); say where it is in
    the file instead, and which version it is."""
    if not isinstance(exc.errors, dict):
        return
    named = {}
    for key, messages in exc.errors.items():
        match = re.fullmatch(r"versions\[(\d+)\]\.?(.*)", str(key))
        if match and int(match[1]) < len(batch):
            where, entry = batch[int(match[1])]
            key = f"{where} ({entry['version']}) {match[2]}".rstrip()
        named[key] = messages
    exc.errors = named


def cmd_register_versions(ctx: Context) -> int:
    args, out = ctx.args, ctx.out
    slug = slugify(args.model)
    if not slug:
        raise UsageError(f"--model {args.model!r} gives no slug; pass the model's slug, e.g. retail-scorecard.")
    if not 1 <= args.batch_size <= MAX_BATCH:
        raise UsageError(f"--batch-size is 1 to {MAX_BATCH}, not {args.batch_size}.")
    entries = _read_versions(args.source)
    batches = [entries[start : start + args.batch_size] for start in range(0, len(entries), args.batch_size)]
    path = f"/api/v1/models/{quote(slug, safe='')}/versions/bulk/"
    registered: list = []
    for number, batch in enumerate(batches, 1):
        try:
            answer = ctx.client.call("POST", path, {"versions": [entry for _, entry in batch]})
        except ApiError as exc:
            _in_file_terms(exc, batch)
            if registered:
                out.warn(
                    f"{len(registered)} of {len(entries)} versions were registered before batch {number} of "
                    f"{len(batches)} ({batch[0][0]} to {batch[-1][0]}) was refused; that batch and those after it "
                    "were not."
                )
            raise
        created = answer.get("versions", []) if isinstance(answer, dict) else []
        registered += created
        if len(batches) > 1:
            out.say(f"Batch {number}/{len(batches)}: {len(created)} versions registered.")
    names = [str(version.get("version")) for version in registered]
    span = f" ({names[0]} to {names[-1]})" if len(names) > 1 else f" ({names[0]})" if names else ""
    out.say(f"Registered {len(registered)} version{'s' if len(registered) != 1 else ''} of {slug}{span}.")
    out.document({"outcome": "registered", "exit_code": EXIT_OK, "count": len(registered), "versions": registered})
    github_output({"model": slug, "count": len(registered)})
    return EXIT_OK


def _find_open(ctx: Context, slug: str, version: str, environment: str) -> dict | None:
    query = {"model": slug, "version": version, "environment": environment, "state": list(OPEN_STATES)}
    listing = ctx.client.call("GET", REQUESTS, query=query)
    results = listing.get("results", []) if isinstance(listing, dict) else listing
    return results[0] if results else None


def cmd_request_deploy(ctx: Context) -> int:
    args = ctx.args
    slug = slugify(args.model)
    if not slug:
        raise UsageError(f"--model {args.model!r} gives no slug; pass the model's slug, e.g. retail-scorecard.")
    if not args.justification.strip():
        raise UsageError("--justification is empty: say why this version should be deployed; approvers read it.")
    body = {
        "model": slug, "version": args.version, "environment": args.env, "justification": args.justification,
        "submit": not args.draft,
    }  # fmt: skip
    try:
        req = ctx.client.call("POST", REQUESTS, body)
    except ApiError as exc:
        if exc.status != 409 or exc.code != "request_already_open" or not args.reuse:
            raise
        req = _find_open(ctx, slug, args.version, args.env)
        if req is None:
            raise
        ctx.out.say(f"Request #{req['id']} for {slug} {args.version} to {args.env} is already open: following it.")
        if req["state"] == "draft" and not args.draft:
            req = ctx.client.call("POST", f"{REQUESTS}{int(req['id'])}/submit/", {})
    return _follow(ctx, req, wait=args.wait, open_code=EXIT_OK)


def _follow(ctx: Context, req: dict, *, wait: bool, open_code: int) -> int:
    """Print the request (its URL first), wait if asked, report the outcome; GITHUB_OUTPUT whatever happens."""
    args, out = ctx.args, ctx.out
    out.say(f"Request #{req['id']} ({req['state']}): {req.get('url', '')}")
    timed_out = False
    try:
        watcher = Watcher(out)
        watcher.overview(req)
        if wait:
            req, timed_out = wait_for(ctx, req, watcher, args.timeout, args.poll)
    finally:
        github_output({"request-id": req["id"], "request-url": req.get("url", ""), "state": req["state"]})
    if timed_out:
        out.error(
            f"timed out after {_seconds(args.timeout)}: request #{req['id']} is still {req['state']} "
            f"(it stays open; `govportal status {req['id']} --wait` resumes waiting): {req.get('url', '')}"
        )
        code, outcome = EXIT_ERROR, "timeout"
    else:
        code = _exit_for(req["state"], open_code=open_code)
        outcome = req["state"]
        if req["state"] in DENIED_STATES or req["state"] == "approved":
            out.say(_final_line(req))
    out.document({"outcome": outcome, "exit_code": code, "request": req})
    return code


def _request_id(value: str) -> int:
    """A request id, or the request's URL (…/approvals/requests/42/) as the portal shows it."""
    value = value.strip()
    if value.isdigit():
        return int(value)
    match = re.search(r"/requests/(\d+)/?(?:[?#].*)?$", value)
    if match:
        return int(match[1])
    raise UsageError(f"{value!r} is not a request id (a number) or a request's URL.")


def cmd_status(ctx: Context) -> int:
    req = ctx.client.call("GET", f"{REQUESTS}{_request_id(ctx.args.request)}/")
    if not ctx.args.json:
        ctx.out.say(
            f"{req.get('model_name') or req.get('model')} {req.get('version')} → {req.get('environment')}, "
            f"requested by {req.get('requester')}: {req.get('justification')}"
        )
    return _follow(ctx, req, wait=ctx.args.wait, open_code=EXIT_OPEN)


def _default_link() -> str:
    """The GitHub Actions run, when the command runs in one."""
    server, repository, run = (os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    return f"{server}/{repository}/actions/runs/{run}" if server and repository and run else ""


def cmd_report_deployment(ctx: Context) -> int:
    args = ctx.args
    request_id = _request_id(args.request)
    body = {
        "target": args.target, "status": args.status, "details": _read_value(args.details, "--details") or "",
        "url": args.link if args.link is not None else _default_link(),
    }  # fmt: skip
    report = ctx.client.call("POST", f"{REQUESTS}{request_id}/deployments/", body)
    ctx.out.say(
        f"Reported: request #{request_id} deployment to {report.get('target', args.target)} "
        f"{report.get('status', args.status)} (audit event #{report.get('event')})."
    )
    ctx.out.document({"outcome": "reported", "exit_code": EXIT_OK, "report": report})
    github_output({"event": report.get("event")})
    return EXIT_OK


# --- the command line -----------------------------------------------------------------------------------------------


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not math.isfinite(number) or number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds (0 or more)")
    return number


def _common(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """--url and --json, accepted before the command and after it."""
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--url", default=default, help="The portal's address (default: $GOVPORTAL_URL).")
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS if suppress else False,
        help="Print one JSON document on stdout (progress goes to stderr).",
    )  # fmt: skip


def _wait_options(parser: argparse.ArgumentParser, *, default_wait: bool = False) -> None:
    parser.add_argument(
        "--wait", action="store_true", default=default_wait,
        help="Wait until the request is approved (exit 0) or rejected, cancelled or expired (exit 1).",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=_positive, default=3600.0,
        help="Stop waiting after this many seconds (exit 2; the request stays open). 0: no limit. Default 3600.",
    )  # fmt: skip
    parser.add_argument(
        "--poll", type=_positive, default=10.0, help="Seconds between checks while waiting (default 10)."
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="govportal",
        description="GovPortal from CI: register model versions, request deployments and wait for approval, "
        "report deployments. Authenticates with the service-account token in $GOVPORTAL_TOKEN.",
        epilog="Exit status: 0 success or approved; 1 rejected, cancelled or expired; 2 error or timeout; "
        "3 (status) still open.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _common(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    register = commands.add_parser(
        "register-version", help="Register a new version of a model (token scope: register).",
        description="Register a new version of a registered model. @FILE reads a value from a file.",
    )  # fmt: skip
    _common(register, suppress=True)
    register.add_argument("--model", required=True, help="The model's slug or name.")
    register.add_argument("--version", required=True, dest="version", help="The new version, e.g. 2.1.0.")
    register.add_argument("--artifact-uri", help="Where the artifact is stored, e.g. s3://models/x/2.1.0.")
    register.add_argument("--digest", help="The artifact's SHA-256: 64 hex digits, optionally 'sha256:'.")
    register.add_argument("--commit", help="The full Git commit SHA the version was built from.")
    register.add_argument("--framework", help="e.g. xgboost 2.0.")
    register.add_argument("--metrics", help="JSON object or @FILE, e.g. '{\"auc\": 0.91}'.")
    register.add_argument("--parameters", help="Training parameters: JSON object or @FILE.")
    register.add_argument("--model-card", help="The model card (Markdown) or @FILE.")
    register.add_argument("--parent", help="The version of the same model this one derives from.")
    register.add_argument(
        "--training-data", action="append", metavar="REF", help="A training data reference (repeatable)."
    )
    register.add_argument(
        "--exist-ok", action="store_true",
        help="Succeed if the version is already registered with the same digest, commit and artifact URI "
        "(re-runs of a pipeline).",
    )  # fmt: skip
    register.set_defaults(handler=cmd_register_version)

    many = commands.add_parser(
        "register-versions", help="Register many new versions of a model from a file (token scope: register).",
        description="Register the versions in FILE: a JSON list of versions (or {\"versions\": [...]}), or JSON "
        "Lines, one version a line; each with the fields of the API's version, e.g. {\"version\": \"2.1.0\", "
        "\"artifact_digest\": \"sha256:...\"}. Each batch is registered whole or not at all.",
    )  # fmt: skip
    _common(many, suppress=True)
    many.add_argument("--model", required=True, help="The model's slug or name.")
    many.add_argument("--from", required=True, dest="source", metavar="FILE", help="The versions; - reads stdin.")
    many.add_argument(
        "--batch-size", type=int, default=MAX_BATCH,
        help=f"Versions a request (1 to {MAX_BATCH}, the default). A file of more is sent in several batches.",
    )  # fmt: skip
    many.set_defaults(handler=cmd_register_versions)

    request = commands.add_parser(
        "request-deploy", help="Request approval to deploy a version (token scope: request-deploy).",
        description="Request a deployment and, with --wait, wait for the approvers. The request's URL is "
        "printed at once and each step as it completes.",
    )  # fmt: skip
    _common(request, suppress=True)
    request.add_argument("--model", required=True, help="The model's slug or name.")
    request.add_argument("--version", required=True, dest="version", help="The version to deploy.")
    request.add_argument("--env", "--environment", required=True, dest="env", help="The environment's slug.")
    request.add_argument("--justification", required=True, help="Why; the approvers read it.")
    request.add_argument("--draft", action="store_true", help="Create a draft instead of submitting it.")
    request.add_argument(
        "--no-reuse", dest="reuse", action="store_false",
        help="Fail if a request for this version and environment is already open (default: follow it).",
    )  # fmt: skip
    _wait_options(request)
    request.set_defaults(handler=cmd_request_deploy)

    status = commands.add_parser(
        "status", help="Show a request, its steps and decisions (token scope: read).",
        description="Show a deployment request. Exit status: 0 approved, 1 rejected/cancelled/expired, "
        "3 still open (with --wait: 2 on timeout).",
    )  # fmt: skip
    _common(status, suppress=True)
    status.add_argument("request", help="The request's id or URL.")
    _wait_options(status)
    status.set_defaults(handler=cmd_status)

    report = commands.add_parser(
        "report-deployment", help="Report that an approved request was deployed (token scope: report-deployment).",
        description="Record on the request that it was deployed (or that deploying failed).",
    )  # fmt: skip
    _common(report, suppress=True)
    report.add_argument("request", help="The request's id or URL.")
    report.add_argument("--target", required=True, help="Where it was deployed, e.g. a cluster.")
    report.add_argument("--status", required=True, choices=("succeeded", "failed"))
    report.add_argument("--details", help="Free text or @FILE.")
    report.add_argument(
        "--link", help="A link to the deployment, e.g. the CI run (default in GitHub Actions: this run)."
    )
    report.set_defaults(handler=cmd_report_deployment)
    return parser


def _connect(args, out: Output) -> Client:
    url = (args.url or os.environ.get("GOVPORTAL_URL") or "").strip()
    token = (os.environ.get("GOVPORTAL_TOKEN") or "").strip()
    if not url:
        raise UsageError(
            "set GOVPORTAL_URL (or pass --url) to the portal's address, e.g. https://govportal.example.com"
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"GOVPORTAL_URL must be an http(s) address, not {url!r}.")
    if not token:
        raise UsageError("set GOVPORTAL_TOKEN to a service-account token (gpt_...); see the service account's page.")
    if parts.scheme == "http" and parts.hostname not in _LOCAL_HOSTS:
        out.warn(f"sending the token over plain HTTP to {parts.hostname}; use https.")
    return Client(url, token, log=out.warn)


def main(argv: list | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Output(json_mode=args.json, secrets=[os.environ.get("GOVPORTAL_TOKEN", "").strip()])
    try:
        ctx = Context(args, out, _connect(args, out))
        return args.handler(ctx)
    except ApiError as exc:
        out.problem(exc, args.command)
    except UsageError as exc:
        out.error(str(exc))
        out.document({"outcome": "error", "exit_code": EXIT_ERROR, "error": {"detail": str(exc)}})
    except KeyboardInterrupt:
        out.error("interrupted")
        return 130
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
