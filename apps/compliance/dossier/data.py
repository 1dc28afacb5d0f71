"""The dossier's contents: everything on record about one model, as a JSON-ready dict.

Reads inventory, approvals and the audit trail (compliance sits above them). Event history
entries carry every hashed field (the JSON Lines export's form), so each event's hash can be
recomputed from the dossier alone.
"""

from django.conf import settings
from django.db.models import Prefetch
from django.urls import reverse
from django.utils import timezone

from apps.approvals.models import Decision, DeploymentRequest, RequestStep
from apps.audit.actions import Action
from apps.audit.hashing import format_timestamp
from apps.audit.models import AuditEvent, ChainHead
from apps.compliance.exports import writer
from apps.compliance.models import AuditExport
from apps.deployments.selectors import model_deployments
from apps.inventory.models import AIActCategory, RegisteredModel

TITLE = "Model compliance dossier"
SECTIONS = (
    ("inventory_record", "Inventory record and ownership"),
    ("intended_use", "Intended use and limitations"),
    ("versions", "Versions"),
    ("validation", "Validation history"),
    ("deployment_requests", "Deployment requests and decisions"),
    ("current_deployments", "Current deployments"),
    ("event_history", "Event history"),
)
VALIDATION_FIELDS = ("validator", "last_validated_on", "next_validation_due", "lifecycle_status", "reason")


def _time(value) -> str | None:
    return format_timestamp(value) if value else None


def _person(user) -> dict | None:
    return {"username": user.username, "name": user.get_full_name() or user.username} if user else None


def _inventory_record(model: RegisteredModel) -> dict:
    portal = settings.PORTAL_BASE_URL.rstrip("/")
    return {
        "id": model.pk,
        "name": model.name,
        "slug": model.slug,
        "url": portal + reverse("inventory:model-detail", args=[model.slug]),
        "team": model.team.name,
        "owners": [_person(owner) for owner in model.owners.order_by("username")],
        "description": model.description,
        "risk_tier": model.risk_tier,
        "eu_ai_act_category": model.eu_ai_act_category,
        "eu_ai_act_category_label": AIActCategory(model.eu_ai_act_category).label,
        "lifecycle_status": model.lifecycle_status,
        "tags": sorted(tag.name for tag in model.tags.all()),
        "source_repository_url": model.source_repository_url,
        "source_path": model.source_path,
        "registered_at": _time(model.created_at),
        "registered_by": _person(model.created_by),
        "updated_at": _time(model.updated_at),
    }


def _versions(model: RegisteredModel) -> list[dict]:
    versions = model.versions.select_related("created_by", "parent__model").order_by("-created_at", "-pk")
    return [
        {
            "version": v.version,
            "created_at": _time(v.created_at),
            "created_by": _person(v.created_by),
            "source": v.source,
            "framework": v.framework,
            "artifact_uri": v.artifact_uri,
            "artifact_digest": v.artifact_digest,
            "git_commit_sha": v.git_commit_sha,
            "derived_from": str(v.parent) if v.parent_id else None,
            "metrics": v.metrics,
            "parameters": v.parameters,
            "training_data": v.training_data,
            "model_card": v.model_card,
        }
        for v in versions
    ]


def _validation(model: RegisteredModel, events: list[dict]) -> dict:
    history = []
    for event in events:
        action, changes = event["action"], event["changes"]
        if action in (Action.MODEL_LIFECYCLE_CHANGED, Action.MODEL_VALIDATED):
            kept = changes
        elif action in (Action.MODEL_REGISTERED, Action.MODEL_UPDATED):
            kept = {key: value for key, value in changes.items() if key in VALIDATION_FIELDS}
        else:
            continue
        if kept:
            history.append(
                {
                    "sequence": event["sequence"],
                    "timestamp": event["timestamp"],
                    "actor": event["actor_label"],
                    "action": action,
                    "changes": kept,
                }
            )
    return {
        "validator": _person(model.validator),
        "last_validated_on": model.last_validated_on.isoformat() if model.last_validated_on else None,
        "next_validation_due": model.next_validation_due.isoformat() if model.next_validation_due else None,
        "overdue": model.validation_overdue(),
        "history": history,
    }


