from django.urls import path

from . import views

app_name = "inventory"

urlpatterns = [
    path("", views.model_list, name="model-list"),
    path("new/", views.model_create, name="model-create"),
    path("<slug:slug>/", views.model_detail, name="model-detail"),
    path("<slug:slug>/edit/", views.model_edit, name="model-edit"),
    path("<slug:slug>/lifecycle/", views.model_lifecycle, name="model-lifecycle"),
    path("<slug:slug>/share/", views.model_share, name="model-share"),
    path("<slug:slug>/versions/new/", views.version_create, name="version-create"),
    path("<slug:slug>/versions/<str:version>/", views.version_detail, name="version-detail"),
    path("<slug:slug>/versions/<str:version>/edit/", views.version_edit, name="version-edit"),
]
