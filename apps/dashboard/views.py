from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import render
from django.utils import timezone

from apps.audit import links
from apps.audit.selectors import audit_event_list
from apps.inventory.models import Lifecycle, RegisteredModel


@login_required
def home(request):
    """What needs attention: models by risk and status, overdue validations, recent activity."""
    visible = RegisteredModel.objects.restrict(request.user)
    today = timezone.now().date()
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
    recent = links.attach_target_urls(audit_event_list(user=request.user)[:10])
    return render(request, "dashboard/home.html", {"counts": counts, "overdue": overdue, "recent": recent})
