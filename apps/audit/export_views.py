"""Export pages: start an export (streamed, or run as a task with progress), download it, read its manifest."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_POST

from apps.accounts import permissions

from . import signing, tasks
from .actors import Actor
from .exports import filters as export_filters
from .exports import services
from .models import AuditExport, ExportFormat, ExportStatus

START_FORMATS = (ExportFormat.CSV, ExportFormat.JSONL, ExportFormat.PDF)


def _visible_exports(user):
    exports = AuditExport.objects.select_related("requested_by")
    return exports if permissions.is_portal_admin(user) else exports.filter(requested_by=user)


@login_required
@require_POST
def export_start(request):
    fmt = request.POST.get("format", "")
    params = {key: value for key, value in request.POST.items() if key not in ("format", "csrfmiddlewaretoken")}
    if fmt not in START_FORMATS:
        return _refuse(request, "Choose CSV, JSON Lines or PDF.", 400)
    if not permissions.may_export_audit(request.user):
        return _refuse(request, "Only auditors and team admins can export the audit trail.", 403)
    try:
        filters = export_filters.parse(params, user=request.user, for_export=True)
    except ValidationError as exc:
        return _refuse(request, "The export was not started: " + " ".join(exc.messages), 400)
    except PermissionDenied as exc:
        return _refuse(request, str(exc), 403)
    if fmt == ExportFormat.PDF:
        from .reports.compliance import MAX_EVENTS

        count = services.export_events(user=request.user, filters=filters).count()
        if count > MAX_EVENTS:
            return _refuse(request, f"{count:,} events are too many for a PDF report (at most {MAX_EVENTS:,}): "
                                    "narrow the filters, or export CSV or JSON Lines.", 400)  # fmt: skip
    export = services.export_start(actor=Actor.of(request.user), format=fmt, filters=filters)
    if export.streamed:
        response = StreamingHttpResponse(
            services.export_stream(export), content_type=services.CONTENT_TYPES[services.EXTENSIONS[fmt]]
        )
        response["Content-Disposition"] = f'attachment; filename="{services.file_name(export)}"'
        response["X-Export-Id"] = str(export.pk)
        response["Link"] = f'<{reverse("audit:export-manifest", args=[export.pk])}>; rel="describedby"'
        return response
    tasks.export_run_task.delay_on_commit(str(export.pk))
    messages.info(request, f"The {export.get_format_display()} export of {export.total:,} events is being prepared.")
    return redirect("audit:export-detail", pk=export.pk)


def _refuse(request, message: str, status: int):
    """Back on the audit page with the reason; nothing was exported and nothing recorded."""
    from .views import event_list

    messages.error(request, message)
    response = event_list(request, params=request.POST)
    response.status_code = status
    return response


@login_required
def export_list(request):
    exports = _visible_exports(request.user).order_by("-created_at")[:100]
    return render(request, "audit/export_list.html", {"exports": exports})


@login_required
def export_detail(request, pk):
    export = get_object_or_404(_visible_exports(request.user), pk=pk)
    template = (
        "audit/_export_status.html" if request.headers.get("HX-Request") == "true" else "audit/export_detail.html"
    )
    return render(request, template, {"export": export, "running": export.status == ExportStatus.RUNNING})


@login_required
@require_GET
def export_download(request, pk):
    export = get_object_or_404(_visible_exports(request.user), pk=pk)
    if export.status != ExportStatus.DONE or export.streamed:
        raise Http404("This export has no file to download (still running, streamed, failed or expired).")
    path = services.file_path(export)
    if not path.exists():
        raise Http404("The export file is gone.")
    return FileResponse(open(path, "rb"), as_attachment=True, filename=export.file_name,
                        content_type=services.CONTENT_TYPES[services.EXTENSIONS[export.format]])  # fmt: skip


@login_required
@require_GET
def export_manifest(request, pk):
    export = get_object_or_404(_visible_exports(request.user), pk=pk)
    if not export.manifest:
        raise Http404("The manifest is written when the export finishes.")
    response = JsonResponse({"manifest": export.manifest, "signature": export.signature},
                            json_dumps_params={"indent": 2, "sort_keys": True})  # fmt: skip
    response["Content-Disposition"] = f'attachment; filename="{export.manifest_file_name}"'
    return response


@require_GET
@cache_control(max_age=3600, public=True)
def public_key(request):
    """The portal's Ed25519 public key: anyone verifying an export offline needs it, so it is public."""
    response = HttpResponse(signing.public_key_pem(), content_type="application/x-pem-file")
    response["Content-Disposition"] = 'inline; filename="govportal-audit.pub"'
    response["X-Key-Id"] = signing.key_id()
    return response
