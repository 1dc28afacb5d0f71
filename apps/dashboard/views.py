from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import FileResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from apps.accounts import permissions
from apps.audit import links
from apps.audit.actors import Actor
from apps.audit.exports import services as exports
from apps.audit.selectors import audit_event_list, audit_event_list_for_models
from apps.inventory.models import Lifecycle, RegisteredModel
from apps.inventory.selectors import registered_model_get

from . import dossier


@login_required
def home(request):
    """What needs attention: models by risk and status, overdue validations, recent activity."""
    visible = RegisteredModel.objects.restrict(request.user)
    today = timezone.localdate()
    counts = visible.aggregate(
        total=Count("pk"),
        production=Count("pk", filter=Q(lifecycle_status=Lifecycle.PRODUCTION)),
        high_risk=Count("pk", filter=Q(risk_tier__in=["high", "critical"])),
        overdue=Count("pk", filter=Q(next_validation_due__lt=today) & ~Q(lifecycle_status=Lifecycle.RETIRED)),
    )
    overdue = (
        visible.filter(next_validation_due__lt=today)
        .exclude(lifecycle_status=Lifecycle.RETIRED)
        .select_related("team")
        .order_by("next_validation_due")[:10]
    )
    if permissions.can_view_audit(request.user):
        recent = audit_event_list(user=request.user)[:10]
    else:  # everyone sees what happened to the models they can see
        recent = audit_event_list_for_models(model_ids=visible.values("pk"), user=request.user)[:10]
    recent = links.attach_target_urls(recent)
    return render(request, "dashboard/home.html", {"counts": counts, "overdue": overdue, "recent": recent})


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
