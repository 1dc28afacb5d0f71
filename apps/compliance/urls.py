from django.urls import path

from . import export_views, views

# The namespace the audit pages have always had, so every {% url 'audit:...' %} still resolves.
app_name = "audit"

urlpatterns = [
    path("audit/", views.event_list, name="event-list"),
    path("audit/suggest/", views.suggest, name="suggest"),
    path("audit/<int:sequence>/", views.event_detail, name="event-detail"),
    path("audit/public-key", export_views.public_key, name="public-key"),
    path("audit/verify_audit.py", export_views.verifier, name="verifier"),
    path("audit/exports/", export_views.export_list, name="export-list"),
    path("audit/exports/start/", export_views.export_start, name="export-start"),
    path("audit/exports/<uuid:pk>/", export_views.export_detail, name="export-detail"),
    path("audit/exports/<uuid:pk>/download", export_views.export_download, name="export-download"),
    path("audit/exports/<uuid:pk>/manifest", export_views.export_manifest, name="export-manifest"),
    # Not under models/: inventory's "<slug>/..." patterns come first and would shadow it.
    path("dossiers/<slug:slug>/", export_views.model_dossier, name="dossier"),
]
