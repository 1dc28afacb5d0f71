"""Export pages: start an export (streamed, or run as a task with progress), download it, read its manifest;
a model's dossier as a download."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_POST

from apps.accounts import permissions
from apps.audit import signing
from apps.audit.actors import Actor
from apps.inventory.selectors import registered_model_get

from . import dossier, pickers
from .exports import filters as export_filters
from .exports import services
from .models import ExportFormat, ExportStatus

START_FORMATS = (ExportFormat.CSV, ExportFormat.JSONL, ExportFormat.PDF)


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
    try:
        export = services.export_start(actor=Actor.of(request.user), format=fmt, filters=filters)
    except services.ExportTooLarge as exc:
        return _refuse(request, exc.message, exc.status)
    if export.streamed:
        response = StreamingHttpResponse(
            services.export_stream(export), content_type=services.CONTENT_TYPES[services.EXTENSIONS[fmt]]
        )
        response["Content-Disposition"] = f'attachment; filename="{services.file_name(export)}"'
        response["X-Export-Id"] = str(export.pk)
        response["Link"] = f'<{reverse("audit:export-manifest", args=[export.pk])}>; rel="describedby"'
        return response
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
    exports = list(services.export_list(user=request.user).order_by("-created_at")[:100])
    for export, filters in zip(exports, pickers.filter_labels(request.user, [e.filters for e in exports]), strict=True):
        export.filter_labels = filters
    return render(request, "compliance/export_list.html", {"exports": exports})


@login_required
def export_detail(request, pk):
    export = get_object_or_404(services.export_list(user=request.user), pk=pk)
    template = (
        "compliance/_export_status.html"
        if request.headers.get("HX-Request") == "true"
        else "compliance/export_detail.html"
    )
    context = {"export": export, "running": export.status == ExportStatus.RUNNING,
               "filters": pickers.filter_labels(request.user, [export.filters])[0]}  # fmt: skip
    return render(request, template, context)


@login_required
@require_GET
def export_download(request, pk):
    export = get_object_or_404(services.export_list(user=request.user), pk=pk)
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
    export = get_object_or_404(services.export_list(user=request.user), pk=pk)
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


# The verifier auditors run offline: a file of this repository at a fixed path, never one a request names.
VERIFIER = settings.BASE_DIR / "clients" / "verify_audit.py"


@require_GET
@cache_control(max_age=3600, public=True)
def verifier(request):
    """clients/verify_audit.py as a download: whoever checks an export offline needs it, and it holds no secret, so
    it is public, like the public key (an outside auditor has no account and no copy of the repository)."""
    response = HttpResponse(VERIFIER.read_bytes(), content_type="text/x-python; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="verify_audit.py"'
    return response


@login_required
@require_POST
def model_dossier(request, slug):
    """The model's compliance dossier as a download (PDF or JSON), recorded as an audit export.

    A model the user cannot see is a 404; one they see but may not export (not an auditor or
    admin of its team) is a 403, raised by the service.
    """
    model = registered_model_get(user=request.user, slug=slug)
    fmt = dossier.FORMATS.get(request.POST.get("format", ""))
    if fmt is None:
        return HttpResponseBadRequest("Choose format=pdf or format=json.")
    export = dossier.model_dossier_export(actor=Actor.of(request.user), model=model, format=fmt)
    response = FileResponse(
        open(services.file_path(export), "rb"),  # noqa: SIM115 — the response closes it once sent
        as_attachment=True,
        filename=export.file_name,
        content_type=services.CONTENT_TYPES[services.EXTENSIONS[export.format]],
    )
    response["X-Export-Id"] = str(export.pk)
    response["Link"] = f'<{reverse("audit:export-manifest", args=[export.pk])}>; rel="describedby"'
    return response
