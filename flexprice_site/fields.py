"""Model fields shared by every app: prefixed IDs."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import models

from flexprice_site.ids import new_id


class PrefixedIdField(models.CharField):
    """Primary key like `cost_01JD…`: a model names its prefix once, IDs are made on creation."""

    def __init__(self, *args: Any, prefix: str, **kwargs: Any) -> None:
        self.prefix = prefix
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("primary_key", True)
        kwargs.setdefault("editable", False)
        kwargs["default"] = partial(new_id, prefix)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("default", None)
        kwargs["prefix"] = self.prefix
        return name, path, args, kwargs