def _requests(model: RegisteredModel) -> list:
    steps = RequestStep.objects.order_by("round", "order")
    decisions = Decision.objects.select_related("step").order_by("decided_at", "pk")
    return list(
        DeploymentRequest.objects.filter(model=model)
        .select_related("version", "environment", "requester")
        .prefetch_related(Prefetch("steps", queryset=steps), Prefetch("decisions", queryset=decisions))
        .order_by("-created_at", "-pk")
    )


def _request(request: DeploymentRequest) -> dict:
    policy = request.frozen_policy or {}
    return {
        "id": request.pk,
        "label": str(request),
        "version": request.version.version,
        "environment": request.environment.name,
        "state": request.state,
        "requester": _person(request.requester),
        "justification": request.justification,
        "created_at": _time(request.created_at),
        "submitted_at": _time(request.submitted_at),
        "closed_at": _time(request.closed_at),
        "expires_at": _time(request.expires_at),
        "policy": {"name": policy.get("name"), "revision": policy.get("revision")} if policy.get("name") else None,
        "artifact_digest": request.subject.get("artifact_digest"),
        "subject_hash": request.subject_hash,
        "checks": request.checks,
        "steps": [
            {
                "round": s.round,
                "order": s.order,
                "name": s.name,
                "quorum": s.quorum,
                "requires_signature": s.requires_signature,
                "state": s.state,
                "completed_at": _time(s.completed_at),
            }
            for s in request.steps.all()
        ],
        "decisions": [
            {
                "step": f"{d.step.order}. {d.step.name}",
                "round": d.step.round,
                "outcome": d.outcome,
                "meaning": d.meaning,
                "printed_name": d.printed_name,
                "username": d.username,
                "decided_at": _time(d.decided_at),
                "signed": d.signed,
                "signature_hash": d.signature_hash or None,
                "eligibility": d.eligibility,
                "comment": d.comment,
                "voided_at": _time(d.voided_at),
            }
            for d in request.decisions.all()
        ],
    }


def _current_deployments(model: RegisteredModel) -> list[dict]:
    """Per environment: the version last approved there, what the deployment targets report running now (since
    when), and the status that compares the two."""
    rows = []
    for cell in model_deployments(model=model):
        approved, state = cell.approved, cell.state
        rows.append({
            "environment": cell.environment.name,
            "status": "approved for" if approved else "not approved",
            "version": approved.version.version if approved else None,
            "artifact_digest": approved.subject.get("artifact_digest") if approved else None,
            "approved_at": _time(approved.closed_at) if approved else None,
            "request": approved.pk if approved else None,
            "running": [{"version": r.version_label, "target": r.target.name, "since": _time(r.started_at)}
                        for r in cell.running],
            "drift": {"status": state.status, "reason": state.reason, "since": _time(state.since)} if state else None,
        })  # fmt: skip
    return rows


def dossier_data(model: RegisteredModel, *, export: AuditExport | None = None) -> dict:
    """Everything about `model`, JSON-ready, under the keys of SECTIONS; events up to the chain head read now."""
    model = RegisteredModel.objects.select_related("team", "validator", "created_by").get(pk=model.pk)
    head = ChainHead.objects.filter(pk=1).first() or ChainHead()
    user = export.requested_by if export else None
    # The security events of its requests (failed signatures) only for a portal auditor's dossier.
    events_qs = AuditEvent.objects.filter(model_id=model.pk, sequence__lte=head.sequence).readable_by(user)
    rows = writer.rows(events_qs)
    events = [writer.jsonl_event(row) for row in rows]
    requests = _requests(model)
    return {
        "title": TITLE,
        "model": model.name,
        "export_id": str(export.pk) if export else None,
        "portal": settings.PORTAL_BASE_URL.rstrip("/"),
        "generated_at": format_timestamp(timezone.now()),
        "generated_by": _person(user),
        "chain_head": {"sequence": head.sequence, "hash": head.hash},
        "sections": [{"key": key, "heading": heading} for key, heading in SECTIONS],
        "inventory_record": _inventory_record(model),
        "intended_use": {"intended_use": model.intended_use, "limitations": model.limitations},
        "versions": _versions(model),
        "validation": _validation(model, events),
        "deployment_requests": [_request(request) for request in requests],
        "current_deployments": _current_deployments(model),
        "event_history": events,
    }
