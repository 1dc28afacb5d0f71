"""Audit events in words, beside their codes: "Rita Okafor approved step 1, Model risk review, with an e-signature".

SENTENCES has a rule for every action in the catalogue (actions.Action). A rule is a template that reads
`{actor}` (the actor's full name), `{target}` (the target's name) and `{new[field]}` / `{old[field]}` (a change's
value after and before), or a function of those words for the few that depend on a value. A rule that needs a
change the event does not hold falls back to GENERIC: the words never state what the record does not.
"""

import re

from django.contrib.auth import get_user_model

from apps.audit.actions import Action
from apps.audit.actors import ActorKind
from apps.audit.models import AuditEvent

GENERIC = "{actor} recorded {action} on {target}"


class _Values:
    """One side (0: before, 1: after) of an event's changes: `[field]` as text, or KeyError when not recorded."""

    def __init__(self, changes: dict, side: int):
        self.changes, self.side = changes or {}, side

    def get(self, field: str):
        pair = self.changes.get(field)
        return pair[self.side] if isinstance(pair, list | tuple) and len(pair) == 2 else None

    def __getitem__(self, field: str) -> str:
        value = self.get(field)
        if value in (None, "", []):
            raise KeyError(field)
        if isinstance(value, list):
            return ", ".join(str(item) for item in value)
        return str(value)


class Words:
    """What a rule may say about one event."""

    def __init__(self, event, actor: str):
        self.actor, self.target, self.action = actor, event.target_label or "—", event.action
        self.new, self.old = _Values(event.changes, 1), _Values(event.changes, 0)

    def format(self, template: str) -> str:
        return template.format(actor=self.actor, target=self.target, action=self.action, new=self.new, old=self.old)


def _step(text: str, first: str = "step") -> str:
    """ "1. Model risk review" (as requests record a step) → "step 1, Model risk review"."""
    match = re.fullmatch(r"(\d+)\. (.+)", text)
    return f"{first} {match[1]}, {match[2]}" if match else f"{first} {text}"


def _decision(w: Words) -> str:
    verb = {"approve": "approved", "reject": "rejected"}[w.new.get("outcome")]
    signed = "with an e-signature" if w.new.get("signed") else "without an e-signature"
    return f"{w.actor} {verb} {_step(w.new['step'])}, {signed}"


def _step_approved(w: Words) -> str:
    count = w.new.get("approvals")
    approvals = f" with {count} approval{'s' if count != 1 else ''}" if isinstance(count, int) else ""
    return f"{_step(w.new['step'], 'Step')}, of {w.target} was approved{approvals}"


def _request_approved(w: Words) -> str:
    if w.new.get("reason"):
        return f"{w.target} was approved without approval steps: {w.new['reason']}"
    return f"{w.target} was approved: every step reached its quorum"


def _submitted(w: Words) -> str:
    if w.new.get("policy"):
        return w.format("{actor} submitted {target} for approval under {new[policy]}")
    return f"{w.actor} submitted {w.target}; no approval policy governs its environment"


def _with_reason(template: str):
    def rule(w: Words) -> str:
        text = w.format(template)
        return f"{text}: {w.new['reason']}" if w.new.get("reason") else text

    return rule


def _exported(w: Words) -> str:
    complete = "" if w.new.get("complete") is not False else " (the download stopped before the end)"
    return w.format("{actor} exported {new[row_count]} events as {new[format]}") + complete


def _coalesced(template: str):
    def rule(w: Words) -> str:
        return w.format(template) + (" (already queued)" if w.new.get("coalesced") else "")

    return rule


