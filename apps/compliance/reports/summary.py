"""The compliance report's summary tables, derived from the exported events alone (audit reads no other app).

Request events carry the request's frozen label, "Request #12: Retail Scorecard 1.1.0 → production",
which names the request, what was requested and the environment; decision events carry the
signature manifestation (printed name, meaning, time, signature hash) in their changes.
"""

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from apps.audit.actions import Action
from apps.audit.actors import ActorKind

from ..exports import writer
from . import pdf

CLOSING = {Action.REQUEST_APPROVED: "approved", Action.REQUEST_REJECTED: "rejected",
           Action.REQUEST_CANCELLED: "cancelled", Action.REQUEST_EXPIRED: "expired"}  # fmt: skip
OUTCOMES = tuple(CLOSING.values())
SUMMARY_ACTIONS = (*CLOSING, Action.REQUEST_SUBMITTED, Action.REQUEST_RESET, Action.DECISION_RECORDED,
                   Action.MODEL_LIFECYCLE_CHANGED, Action.BREAK_GLASS_RECORDED,
                   Action.BREAK_GLASS_POST_HOC)  # fmt: skip
REQUEST_LABEL = re.compile(r"^Request #(?P<id>\d+): (?P<subject>.*) → (?P<environment>[^→]+)$")
EVENT_COLUMNS = ("sequence", "timestamp", "actor_label", "actor_kind", "action", "target_type", "target_id",
                 "target_label", "environment_id", "request_id", "changes")  # fmt: skip
_KINDS = dict(ActorKind.CHOICES)

# (heading, relative width[, font]): each table is stretched to the page.
UNAPPROVED_COLUMNS = (("Request", 45), ("Model and version", 150), ("Environment", 80), ("Outcome", 60),
                      ("Closed (UTC)", 90), ("By", 80), ("Reason", 200))  # fmt: skip
DECISION_COLUMNS = (("Request", 45), ("Step", 95), ("Outcome", 45), ("Meaning", 120), ("Printed name", 90),
                    ("Username", 65), ("Signed at (UTC)", 90), ("Signature hash (SHA-256)", 150, pdf.MONO))  # fmt: skip
APPROVED_COLUMNS = (("Request", 45), ("Model and version", 150), ("Environment", 80), ("Approved (UTC)", 90),
                    ("Final decision by", 80), ("Policy", 130), ("Artifact SHA-256", 150, pdf.MONO))  # fmt: skip
LIFECYCLE_COLUMNS = (("Model", 150), ("From → to", 130), ("Reason", 260), ("By", 90), ("When (UTC)", 95))
BREAK_GLASS_COLUMNS = (("Record", 45), ("Model and version", 140), ("Environment", 80), ("Recorded (UTC)", 90),
                       ("By", 75), ("Deployed", 70), ("Reason", 200), ("Post-hoc approval", 120))  # fmt: skip


def new_value(changes: dict, key: str):
    """The new side of a {field: [old, new]} change."""
    value = (changes or {}).get(key)
    return value[1] if isinstance(value, list) and len(value) == 2 else value


def actor_text(row: dict) -> str:
    """The actor's label, with its kind when it is not a person ("git-sync (system)")."""
    kind = row["actor_kind"]
    return row["actor_label"] if kind == ActorKind.USER else f"{row['actor_label']} ({_KINDS[kind].lower()})"


