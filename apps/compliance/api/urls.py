"""The audit trail's API routes (events and exports), mounted under /api/v1/."""

from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("audit/events", views.AuditEventViewSet, basename="audit-event")
router.register("audit/exports", views.AuditExportViewSet, basename="audit-export")

urlpatterns = router.urls
