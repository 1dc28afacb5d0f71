import os

from django.core.asgi import get_asgi_application

from govportal import collector

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govportal.settings")
application = get_asgi_application()
collector.tune()  # as in wsgi.py