@dataclass
class Summary:
    """The rows of the summary tables, gathered in one pass over the summary actions, oldest first."""

    environment_labels: dict = field(default_factory=dict)  # environment id → name, for unlabelled requests
    outcomes: Counter = field(default_factory=Counter)  # (environment, outcome) → closed requests
    unapproved: list = field(default_factory=list)
    decisions: list = field(default_factory=list)
    approved: list = field(default_factory=list)
    lifecycle: list = field(default_factory=list)
    break_glass: dict = field(default_factory=dict)  # record id → its row; the post-hoc outcome is filled in later
    _submitted: dict = field(default_factory=dict)  # request id → (artifact digest, policy) of its last submission
    _live: dict = field(default_factory=lambda: defaultdict(list))  # request id → decisions since its last reset

    @classmethod
    def collect(cls, events, environment_labels: dict) -> "Summary":
        summary = cls(environment_labels=environment_labels)
        rows = events.filter(action__in=SUMMARY_ACTIONS).order_by("sequence").values(*EVENT_COLUMNS)
        for row in rows.iterator(chunk_size=writer.CHUNK):
            summary.add(row)
        return summary

    def add(self, row: dict) -> None:
        action, changes = row["action"], row["changes"]
        if action == Action.REQUEST_SUBMITTED:
            self._submitted[row["request_id"]] = (new_value(changes, "artifact_digest"), new_value(changes, "policy"))
        elif action == Action.REQUEST_RESET:  # the artifact changed: the round's decisions are void
            for decision in self._live.pop(row["request_id"], []):
                decision[3] += f"\nvoided {pdf.utc(row['timestamp'])}: the artifact changed"
        elif action in CLOSING:
            self._closed(row, CLOSING[action])
        elif action == Action.DECISION_RECORDED:
            self._decided(row)
        elif action == Action.BREAK_GLASS_RECORDED:
            subject = f"{new_value(changes, 'model') or '—'} {new_value(changes, 'version') or ''}".strip()
            self.break_glass[row["target_id"]] = [
                f"#{row['target_id']}", subject, new_value(changes, "environment") or "—", pdf.utc(row["timestamp"]),
                actor_text(row), new_value(changes, "deployed") or "—", new_value(changes, "reason") or "—",
                "none yet: open",
            ]  # fmt: skip
        elif action == Action.BREAK_GLASS_POST_HOC and row["target_id"] in self.break_glass:
            outcome, request = new_value(changes, "outcome"), new_value(changes, "request")
            state = "closed" if outcome == "approved" else "still open"
            self.break_glass[row["target_id"]][7] = f"request #{request} {outcome} {pdf.utc(row['timestamp'])}: {state}"
        elif action == Action.MODEL_LIFECYCLE_CHANGED:
            old, new = (changes.get("lifecycle_status") or [None, None])[:2]
            reason = new_value(changes, "reason") or "—"
            when = pdf.utc(row["timestamp"])
            self.lifecycle.append([row["target_label"], f"{old or '—'} → {new or '—'}", reason, actor_text(row), when])

    def _request(self, row: dict) -> tuple[str, str, str]:
        """(request, what was requested, environment) from the request's label."""
        match = REQUEST_LABEL.match(row["target_label"] or "")
        if match:
            return f"#{match['id']}", match["subject"], match["environment"].strip()
        environment = self.environment_labels.get(str(row["environment_id"]), "unknown")
        return row["target_label"], row["target_label"], environment

    def _closed(self, row: dict, outcome: str) -> None:
        request, subject, environment = self._request(row)
        changes, when = row["changes"], pdf.utc(row["timestamp"])
        self.outcomes[environment, outcome] += 1
        if outcome == "approved":
            digest, policy = self._submitted.get(row["request_id"], (None, None))
            policy = policy or new_value(changes, "reason") or "—"
            self.approved.append([request, subject, environment, when, actor_text(row), policy, digest or "—"])
            return
        if outcome == "expired":
            reason = f"expiry was {pdf.utc(new_value(changes, 'expires_at'))}"
        elif new_value(changes, "step"):
            reason = f"at step {new_value(changes, 'step')}"
        else:
            reason = new_value(changes, "reason") or "—"
        self.unapproved.append([request, subject, environment, outcome, when, actor_text(row), reason])

    def _decided(self, row: dict) -> None:
        changes = row["changes"]
        request = self._request(row)[0]
        signed = bool(new_value(changes, "signed"))
        decision = [
            request, new_value(changes, "step") or "—", new_value(changes, "outcome") or "—",
            new_value(changes, "meaning") or "—", new_value(changes, "printed_name") or "—", row["actor_label"],
            pdf.utc(new_value(changes, "decided_at") or row["timestamp"]),
            new_value(changes, "signature_hash") if signed else "not signed",
        ]  # fmt: skip
        self.decisions.append(decision)
        self._live[row["request_id"]].append(decision)

    def outcome_rows(self) -> list[list]:
        """Closed requests by environment and outcome, with a total row."""
        environments = sorted({environment for environment, _ in self.outcomes})
        rows = [[env, *(self.outcomes[env, o] for o in OUTCOMES)] for env in environments]
        rows = [[*row, sum(row[1:])] for row in rows]
        if rows:
            rows.append(["Total", *(sum(row[i] for row in rows) for i in range(1, len(OUTCOMES) + 2))])
        return rows


def _section(title: str, intro: str, spec, rows: list, width: float, empty: str) -> list:
    story = [pdf.para(title, "h1"), pdf.para(intro, "small")]
    return [*story, pdf.table(pdf.make_columns(spec, width), rows) if rows else pdf.para(empty)]


def sections(summary: Summary, width: float) -> list:
    """Sections 1 to 4 of the report."""
    story = [
        pdf.para("1. Deployment requests by outcome and environment", "h1"),
        pdf.para("Requests closed in this report, counted from their closing events (request.approved, "
                 "request.rejected, request.cancelled, request.expired). Requests still open are not counted.",
                 "small"),
    ]  # fmt: skip
    outcome_rows = summary.outcome_rows()
    if outcome_rows:
        counts = ((outcome.title(), 80, pdf.FONT, 1, "RIGHT") for outcome in (*OUTCOMES, "total"))
        story.append(pdf.table(pdf.make_columns((("Environment", 160), *counts), width * 0.6), outcome_rows,
                               total_row=True))  # fmt: skip
    else:
        story.append(pdf.para("No deployment request was closed in this report's scope."))
    if summary.unapproved:
        story += [pdf.para("Requests closed without approval", "h2"),
                  pdf.table(pdf.make_columns(UNAPPROVED_COLUMNS, width), summary.unapproved)]  # fmt: skip
    story += _section(
        "2. Approvals and signature manifestations",
        "Every decision recorded (decision.recorded). A signed decision carries its manifestation: the signer's "
        "printed name and username, the time and the meaning of the signature; its signature hash binds it to "
        "exactly what was approved (model, version, artifact digest, environment).",
        DECISION_COLUMNS, summary.decisions, width, "No decision was recorded in this report's scope.",
    )  # fmt: skip
    story += _section(
        "3. Deployments approved",
        "Requests approved in this report (request.approved): what was approved for which environment, when, and "
        "by whose final decision. The policy and artifact digest come from the request's submission event when it "
        "is in the report.",
        APPROVED_COLUMNS, summary.approved, width, "No deployment was approved in this report's scope.",
    )  # fmt: skip
    story += _section(
        "4. Lifecycle changes",
        "Models moved between development, validation, production and retired (model.lifecycle_changed), with "
        "the reason given.",
        LIFECYCLE_COLUMNS, summary.lifecycle, width, "No lifecycle change in this report's scope.",
    )  # fmt: skip
    story += _section(
        "5. Emergency (break-glass) deployments",
        "Deployments a portal administrator recorded without an approval (deployment.break_glass), with the reason "
        "given and the outcome of the post-hoc request for the same version and environment "
        "(deployment.break_glass_post_hoc). Each stays open until a post-hoc request is approved.",
        BREAK_GLASS_COLUMNS, list(summary.break_glass.values()), width,
        "No emergency deployment in this report's scope.",
    )  # fmt: skip
    return story
