from django.urls import path

from . import views

app_name = "deployments"

urlpatterns = [
    path("", views.matrix, name="matrix"),
    path("targets/", views.target_list, name="target-list"),
    path("targets/<int:pk>/", views.target_detail, name="target-detail"),
    path("targets/<int:pk>/observe/", views.target_observe, name="target-observe"),
    path("models/<slug:slug>/at/", views.point_in_time, name="point-in-time"),
    path("break-glass/", views.break_glass_list, name="break-glass"),
    path("break-glass/new/", views.break_glass_new, name="break-glass-new"),
]
