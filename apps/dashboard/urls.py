from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("", views.home, name="home"),
    # Not under models/: inventory's "<slug>/..." patterns come first and would shadow it.
    path("dossiers/<slug:slug>/", views.model_dossier, name="dossier"),
]
