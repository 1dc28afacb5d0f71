from django.urls import path

from . import views

app_name = "hooks"

urlpatterns = [
    path("github/", views.github, name="github"),
]
