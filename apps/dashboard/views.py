from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.audit.actors import Actor
from apps.audit.exports import services as exports
from apps.inventory.selectors import registered_model_get

from . import dossier, selectors


@login_required
def home(request):
    """What the signed-in person must act on first, then the state of things: only what they may see."""
    return render(request, "dashboard/home.html", selectors.home_page(user=request.user))


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
    extension = exports.EXTENSIONS[export.format]
    response = FileResponse(
        open(exports.file_path(export), "rb"),  # noqa: SIM115 — the response closes it once sent
        as_attachment=True,
        filename=export.file_name,
        content_type=exports.CONTENT_TYPES[extension],
    )
    response["X-Export-Id"] = str(export.pk)
    response["Link"] = f'<{reverse("audit:export-manifest", args=[export.pk])}>; rel="describedby"'
    return response
