"""The audit trail over the API: events (cursor-paginated, the page's filters) and exports (start, status, file).

Reads are open to whoever may read the audit page, scoped the same way (a `read` token: its team's trail).
Exports need EXPORT_AUDIT, which no token scope grants: they are a person's act (an auditor, a team admin).
"""

import re

from django.core.exceptions import PermissionDenied
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response

from apps.accounts import permissions
from apps.audit import selectors
from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.core.api import CursorPagination

from ..exports import filters as export_filters
from ..exports import services
from ..models import AuditExport, ExportStatus
from . import filters
from .serializers import AuditEventOutput, AuditExportOutput, ExportStartInput

_SEQUENCE = re.compile(r"[0-9]{1,18}")


class InvalidCursor(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_cursor"
    default_detail = "The cursor is not one this API gave out: start again without it, then follow `next`."


class EventCursorPagination(CursorPagination):
    """Newest first; a malformed cursor is the client's mistake (400 `invalid_cursor`), not a missing page."""

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            raise InvalidCursor() from None
        # DRF trusts the decoded position; a forged non-number would reach the query as sequence < "x" (a 500).
        if cursor is not None and cursor.position is not None and not _SEQUENCE.fullmatch(cursor.position):
            raise InvalidCursor()
        return cursor


class CanReadAudit(BasePermission):
    message = "The audit trail is open to auditors and team admins."

    def has_permission(self, request, view):
        if permissions.can_view_audit(request.user):
            return True
        if getattr(request.user, "api_token", None) is not None:
            self.message = "Reading the audit trail needs a token with the `read` scope."
        return False


class NoTokenExports(BasePermission):
    """No token scope carries EXPORT_AUDIT (accounts.permissions), so a token is refused every export route."""

    message = (
        "API tokens cannot export the audit trail: an export is a person's act. "
        "Sign in as an auditor or team admin to export."
    )

    def has_permission(self, request, view):
        return permissions.token_allows(request.user, permissions.EXPORT_AUDIT)


@extend_schema_view(
    list=extend_schema(
        summary="Audit events, newest first",
        description="The audit page's filters; cursor pagination (follow `next`). Unknown or malformed filters → 400.",
        parameters=filters.PARAMETERS,
    ),
    retrieve=extend_schema(summary="One audit event with its hash and the previous event's hash"),
)
class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = AuditEventOutput
    permission_classes = [IsAuthenticated, CanReadAudit]
    pagination_class = EventCursorPagination
    filter_backends = []  # the page's filters, parsed by filters.parse()
    lookup_field = "sequence"
    lookup_value_regex = "[^/]+"  # any value reaches the view, so a bad one is a problem 404, not Django's HTML page

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return AuditEvent.objects.none()
        user = self.request.user
        if self.action == "list":
            return selectors.audit_event_list(user=user, **filters.parse(self.request).selector_kwargs())
        return selectors.audit_event_list(user=user)


_FILE = {(200, services.CONTENT_TYPES[ext].split(";")[0]): OpenApiTypes.BINARY for ext in ("csv", "jsonl", "pdf")}


class AuditExportViewSet(viewsets.GenericViewSet):
    serializer_class = AuditExportOutput
    lookup_value_regex = "[^/]+"
    permission_classes = [IsAuthenticated, NoTokenExports]
    pagination_class = None
    filter_backends = []

    def get_queryset(self):
        # As the export pages: your own exports; portal admins see everyone's.
        if getattr(self, "swagger_fake_view", False):
            return AuditExport.objects.none()
        return services.export_list(user=self.request.user)

    def perform_content_negotiation(self, request, force=False):
        # A file download may be asked for with `Accept: text/csv`; errors are still problem JSON.
        return super().perform_content_negotiation(request, force=force or self.action == "download")

    @extend_schema(
        summary="Start an export of the audit trail",
        description=(
            "Auditors and team admins, signed in (no token scope may export). Small exports are written at once "
            "(`status: done`); larger ones run in the background: poll `status_url`, then fetch `download_url`. "
            "Check a file offline with the verifier at /audit/verify_audit.py and the portal's key at "
            "/audit/public-key."
        ),
        request=ExportStartInput,
        responses={202: AuditExportOutput},
    )
    def create(self, request):
        if not permissions.may_export_audit(request.user):
            raise PermissionDenied("Only auditors and team admins can export the audit trail.")
        data = ExportStartInput(data=request.data)
        data.is_valid(raise_exception=True)
        fmt = data.validated_data["format"]
        audit_filters = export_filters.parse(data.filter_params(), user=request.user, for_export=True)
        export = services.export_start(actor=Actor.of(request.user), format=fmt, filters=audit_filters, stream=False)
        body = AuditExportOutput(export, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["status_url"]})

    @extend_schema(summary="An export's status (and its manifest once done)")
    def retrieve(self, request, pk=None):
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(summary="Download an export's file", operation_id="audit_exports_download", responses=_FILE)
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        export = self.get_object()
        if export.status != ExportStatus.DONE or export.streamed:
            raise exceptions.NotFound("This export has no file to download (still running, failed or expired).")
        path = services.file_path(export)
        if not path.exists():
            raise exceptions.NotFound("The export file is gone.")
        content_type = services.CONTENT_TYPES[services.EXTENSIONS[export.format]]
        return FileResponse(open(path, "rb"), as_attachment=True, filename=export.file_name, content_type=content_type)
