"""The catalogue of audit actions: adding one is a visible one-line diff."""

from enum import StrEnum


class Action(StrEnum):
    # audit
    AUDIT_EXPORTED = "audit.exported"
    AUDIT_CHECKPOINT_SIGNED = "audit.checkpoint_signed"
    # accounts
    USER_CREATED = "user.created"
    USER_UPDATED = "user.updated"
    USER_LOGGED_IN = "user.logged_in"
    USER_LOGIN_FAILED = "user.login_failed"
    USER_LOGIN_LOCKED = "user.login_locked"
    USER_UNLOCKED = "user.unlocked"
    USER_LOGGED_OUT = "user.logged_out"
    TEAM_CREATED = "team.created"
    TEAM_UPDATED = "team.updated"
    ROLE_GRANTED = "role.granted"
    ROLE_CHANGED = "role.changed"
    ROLE_REVOKED = "role.revoked"
    PERMISSION_GRANTED = "permission.granted"
    PERMISSION_REVOKED = "permission.revoked"
    SERVICE_ACCOUNT_CREATED = "service_account.created"
    TOKEN_CREATED = "token.created"  # noqa: S105 — an action name
    TOKEN_REVOKED = "token.revoked"  # noqa: S105 — an action name
    CREDENTIAL_CREATED = "credential.created"
    CREDENTIAL_UPDATED = "credential.updated"
    # inventory
    MODEL_REGISTERED = "model.registered"
    MODEL_UPDATED = "model.updated"
    MODEL_LIFECYCLE_CHANGED = "model.lifecycle_changed"
    MODEL_VALIDATED = "model.validated"
    VERSION_CREATED = "version.created"
    VERSION_UPDATED = "version.updated"
    ENVIRONMENT_CREATED = "environment.created"
    ENVIRONMENT_UPDATED = "environment.updated"
    # approvals
    POLICY_CREATED = "policy.created"
    POLICY_CHANGED = "policy.changed"
    REQUEST_CREATED = "request.created"
    REQUEST_SUBMITTED = "request.submitted"
    REQUEST_STEP_OPENED = "request.step_opened"
    REQUEST_STEP_APPROVED = "request.step_approved"
    REQUEST_APPROVED = "request.approved"
    REQUEST_REJECTED = "request.rejected"
    REQUEST_CANCELLED = "request.cancelled"
    REQUEST_EXPIRED = "request.expired"
    REQUEST_RESET = "request.reset_to_draft"
    DECISION_RECORDED = "decision.recorded"
    SIGNATURE_FAILED = "signature.failed"
    DEPLOYMENT_REPORTED = "deployment.reported"
    # deployments
    TARGET_CREATED = "target.created"
    TARGET_UPDATED = "target.updated"
    TARGET_OBSERVE_REQUESTED = "target.observe_requested"
    DEPLOYMENT_OBSERVED = "deployment.observed"
    DEPLOYMENT_DRIFT_DETECTED = "deployment.drift_detected"
    DEPLOYMENT_DRIFT_RESOLVED = "deployment.drift_resolved"
    DEPLOYMENT_STARTED = "deployment.started"
    DEPLOYMENT_SUCCEEDED = "deployment.succeeded"
    DEPLOYMENT_FAILED = "deployment.failed"
    BREAK_GLASS_RECORDED = "deployment.break_glass"
    BREAK_GLASS_POST_HOC = "deployment.break_glass_post_hoc"
    # gitsync
    REPOSITORY_CREATED = "repository.created"
    REPOSITORY_UPDATED = "repository.updated"
    REPOSITORY_SECRET_ROTATED = "repository.webhook_secret_rotated"  # noqa: S105 — an action name
    GIT_SYNC_REQUESTED = "git.sync_requested"
    GIT_HISTORY_REWRITTEN = "git.history_rewritten"
    GIT_TAG_MOVED = "git.tag_moved"
    # hooks
    WEBHOOK_REJECTED = "webhook.rejected"
    GITHUB_DEPLOYMENT_ANSWERED = "github.deployment_answered"


# Portal-wide security events: sign-ins and their failures, failed or locked e-signatures, rejected webhooks.
# Only portal auditors and superusers read them (accounts.permissions.may_read_security_events decides): not team
# admins or team auditors, and not on the model, version and request histories shown to everyone who sees those.
SECURITY_ACTIONS: frozenset[str] = frozenset(
    {
        Action.USER_LOGGED_IN,
        Action.USER_LOGIN_FAILED,
        Action.USER_LOGGED_OUT,
        Action.USER_LOGIN_LOCKED,
        Action.USER_UNLOCKED,
        Action.SIGNATURE_FAILED,
        Action.WEBHOOK_REJECTED,
        # Which secrets exist, where workers read them and which hosts get them: portal-wide, for portal auditors.
        Action.CREDENTIAL_CREATED,
        Action.CREDENTIAL_UPDATED,
    }
)
