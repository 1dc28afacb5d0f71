"""gitsync API routes, mounted under /api/v1/."""

from rest_framework.routers import SimpleRouter

from . import views

app_name = "gitsync-api"

router = SimpleRouter()
router.register("repositories", views.GitRepositoryViewSet, basename="repository")

urlpatterns = router.urls