SENTENCES = {
    # audit
    Action.AUDIT_EXPORTED: _exported,
    Action.AUDIT_CHECKPOINT_SIGNED: "{actor} signed a checkpoint of the audit trail",
    # accounts
    Action.USER_CREATED: "{actor} created the account {target}",
    Action.USER_UPDATED: "{actor} updated the account {target}",
    Action.USER_LOGGED_IN: "{actor} signed in",
    Action.USER_LOGIN_FAILED: "A sign-in as {target} failed",
    Action.USER_LOGIN_LOCKED: "Sign-in for {target} was locked after {new[failures]} failures",
    Action.USER_UNLOCKED: "{actor} unlocked sign-in for {target}",
    Action.USER_LOGGED_OUT: "{actor} signed out",
    Action.TEAM_CREATED: "{actor} created the team {target}",
    Action.TEAM_UPDATED: "{actor} updated the team {target}",
    Action.ROLE_GRANTED: "{actor} made {new[user]} {new[role]} of {new[team]}",
    Action.ROLE_CHANGED: "{actor} changed the role of {target} from {old[role]} to {new[role]}",
    Action.ROLE_REVOKED: "{actor} revoked the {old[role]} role of {old[user]} ({target})",
    Action.PERMISSION_GRANTED: "{actor} gave {new[user]} the {new[permission]} permission on {target}",
    Action.PERMISSION_REVOKED: "{actor} took the {old[permission]} permission on {target} from {old[user]}",
    Action.SERVICE_ACCOUNT_CREATED: "{actor} created the service account {new[username]} for {new[team]}",
    Action.TOKEN_CREATED: "{actor} issued the API token {new[name]} ({new[prefix]}) to {new[account]}",
    Action.TOKEN_REVOKED: "{actor} revoked the API token {new[prefix]} of {new[account]}",
    Action.CREDENTIAL_CREATED: "{actor} granted the credential {target}",
    Action.CREDENTIAL_UPDATED: "{actor} updated the credential {target}",
    # inventory
    Action.MODEL_REGISTERED: "{actor} registered the model {target}",
    Action.MODEL_UPDATED: "{actor} updated the model {target}",
    Action.MODEL_LIFECYCLE_CHANGED: "{actor} moved {target} from {old[lifecycle_status]} to {new[lifecycle_status]}",
    Action.MODEL_VALIDATED: "{actor} recorded a validation of {target}",
    Action.VERSION_CREATED: "{actor} registered the version {target}",
    Action.VERSION_UPDATED: "{actor} updated the version {target}",
    Action.ENVIRONMENT_CREATED: "{actor} created the environment {target}",
    Action.ENVIRONMENT_UPDATED: "{actor} updated the environment {target}",
    # approvals
    Action.POLICY_CREATED: "{actor} created the approval policy {target}",
    Action.POLICY_CHANGED: "{actor} changed the approval policy {target}",
    Action.REQUEST_CREATED: "{actor} drafted {target}",
    Action.REQUEST_SUBMITTED: _submitted,
    Action.REQUEST_STEP_OPENED: lambda w: f"{_step(w.new['step'], 'Step')}, of {w.target} opened for decisions",
    Action.REQUEST_STEP_APPROVED: _step_approved,
    Action.REQUEST_APPROVED: _request_approved,
    Action.REQUEST_REJECTED: "{actor} rejected {target} at the step {new[step]}",
    Action.REQUEST_CANCELLED: _with_reason("{actor} withdrew {target}"),
    Action.REQUEST_EXPIRED: "{target} expired before it was approved",
    Action.REQUEST_RESET: "{target} went back to draft: its artifact changed, and its decisions are void",
    Action.DECISION_RECORDED: _decision,
    Action.SIGNATURE_FAILED: "{actor}'s e-signature was refused (wrong password) on {target}",
    Action.DEPLOYMENT_REPORTED: "{actor} reported that deploying {target} to {new[target]} {new[status]}",
    # deployments
    Action.TARGET_CREATED: "{actor} added the deployment target {target}",
    Action.TARGET_UPDATED: "{actor} updated the deployment target {target}",
    Action.TARGET_OBSERVE_REQUESTED: _coalesced("{actor} asked to observe {target} now"),
    Action.DEPLOYMENT_OBSERVED: lambda w: f"{w.actor} observed {w.target}: {w.new['status'].replace('_', ' ')}",
    Action.DEPLOYMENT_DRIFT_DETECTED: _with_reason("{actor} detected drift on {target}"),
    Action.DEPLOYMENT_DRIFT_RESOLVED: "{actor} saw the drift on {target} resolved",
    Action.DEPLOYMENT_STARTED: "{actor} started deploying {new[version]} to {new[target]} (attempt {new[attempt]})",
    Action.DEPLOYMENT_SUCCEEDED: "{actor} deployed {new[version]} to {new[target]}",
    Action.DEPLOYMENT_FAILED: "{actor} failed to deploy {new[version]} to {new[target]}",
    Action.BREAK_GLASS_RECORDED: _with_reason(
        "{actor} recorded an emergency deployment of {new[model]} {new[version]} to {new[environment]}, {new[deployed]}"
    ),
    Action.BREAK_GLASS_POST_HOC: "Request #{new[request]} ({new[outcome]}) settles {target} after the fact",
    # gitsync
    Action.REPOSITORY_CREATED: "{actor} connected the Git repository {target}",
    Action.REPOSITORY_UPDATED: "{actor} updated the Git repository {target}",
    Action.REPOSITORY_SECRET_ROTATED: "{actor} rotated the webhook secret of {target}",
    Action.GIT_SYNC_REQUESTED: _coalesced("{actor} asked to sync {target} ({new[trigger]})"),
    Action.GIT_HISTORY_REWRITTEN: "{actor} found the history of {new[branch]} in {target} rewritten",
    Action.GIT_TAG_MOVED: "{actor} found the tag {new[tag]} in {target} moved to another commit",
    # hooks
    Action.WEBHOOK_REJECTED: "A GitHub {new[event]} delivery was rejected: {new[reason]}",
    Action.GITHUB_DEPLOYMENT_ANSWERED: "{actor} answered GitHub's deployment gate for {new[environment]}: {new[state]}",
}


