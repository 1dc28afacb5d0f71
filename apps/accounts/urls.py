from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("", views.team_list, name="team-list"),
    path("<slug:slug>/", views.team_detail, name="team-detail"),
    path("<slug:slug>/grant/", views.team_grant, name="team-grant"),
    path("<slug:slug>/revoke/<int:pk>/", views.team_revoke, name="team-revoke"),
    path("<slug:slug>/service-accounts/add/", views.service_account_create, name="service-account-create"),
    path(
        "<slug:slug>/service-accounts/<int:pk>/tokens/add/",
        views.service_account_token_create,
        name="service-account-token-create",
    ),
    path(
        "<slug:slug>/service-accounts/<int:pk>/tokens/<int:token_pk>/",
        views.service_account_token_issued,
        name="service-account-token-issued",
    ),
    path(
        "<slug:slug>/service-accounts/<int:pk>/tokens/<int:token_pk>/revoke/",
        views.service_account_token_revoke,
        name="service-account-token-revoke",
    ),
]
