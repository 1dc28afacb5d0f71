from django.urls import path

from . import export_views, views

app_name = "audit"

urlpatterns = [
    path("", views.event_list, name="event-list"),
    path("<int:sequence>/", views.event_detail, name="event-detail"),
    path("public-key", export_views.public_key, name="public-key"),
    path("exports/", export_views.export_list, name="export-list"),
    path("exports/start/", export_views.export_start, name="export-start"),
    path("exports/<uuid:pk>/", export_views.export_detail, name="export-detail"),
    path("exports/<uuid:pk>/download", export_views.export_download, name="export-download"),
    path("exports/<uuid:pk>/manifest", export_views.export_manifest, name="export-manifest"),
]
