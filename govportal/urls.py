from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from apps.accounts.views import LoginView, LogoutView
from apps.core.api import api_not_found
from apps.core.views import favicon, healthz

# Admin sign-in goes through the portal login, so it is audited like any other.
admin.site.login = login_required(admin.site.login)
admin.site.site_header = "GovPortal administration"
admin.site.site_title = "GovPortal admin"

# The REST API: each app's api/urls.py; the schema and its documentation (vendored assets, no CDN) beside it.
api_v1 = [
    path("", include("apps.inventory.api.urls")),
    path("", include("apps.approvals.api.urls")),
    path("", include("apps.gitsync.api.urls")),
    path("", include("apps.compliance.api.urls")),
    path("", include("apps.accounts.api.urls")),
    path("", include("apps.deployments.api.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view loads its init script from ?script= rather than inline: the Content-Security-Policy holds here too.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/swagger_ui.html"),
        name="api-docs",
    ),
    re_path(r"^api/", api_not_found),
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("teams/", include("apps.accounts.urls")),
    path("models/", include("apps.inventory.urls")),
    path("", include("apps.compliance.urls")),  # /audit/ and /dossiers/
    path("approvals/", include("apps.approvals.urls")),
    path("admin/", admin.site.urls),
    path("repositories/", include("apps.gitsync.urls")),
    path("deployments/", include("apps.deployments.urls")),
    path("hooks/", include("apps.hooks.urls")),
    path("", include("apps.dashboard.urls")),
]
