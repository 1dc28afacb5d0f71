"""deployments API routes, mounted under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import views

app_name = "deployments-api"

router = SimpleRouter()
router.register("deployments/targets", views.DeploymentTargetViewSet, basename="target")
router.register("deployments/observations", views.ObservationViewSet, basename="observation")
router.register("deployments/statuses", views.DriftStateViewSet, basename="status")

urlpatterns = [
    path("deployments/at", views.PointInTimeView.as_view(), name="at"),
    *router.urls,
]
