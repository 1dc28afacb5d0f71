"""approvals API routes, mounted under /api/v1/."""

from rest_framework.routers import SimpleRouter

from .views import DeploymentRequestViewSet

router = SimpleRouter()
router.register("deployment-requests", DeploymentRequestViewSet, basename="deployment-request")

urlpatterns = router.urls
