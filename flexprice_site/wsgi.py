"""WSGI entry point (gunicorn flexprice_site.wsgi)."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flexprice_site.settings")
application = get_wsgi_application()

# The cyclic garbage collector ran every 700 allocations and walked everything loaded at start
# (Django, the apps, the URLs): ~120 ms of a tenant-wide analytics request that builds some
# 100k objects. What is loaded by now lives as long as the process: set it aside (freeze),
# and collect the young generation every 50,000 allocations instead of 700. Reference
# counting still frees everything without cycles at once.
gc.freeze()
gc.set_threshold(50_000, 10, 10)
