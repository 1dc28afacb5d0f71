from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("", views.team_list, name="team-list"),
    path("<slug:slug>/", views.team_detail, name="team-detail"),
    path("<slug:slug>/grant/", views.team_grant, name="team-grant"),
    path("<slug:slug>/revoke/<int:pk>/", views.team_revoke, name="team-revoke"),
]
