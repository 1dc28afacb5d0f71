from django.urls import path

from . import views

app_name = "gitsync"

urlpatterns = [
    path("", views.repository_list, name="repository-list"),
    path("new/", views.repository_create, name="repository-new"),
    path("<int:pk>/", views.repository_detail, name="repository-detail"),
    path("<int:pk>/edit/", views.repository_edit, name="repository-edit"),
    path("<int:pk>/sync/", views.repository_sync, name="repository-sync"),
    path("<int:pk>/rotate-secret/", views.repository_rotate_secret, name="repository-rotate-secret"),
]
