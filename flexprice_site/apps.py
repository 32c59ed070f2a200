from django.apps import AppConfig


class FlexpriceSiteConfig(AppConfig):
    name = "flexprice_site"
    verbose_name = "Tenancy and access"

    def ready(self) -> None:
        # Registers the x-api-key scheme with drf-spectacular.
        from flexprice_site import schema  # noqa: F401
