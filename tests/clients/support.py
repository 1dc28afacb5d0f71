"""Test furniture for the CLI: a fake portal (a stdlib HTTP server with scripted answers) and a CLI subprocess.

    portal.on("GET", "/api/v1/deployment-requests/7/", (503, problem(503, "down", "Down.")), (200, doc(...)))

Answers to one route are given in turn and the last one repeats; an answer may also be a function of the call.
Every call is recorded (method, path, query, headers, JSON body), so tests can check what the CLI sent.
"""

import json
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

CLIENTS = Path(__file__).resolve().parents[2] / "clients"
TOKEN = "gpt_abcd1234_" + "S3cr3t-t0ken-value_" * 2
MASKED = "gpt_abcd1234_****"


@dataclass
class Call:
    method: str
    path: str
    query: dict
    headers: dict
    body: object = None


@dataclass
class Route:
    answers: list = field(default_factory=list)
    served: int = 0


class FakePortal:
    def __init__(self):
        self.routes: dict[tuple[str, str], Route] = {}
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        portal = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _serve(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                call = Call(
                    method=self.command, path=parts.path, query=parse_qs(parts.query),
                    headers={key.lower(): value for key, value in self.headers.items()},
                    body=json.loads(raw) if raw else None,
                )  # fmt: skip
                status, body, headers = portal._answer(call)
                if isinstance(body, (dict, list)):
                    payload = json.dumps(body).encode()
                    kind = "application/problem+json" if status >= 400 else "application/json"
                else:
                    payload, kind = (body or "").encode(), "text/html"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def on(self, method, path, *answers):
        """Answer `method path` with these answers in turn: (status, body[, headers]) or a function of the Call."""
        with self.lock:
            self.routes[(method, path)] = Route(list(answers))
        return self

    def _answer(self, call):
        with self.lock:
            self.calls.append(call)
            route = self.routes.get((call.method, call.path))
            if route is None:
                return 404, problem(404, "not_found", f"No route {call.method} {call.path} in the fake."), {}
            answer = route.answers[min(route.served, len(route.answers) - 1)]
            route.served += 1
        if callable(answer):
            answer = answer(call)
        status, body, *rest = answer
        return status, body, (rest[0] if rest else {})

    def hits(self, method, path):
        with self.lock:
            return [call for call in self.calls if call.method == method and call.path == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# --- API documents, shaped like the portal's ------------------------------------------------------------------------


def problem(status, code, detail, errors=None):
    titles = {
        400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
        429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
    }  # fmt: skip
    body = {"type": "about:blank", "title": titles.get(status, "Error"), "status": status, "code": code}
    body["detail"] = detail
    if errors:
        body["errors"] = errors
    return body


def decision(id, approver, outcome="approve", comment="", signed=True):
    return {
        "id": id, "approver": approver, "printed_name": approver.title(), "outcome": outcome,
        "meaning": f"{'Approved' if outcome == 'approve' else 'Rejected'}", "comment": comment, "signed": signed,
        "at": "2026-01-01T10:00:00Z", "voided": False,
    }  # fmt: skip


def step(id, order, name, state, quorum=1, decisions=(), signed=True):
    return {
        "id": id, "order": order, "name": name, "state": state, "quorum": quorum, "needs_signature": signed,
        "due_at": None, "decisions": list(decisions),
    }  # fmt: skip


def doc(id=7, state="pending", steps=(), **extra):
    body = {
        "id": id, "url": f"https://portal.example/approvals/requests/{id}/", "state": state,
        "final": state not in ("draft", "pending"), "model": "retail-scorecard", "model_name": "Retail Scorecard",
        "version": "2.0.0", "environment": "production", "requester": "svc-ci", "justification": "Refresh.",
        "round": 1, "policy": "Production high risk", "policy_revision": 1, "artifact_digest": "a" * 64,
        "subject_hash": "b" * 64, "created_at": "2026-01-01T09:00:00Z", "submitted_at": "2026-01-01T09:00:00Z",
        "expires_at": None, "closed_at": None, "steps": list(steps), "checks": [],
    }  # fmt: skip
    return body | extra


REVIEW, SIGN_OFF = "Model risk review", "Business owner sign-off"
RITA, SAM, BO = decision(1, "rita"), decision(2, "sam"), decision(3, "bo")


def approval_story():
    """The request as four polls see it: created; one review; the review done; approved by the business owner."""
    return [
        doc(steps=[step(11, 1, REVIEW, "open", 2), step(12, 2, SIGN_OFF, "waiting")]),
        doc(steps=[step(11, 1, REVIEW, "open", 2, [RITA]), step(12, 2, SIGN_OFF, "waiting")]),
        doc(steps=[step(11, 1, REVIEW, "approved", 2, [RITA, SAM]), step(12, 2, SIGN_OFF, "open")]),
        doc(
            state="approved",
            steps=[step(11, 1, REVIEW, "approved", 2, [RITA, SAM]), step(12, 2, SIGN_OFF, "approved", 1, [BO])],
        ),
    ]


# --- the CLI as a subprocess -----------------------------------------------------------------------------------------


class Cli:
    """`python -m govportal_cli ...` from clients/, its stdout read line by line as it comes (for `expect`)."""

    def __init__(self, *args, url, token=TOKEN, env=None, python=sys.executable, flags=()):
        environment = {"PATH": os.environ.get("PATH", ""), "GOVPORTAL_URL": url, "GOVPORTAL_TOKEN": token}
        environment |= env or {}
        self.process = subprocess.Popen(
            [python, *flags, "-m", "govportal_cli", *args], cwd=CLIENTS, env=environment, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        self.lines: list[str] = []
        self._queue: queue.Queue = queue.Queue()
        self._stderr: list[str] = []
        self._threads = [
            threading.Thread(target=self._pump, args=(self.process.stdout, self._queue), daemon=True),
            threading.Thread(target=self._drain, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _pump(stream, into):
        for line in stream:
            into.put(line.rstrip("\n"))
        into.put(None)

    def _drain(self):
        for line in self.process.stderr:
            self._stderr.append(line)

    def expect(self, text, timeout=30):
        """Read stdout until a line containing `text`; that line. Fails, showing everything read, if it never comes."""
        end = time.monotonic() + timeout
        while True:
            remaining = end - time.monotonic()
            try:
                line = self._queue.get(timeout=max(0.01, remaining)) if remaining > 0 else None
            except queue.Empty:
                line = None
            if line is None:
                self.kill()
                raise AssertionError(f"never printed {text!r}; stdout:\n{self.stdout}\nstderr:\n{self.stderr}")
            self.lines.append(line)
            if text in line:
                return line

    def wait(self, timeout=60):
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            message = f"still running after {timeout}s; stdout:\n{self.stdout}\nstderr:\n{self.stderr}"
            raise AssertionError(message) from None
        for thread in self._threads:
            thread.join(timeout=10)
        while True:  # the rest of stdout
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.lines.append(line)
        return code

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    @property
    def stdout(self):
        return "\n".join(self.lines)

    @property
    def stderr(self):
        return "".join(self._stderr)
