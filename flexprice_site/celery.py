"""The Celery app; configuration comes from Django settings (CELERY_* names)."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flexprice_site.settings")

app = Celery("flexprice_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _tune_worker(**kwargs: object) -> None:
    # Reports and rollups build as many objects as the web's analytics (flexprice_site.runtime).
    from flexprice_site.runtime import tune_garbage_collection

    tune_garbage_collection()
