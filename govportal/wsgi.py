import os

from django.core.wsgi import get_wsgi_application

from govportal import collector

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govportal.settings")
application = get_wsgi_application()
collector.tune()  # after loading Django, the apps and their views: what they hold is never scanned again
