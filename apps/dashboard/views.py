from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import render
from django.utils import timezone

from apps.accounts import permissions
from apps.audit import links
from apps.audit.selectors import audit_event_list, audit_event_list_for_models
from apps.inventory.models import Lifecycle, RegisteredModel


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
        recent = audit_event_list_for_models(model_ids=visible.values("pk"))[:10]
    recent = links.attach_target_urls(recent)
    return render(request, "dashboard/home.html", {"counts": counts, "overdue": overdue, "recent": recent})
