"""inventory API routes, mounted under /api/v1/."""

from rest_framework.routers import SimpleRouter

from . import views

app_name = "inventory-api"

# Lookups take any segment (not only valid slugs and versions): a malformed one is the API's 404 problem document,
# not Django's HTML "Not Found" page.
router = SimpleRouter()
router.register("models", views.RegisteredModelViewSet, basename="model")
router.register(r"models/(?P<model_slug>[^/]+)/versions", views.ModelVersionViewSet, basename="model-version")
router.register("environments", views.EnvironmentViewSet, basename="environment")

urlpatterns = router.urls
