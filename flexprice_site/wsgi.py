"""WSGI entry point (gunicorn flexprice_site.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

from flexprice_site.runtime import tune_garbage_collection

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flexprice_site.settings")
application = get_wsgi_application()
tune_garbage_collection()
