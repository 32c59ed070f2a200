"""Site-wide periodic tasks."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

logger = logging.getLogger(__name__)


@shared_task(name="flexprice_site.tasks.heartbeat", ignore_result=True)
def heartbeat() -> str:
    """Proves beat → broker → worker works: beat sends it, the worker logs it."""
    message = f"heartbeat ok at {timezone.now().isoformat()}"
    logger.info(message)
    return message
