"""Every write of the approvals app. Re-exported here so callers import `apps.approvals.services`."""

from .decisions import deployment_request_decide
from .policies import policy_save
from .requests import (
    deployment_request_cancel,
    deployment_request_create,
    deployment_request_expire,
    deployment_request_expire_due,
    deployment_request_reset_for_version_change,
    deployment_request_submit,
    preview_checks,
    request_deployment,
)

__all__ = [
    "deployment_request_cancel",
    "deployment_request_create",
    "deployment_request_decide",
    "deployment_request_expire",
    "deployment_request_expire_due",
    "deployment_request_reset_for_version_change",
    "deployment_request_submit",
    "policy_save",
    "preview_checks",
    "request_deployment",
]
