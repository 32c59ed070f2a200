"""Costsheet and plan endpoints; costsheet answers wrap it in `{"costsheet": …}` as Flexprice."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from costsheets.api.common import (
    CatalogueAPIView,
    CatalogueListView,
    CatalogueViewMixin,
    MetadataField,
    StrictStringField,
    refuse_fields,
)
from costsheets.api.filters import PlanFilterSet
from costsheets.api.prices import PriceSerializer
from costsheets.api.serializers import MessageSerializer, ScopedRowSerializer, StatusUpdateField
from costsheets.models import Costsheet, Plan, PriceEntityType
from costsheets.selectors import active_costsheet_for, costsheet_get, plan_get, prices_by_owner
from costsheets.services import (
    costsheet_create,
    costsheet_delete,
    costsheet_update,
    plan_create,
    plan_delete,
    plan_update,
)
from flexprice_site.errors import NotFound
from flexprice_site.schema import error_responses

# --- requests and responses --------------------------------------------------------------------


@extend_schema_field(PriceSerializer(many=True))
class OwnedPricesField(serializers.Field):
    """A costsheet's or plan's prices, looked up in the serializer context where the view put
    the prices of the whole page (fetched at once). Declared writable only so that the schema
    shows it optional: endpoints that don't include prices leave it out."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", required=False, **kwargs)

    def to_representation(self, owner: Any) -> list[dict[str, Any]]:
        prices = (self.context.get("prices_by_owner") or {}).get(owner.pk, [])
        return PriceSerializer(prices, many=True, context=self.context).data


class PriceOwnerSerializer(ScopedRowSerializer):
    """A costsheet or a plan; `prices` is there when the endpoint includes them."""

    name = serializers.CharField(read_only=True)
    lookup_key = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    prices = OwnedPricesField()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        if self.context.get("prices_by_owner") is None:
            data.pop("prices", None)
        return data


class CostsheetSerializer(PriceOwnerSerializer):
    """A costsheet: what each unit of usage costs us."""


class CostsheetEnvelopeSerializer(serializers.Serializer):
    """Flexprice answers costsheet create / get / update with the costsheet under `costsheet`."""

    costsheet = CostsheetSerializer()


class CostsheetDeletedSerializer(MessageSerializer):
    id = serializers.CharField()


class PlanSerializer(PriceOwnerSerializer):
    """A plan: what customers pay, through the prices subscriptions copy."""


class PriceOwnerWriteSerializer(serializers.Serializer):
    """Create a costsheet or a plan."""

    name = StrictStringField(max_length=255)
    lookup_key = StrictStringField(max_length=255, required=False, allow_blank=True)
    description = StrictStringField(required=False, allow_blank=True)
    metadata = MetadataField(required=False)

    def to_internal_value(self, data: Any) -> Any:
        refuse_fields(data, {"status": "A new one is published; archive it with PUT."})
        return super().to_internal_value(data)


@extend_schema_serializer(component_name="Costsheet")
class CostsheetWriteSerializer(PriceOwnerWriteSerializer):
    pass


@extend_schema_serializer(component_name="Costsheet")
class CostsheetUpdateSerializer(serializers.Serializer):
    """Change a costsheet; `status` archives or publishes it."""

    name = StrictStringField(max_length=255, required=False)
    lookup_key = StrictStringField(max_length=255, required=False, allow_blank=True)
    description = StrictStringField(required=False, allow_blank=True)
    metadata = MetadataField(required=False)
    status = StatusUpdateField()


@extend_schema_serializer(component_name="Plan")
class PlanWriteSerializer(PriceOwnerWriteSerializer):
    pass


@extend_schema_serializer(component_name="Plan")
class PlanUpdateSerializer(CostsheetUpdateSerializer):
    """Change a plan; `status` archives or publishes it."""


# --- costsheets --------------------------------------------------------------------------------


def _with_published_prices(view: CatalogueViewMixin, owner: Costsheet | Plan) -> dict[str, Any]:
    """Serializer context that shows an owner's published prices with their meters."""
    entity_type = (
        PriceEntityType.COSTSHEET if isinstance(owner, Costsheet) else PriceEntityType.PLAN
    )
    prices = prices_by_owner(
        environment=view.environment,
        entity_type=entity_type,
        owner_ids=[owner.pk],
        published_only=True,
    )
    return {"prices_by_owner": prices}


