"""What every catalogue endpoint shares: exact JSON numbers, scoped lookups, error field names."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from django.db.models import Model, QuerySet, TextChoices
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from flexprice_site.api.mixins import TenantScopedAPIMixin
from flexprice_site.authentication import client_of
from flexprice_site.errors import ApiError
from flexprice_site.models import Environment, Status


class CatalogueViewMixin(TenantScopedAPIMixin):
    """What catalogue endpoints share: the caller's environment and author."""

    @property
    def environment(self) -> Environment:
        return client_of(self.request).environment

    @property
    def actor(self) -> str:
        return client_of(self.request).actor

    def context(self) -> dict[str, Any]:
        return {"request": self.request, "environment": self.environment}

    def validated(
        self, serializer_class: type[serializers.Serializer], *, partial: bool = False
    ) -> dict[str, Any]:
        """The request body checked by `serializer_class` (400 naming the fields otherwise)."""
        serializer = serializer_class(data=self.body(), partial=partial, context=self.context())
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def body(self) -> Any:
        request: Request = self.request
        return request.data if request.data is not None else {}


class CatalogueAPIView(CatalogueViewMixin, APIView):
    """A catalogue endpoint for one row or one action."""


class CatalogueListView(CatalogueViewMixin, generics.ListAPIView):
    """A catalogue list: `GET` filters with `filterset_class` and paginates (SPEC §1)."""

    base_queryset: QuerySet[Any]

    def get_queryset(self) -> QuerySet[Any]:
        return self.scoped(self.base_queryset.all())


@contextmanager
def api_field_names(names: Mapping[str, str] | Callable[[str], str]) -> Iterator[None]:
    """Rename the model field names in a service's error details to the API's JSON names.

    Services name problems by model field (`aggregation_field`, `meter`); a client should read
    the name it sent (`aggregation.field`, `meter_id`). `names` maps one to the other, or is a
    function doing so; names it does not know stay as they are.
    """
    rename = names if callable(names) else lambda key: names.get(key, key)
    try:
        yield
    except ApiError as exc:
        exc.details = {rename(key): value for key, value in exc.details.items()}
        raise


class StrictStringField(serializers.CharField):
    """Text only: a number or a boolean where text is expected is an error, not converted."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class MetadataField(serializers.DictField):
    """`metadata`: names to text values (SPEC §2)."""

    child = StrictStringField(allow_blank=True)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("help_text", "Names to text values.")
        super().__init__(**kwargs)


@extend_schema_field(OpenApiTypes.STR)
class ScopedIdField(serializers.Field):
    """An id in a request body that must name a live row of the caller's environment.

    Another tenant's id gets the same answer as a missing one, so nothing leaks.
    """

    def __init__(self, *, queryset: QuerySet[Any], label_text: str, **kwargs: Any) -> None:
        self.queryset = queryset
        self.label_text = label_text
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Model:
        if not isinstance(data, str) or not data:
            raise serializers.ValidationError(f"Give the {self.label_text} id as a string.")
        environment: Environment = self.context["environment"]
        row = (
            self.queryset.filter(tenant_id=environment.tenant_id, environment_id=environment.pk)
            .exclude(status=Status.DELETED)
            .filter(pk=data)
            .first()
        )
        if row is None:
            raise serializers.ValidationError(
                f"There is no {self.label_text} {data} in this environment."
            )
        return row

    def to_representation(self, value: Any) -> str:
        return str(value.pk)


def refuse_fields(data: Any, refused: Mapping[str, str]) -> None:
    """400 for Flexprice fields this API does not support, rather than silently dropping them:
    each one would change what is charged."""
    if not isinstance(data, Mapping):
        return
    errors = {field: [message] for field, message in refused.items() if field in data}
    if errors:
        raise serializers.ValidationError(errors)


class WholeObjectSerializer(serializers.Serializer):
    """A nested object that replaces what it describes (a meter's `aggregation`, a price's
    `tiers`): its required keys stay required in a partial update (`PUT` changes only the fields
    given), where DRF would skip them and leave the object without, say, its `type`."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            missing = {
                name: [field.error_messages["required"]]
                for name, field in self.fields.items()
                if field.required and not field.read_only and name not in data
            }
            if missing:
                raise serializers.ValidationError(missing)
        return super().to_internal_value(data)


class KnownKeysOnlyMixin:
    """400 for body keys the request does not have. On a query body, an unknown key is most
    often a misspelt filter, and ignoring it would answer a wider question than was asked.
    `key_hints` says where a key that belongs elsewhere goes."""

    key_hints: Mapping[str, str] = {}

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = [key for key in data if key not in self.fields]  # type: ignore[attr-defined]
            if unknown:
                raise serializers.ValidationError(
                    {
                        key: [self.key_hints.get(key, "Not a field of this request.")]
                        for key in unknown
                    }
                )
        return super().to_internal_value(data)  # type: ignore[misc]


class EnumField(serializers.ChoiceField):
    """A choice among the values of a TextChoices (or of named fixed values).

    The OpenAPI schema shows it as one enum component named after its choices (`Status`,
    `BillingPeriod`), the same in every response and request. drf-spectacular would otherwise
    name enums by JSON field name, which collides as soon as two endpoints of the site use
    `status` or `type` for different sets of values.
    """

    def __init__(
        self,
        choices: type[TextChoices] | Sequence[tuple[str, str]],
        *,
        enum_name: str = "",
        **kwargs: Any,
    ) -> None:
        if isinstance(choices, type):
            enum_name = enum_name or choices.__name__
            choices = choices.choices
        if not enum_name:
            raise TypeError("EnumField needs an enum_name for a list of choices")
        self.enum_name = enum_name
        super().__init__(choices=choices, **kwargs)

    default_error_messages = {"invalid_choice": "“{input}” is not one of {choices}."}

    def to_internal_value(self, data: Any) -> Any:
        if data == "" and self.allow_blank:
            return ""
        value = self.choice_strings_to_values.get(str(data)) if not isinstance(data, bool) else None
        if value is None:
            self.fail("invalid_choice", input=data, choices=", ".join(map(str, self.choices)))
        return value


class EnumFieldSchema(OpenApiSerializerFieldExtension):
    target_class = EnumField
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        field: EnumField = self.target
        component = ResolvedComponent(
            name=field.enum_name,
            type=ResolvedComponent.SCHEMA,
            object=field.enum_name,
            schema={
                "type": "string",
                "enum": list(field.choices),
                "description": "\n".join(
                    f"* `{value}` - {label}" for value, label in field.choices.items()
                ),
            },
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref
