from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo loader (`manage.py load_demo`): writes only through the other apps' services."""

    name = "apps.demo"
    label = "demo"
    verbose_name = "Demo data"
