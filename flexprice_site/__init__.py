"""The site: settings, URLs, the Celery app and site-wide plumbing."""

from flexprice_site.celery import app as celery_app

__all__ = ["celery_app"]
