from django.urls import path

from . import views

app_name = "approvals"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("requests/", views.request_list, name="request-list"),
    path("requests/<int:pk>/", views.request_detail, name="request-detail"),
    path("requests/<int:pk>/decide/", views.request_decide, name="request-decide"),
    path("requests/<int:pk>/cancel/", views.request_cancel, name="request-cancel"),
    path("requests/<int:pk>/submit/", views.request_submit, name="request-submit"),
    path("new/<int:version_id>/", views.request_create, name="request-create"),
    path("versions/<int:version_id>/requests/", views.version_requests, name="version-requests"),
    path("new/<int:version_id>/checks/", views.request_preview, name="request-preview"),
    path("policies/", views.policy_list, name="policy-list"),
    path("policies/new/", views.policy_edit, name="policy-create"),
    path("policies/<int:pk>/", views.policy_edit, name="policy-edit"),
]