def sentence(event, actor: str | None = None) -> str:
    """The event in words; `actor` is the actor's name as the reader should see it (default: the frozen label)."""
    words = Words(event, actor or event.actor_label)
    rule = SENTENCES.get(event.action)
    try:
        text = rule(words) if callable(rule) else words.format(rule) if rule else None
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        text = None
    return text or words.format(GENERIC)


def actor_names(events) -> dict:
    """{actor_id: user} of the people behind `events` (names as they are now): as the events were read with them
    (audit.selectors.as_table_rows), and the others in one query."""
    users, wanted = {}, set()
    for event in events:
        if event.actor_id and AuditEvent.actor.is_cached(event):
            users[event.actor_id] = event.actor  # None: the account is gone, and the label speaks for it
        elif event.actor_id:
            wanted.add(event.actor_id)
    if wanted - users.keys():
        found = (
            get_user_model().objects.filter(pk__in=wanted - users.keys()).only("username", "first_name", "last_name")
        )
        users.update((user.pk, user) for user in found)
    return {pk: user for pk, user in users.items() if user is not None}


def actor_name(event, users: dict) -> str:
    """The actor's full name, keeping what the label adds (a token's prefix); the label itself when none."""
    user = users.get(event.actor_id)
    if user is None or event.actor_kind == ActorKind.SYSTEM or not user.get_full_name():
        return event.actor_label
    username = user.get_username()
    rest = event.actor_label[len(username) :] if event.actor_label.startswith(username) else ""
    return user.get_full_name() + rest


def describe(events) -> list:
    """Set `actor_name` and `sentence` on each event (one query for every actor's name)."""
    events = list(events)
    users = actor_names(events)
    for event in events:
        event.actor_name = actor_name(event, users)
        event.sentence = sentence(event, event.actor_name)
    return events


# Context keys in the order and words an auditor reads them; anything else a task adds follows, as recorded.
CONTEXT_LABELS = {"request_id": "Request id", "source": "Source", "client_ip": "IP address",
                  "user_agent": "User agent"}  # fmt: skip


def context_rows(context: dict) -> list[tuple[str, object]]:
    known = [(label, context[key]) for key, label in CONTEXT_LABELS.items() if key in (context or {})]
    extra = [(key.replace("_", " ").capitalize(), value) for key, value in (context or {}).items()
             if key not in CONTEXT_LABELS]  # fmt: skip
    return known + extra
