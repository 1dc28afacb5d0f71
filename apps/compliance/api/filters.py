"""The audit page's filters as query parameters: parsed by the very function the page and exports use."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from ..exports import filters as audit_filters

# Pagination, not filters: the cursor list reads them itself.
NOT_FILTERS = ("cursor", "page_size")


def parse(request) -> audit_filters.AuditFilters:
    """AuditFilters from the query string, with the page's rules.

    Unknown or malformed parameters raise ValidationError (→ 400 problem naming them); a team the caller may not
    read raises PermissionDenied (→ 403).
    """
    params = {key: value for key, value in request.query_params.items() if key not in NOT_FILTERS}
    return audit_filters.parse(params, user=request.user)


def _param(name: str, type_, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, type_, OpenApiParameter.QUERY, required=False, description=description)


PARAMETERS = [
    _param("actor", OpenApiTypes.STR, "Who acted: username, token label or system name (exact, any case)."),
    _param("action", OpenApiTypes.STR, "Action or prefix: `request.approved`, or `model.` for every model action."),
    _param("target", OpenApiTypes.STR, "Target type (`approvals.deploymentrequest`) or part of the target's label."),
    _param("team", OpenApiTypes.INT, "Team id (one you may audit)."),
    _param("model", OpenApiTypes.STR, "Registered model: its name (any case), slug or id."),
    _param("version", OpenApiTypes.STR, "Version name under `model` (`1.4.0`), or a model version id."),
    _param("environment", OpenApiTypes.INT, "Environment id."),
    _param("request", OpenApiTypes.INT, "Deployment request id."),
    _param("date_from", OpenApiTypes.DATE, "Since this UTC day (inclusive), YYYY-MM-DD."),
    _param("date_to", OpenApiTypes.DATE, "Until this UTC day (inclusive), YYYY-MM-DD."),
]
