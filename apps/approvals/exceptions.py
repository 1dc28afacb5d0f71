from apps.core.exceptions import DomainError


class ApprovalError(DomainError):
    """A rule of the approval workflow refused the operation; `code` is stable for the API and the CLI."""

    code = "approval_error"
    status = 409


class ApprovalForbidden(ApprovalError):
    status = 403