def _costsheet_envelope(view: CatalogueViewMixin, costsheet: Costsheet) -> dict[str, Any]:
    data = CostsheetSerializer(costsheet, context=_with_published_prices(view, costsheet)).data
    return {"costsheet": data}


class CostsheetCreateView(CatalogueAPIView):
    @extend_schema(
        summary="Create a costsheet",
        request=CostsheetWriteSerializer,
        responses={201: CostsheetEnvelopeSerializer, **error_responses(409)},
    )
    def post(self, request: Request) -> Response:
        costsheet = costsheet_create(
            environment=self.environment,
            actor=self.actor,
            **self.validated(CostsheetWriteSerializer),
        )
        return Response(_costsheet_envelope(self, costsheet), status=status.HTTP_201_CREATED)


class CostsheetDetailView(CatalogueAPIView):
    @extend_schema(
        summary="Get a costsheet with its published prices",
        responses={200: CostsheetEnvelopeSerializer},
    )
    def get(self, request: Request, id: str) -> Response:
        costsheet = costsheet_get(environment=self.environment, costsheet_id=id)
        return Response(_costsheet_envelope(self, costsheet))

    @extend_schema(
        summary="Update a costsheet (only the fields given change; status archives/publishes)",
        request=CostsheetUpdateSerializer(partial=True),
        responses={200: CostsheetEnvelopeSerializer, **error_responses(409)},
    )
    def put(self, request: Request, id: str) -> Response:
        costsheet = costsheet_update(
            costsheet=costsheet_get(environment=self.environment, costsheet_id=id),
            data=self.validated(CostsheetUpdateSerializer, partial=True),
            actor=self.actor,
        )
        return Response(_costsheet_envelope(self, costsheet))

    @extend_schema(
        summary="Delete a costsheet (soft delete)", responses={200: CostsheetDeletedSerializer}
    )
    def delete(self, request: Request, id: str) -> Response:
        costsheet = costsheet_get(environment=self.environment, costsheet_id=id)
        costsheet_delete(costsheet=costsheet, actor=self.actor)
        return Response({"id": id, "message": f"Costsheet {id} deleted."})


class ActiveCostsheetView(CatalogueAPIView):
    @extend_schema(
        summary="The active costsheet (the newest published one) with its published prices",
        responses={200: CostsheetSerializer, **error_responses(404)},
    )
    def get(self, request: Request) -> Response:
        costsheet = active_costsheet_for(environment=self.environment)
        if costsheet is None:
            raise NotFound("There is no published costsheet in this environment.")
        context = _with_published_prices(self, costsheet)
        return Response(CostsheetSerializer(costsheet, context=context).data)


# --- plans -------------------------------------------------------------------------------------


class PlanListView(CatalogueListView):
    serializer_class = PlanSerializer
    filterset_class = PlanFilterSet
    base_queryset = Plan.objects.order_by("-created_at", "-id")

    @extend_schema(summary="List plans")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.list(request, *args, **kwargs)

    @extend_schema(
        summary="Create a plan",
        request=PlanWriteSerializer,
        responses={201: PlanSerializer, **error_responses(409)},
    )
    def post(self, request: Request) -> Response:
        plan = plan_create(
            environment=self.environment, actor=self.actor, **self.validated(PlanWriteSerializer)
        )
        context = _with_published_prices(self, plan)
        return Response(PlanSerializer(plan, context=context).data, status=status.HTTP_201_CREATED)


class PlanDetailView(CatalogueAPIView):
    @extend_schema(summary="Get a plan with its published prices", responses={200: PlanSerializer})
    def get(self, request: Request, id: str) -> Response:
        plan = plan_get(environment=self.environment, plan_id=id)
        return Response(PlanSerializer(plan, context=_with_published_prices(self, plan)).data)

    @extend_schema(
        summary="Update a plan (only the fields given change)",
        request=PlanUpdateSerializer(partial=True),
        responses={200: PlanSerializer, **error_responses(409)},
    )
    def put(self, request: Request, id: str) -> Response:
        plan = plan_update(
            plan=plan_get(environment=self.environment, plan_id=id),
            data=self.validated(PlanUpdateSerializer, partial=True),
            actor=self.actor,
        )
        return Response(PlanSerializer(plan, context=_with_published_prices(self, plan)).data)

    @extend_schema(summary="Delete a plan (soft delete)", responses={200: MessageSerializer})
    def delete(self, request: Request, id: str) -> Response:
        plan_delete(plan=plan_get(environment=self.environment, plan_id=id), actor=self.actor)
        return Response({"message": f"Plan {id} deleted."})
