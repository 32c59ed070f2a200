"""The analytics admin: one module per screen, registered on import."""

from analytics.admin import events  # noqa: F401
