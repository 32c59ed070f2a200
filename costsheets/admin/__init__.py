"""The admin for pricing ops, one module per subject; importing this registers them all."""

from costsheets.admin import catalogues, customers, meters, prices, subscriptions

__all__ = ["catalogues", "customers", "meters", "prices", "subscriptions"]
