from django.apps import AppConfig


class CostsheetsConfig(AppConfig):
    name = "costsheets"
    verbose_name = "Pricing catalogue"
