"""Deployment reports: CI tells the portal it deployed (or failed to deploy) an approved request.

No table of its own: the audit event on the request is the record, scoped to the request's
model, version and environment like every other event about it.
"""

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.accounts import permissions
from apps.audit.actions import Action
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.audit.services import record

from ..exceptions import ApprovalError
from ..models import DeploymentRequest, RequestState

STATUSES = ("succeeded", "failed")
MAX_TARGET, MAX_DETAILS, MAX_URL = 200, 2000, 1000


def _clean(target: str, status: str, details: str, url: str) -> tuple[str, str, str]:
    errors = {}
    target, details, url = (target or "").strip(), (details or "").strip(), (url or "").strip()
    if not target or len(target) > MAX_TARGET:
        errors["target"] = [f"Name where it was deployed (at most {MAX_TARGET} characters), e.g. a cluster."]
    if status not in STATUSES:
        errors["status"] = [f"The status is succeeded or failed, not {status!r}."]
    if len(details) > MAX_DETAILS:
        errors["details"] = [f"Keep the details under {MAX_DETAILS} characters."]
    parts = urlsplit(url) if url else None
    if parts is not None and (parts.scheme not in ("http", "https") or not parts.netloc or len(url) > MAX_URL):
        errors["url"] = [f"Give an http(s) link of at most {MAX_URL} characters, e.g. the CI run."]
    if errors:
        raise ValidationError(errors)
    return target, details, url


@transaction.atomic
def deployment_report(
    *, actor: Actor, request: DeploymentRequest, target: str, status: str, details: str = "", url: str = ""
) -> AuditEvent:
    """Record that the approved `request` was deployed to `target` (or failed to be): `deployment.reported`.

    Contributors and admins of the model's team, or a token with the report-deployment scope.
    Only an approved request can be reported: deploying anything else is what governance forbids.
    """
    target, details, url = _clean(target, status, details, url)
    request = DeploymentRequest.objects.select_for_update().select_related("version__model").get(pk=request.pk)
    permissions.require(
        actor.user, permissions.REPORT_DEPLOYMENT, request.version.model,
        f"You may not report deployments of {request.version.model.name}.",
    )  # fmt: skip
    if request.state != RequestState.APPROVED:
        raise ApprovalError(
            f"Request #{request.pk} is {request.get_state_display().lower()}, not approved: "
            "only an approved request can be deployed.", code="not_approved",
        )  # fmt: skip
    return record(action=Action.DEPLOYMENT_REPORTED, actor=actor, target=request, changes={
        "target": [None, target], "status": [None, status], "details": [None, details or None],
        "url": [None, url or None], "artifact_digest": [None, request.subject.get("artifact_digest") or None],
    })  # fmt: skip
