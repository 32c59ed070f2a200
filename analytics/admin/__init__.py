"""The analytics admin: one module per screen, registered on import."""

from analytics.admin import dashboard, events, reports, rollups  # noqa: F401
