"""Customer, meter and feature endpoints: validate with a serializer, call a service, serialize."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from costsheets.api.common import (
    CatalogueAPIView,
    CatalogueListView,
    CatalogueViewMixin,
    api_field_names,
)
from costsheets.api.filters import (
    CustomerFilterSet,
    FeatureFilterSet,
    MeterFilterSet,
)
from costsheets.api.serializers import (
    CUSTOMER_FIELD_NAMES,
    FEATURE_FIELD_NAMES,
    METER_FIELD_NAMES,
    CustomerSerializer,
    CustomerWriteSerializer,
    FeatureCreateSerializer,
    FeatureSerializer,
    FeatureUpdateSerializer,
    MessageSerializer,
    MeterSerializer,
    MeterWriteSerializer,
)
from costsheets.models import Customer, Feature, Meter
from costsheets.selectors import (
    customer_get,
    customer_get_by_external_id,
    feature_get,
    meter_get,
)
from costsheets.services import (
    customer_create,
    customer_delete,
    customer_update,
    feature_create,
    feature_delete,
    feature_update,
    meter_create,
    meter_delete,
    meter_update,
)
from flexprice_site.errors import ValidationFailed
from flexprice_site.schema import error_responses

# --- customers ---------------------------------------------------------------------------------


class CustomerListView(CatalogueListView):
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilterSet
    base_queryset = Customer.objects.order_by("-created_at", "-id")

    @extend_schema(summary="List customers")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.list(request, *args, **kwargs)

    @extend_schema(
        summary="Create a customer",
        request=CustomerWriteSerializer,
        responses={201: CustomerSerializer, **error_responses(409)},
    )
    def post(self, request: Request) -> Response:
        with api_field_names(CUSTOMER_FIELD_NAMES):
            customer = customer_create(
                environment=self.environment,
                actor=self.actor,
                **self.validated(CustomerWriteSerializer),
            )
        return Response(CustomerSerializer(customer).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="v1_customers_update_by_query",
        summary="Update a customer named by `id` or `external_customer_id`",
        description="The form the Flexprice SDK's update_customer uses; "
        "PUT /v1/customers/{id} does the same.",
        parameters=[
            OpenApiParameter("id", str, description="The customer's id."),
            OpenApiParameter("external_customer_id", str, description="Or its external id."),
        ],
        request=CustomerWriteSerializer(partial=True),
        responses={200: CustomerSerializer, **error_responses(404, 409)},
    )
    def put(self, request: Request) -> Response:
        customer_id = request.query_params.get("id")
        external_id = request.query_params.get("external_customer_id")
        if customer_id:
            customer = customer_get(environment=self.environment, customer_id=customer_id)
        elif external_id:
            customer = customer_get_by_external_id(
                environment=self.environment, external_customer_id=external_id
            )
        else:
            message = "Name the customer with ?id= or ?external_customer_id=."
            raise ValidationFailed(message, details={"id": message})
        return _customer_updated(self, customer)


def _customer_updated(view: CatalogueViewMixin, customer: Customer) -> Response:
    with api_field_names(CUSTOMER_FIELD_NAMES):
        customer = customer_update(
            customer=customer,
            data=view.validated(CustomerWriteSerializer, partial=True),
            actor=view.actor,
        )
    return Response(CustomerSerializer(customer).data)


class CustomerDetailView(CatalogueAPIView):
    @extend_schema(summary="Get a customer", responses={200: CustomerSerializer})
    def get(self, request: Request, id: str) -> Response:
        customer = customer_get(environment=self.environment, customer_id=id)
        return Response(CustomerSerializer(customer).data)

    @extend_schema(
        summary="Update a customer (only the fields given change)",
        request=CustomerWriteSerializer(partial=True),
        responses={200: CustomerSerializer, **error_responses(409)},
    )
    def put(self, request: Request, id: str) -> Response:
        return _customer_updated(self, customer_get(environment=self.environment, customer_id=id))

    @extend_schema(summary="Delete a customer (soft delete)", responses={204: None})
    def delete(self, request: Request, id: str) -> Response:
        customer_delete(
            customer=customer_get(environment=self.environment, customer_id=id), actor=self.actor
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class CustomerByExternalIdView(CatalogueAPIView):
    @extend_schema(summary="Get a customer by external id", responses={200: CustomerSerializer})
    def get(self, request: Request, external_id: str) -> Response:
        customer = customer_get_by_external_id(
            environment=self.environment, external_customer_id=external_id
        )
        return Response(CustomerSerializer(customer).data)


# --- meters ------------------------------------------------------------------------------------


class MeterListView(CatalogueListView):
    serializer_class = MeterSerializer
    filterset_class = MeterFilterSet
    base_queryset = Meter.objects.order_by("-created_at", "-id")

    @extend_schema(summary="List meters")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.list(request, *args, **kwargs)

    @extend_schema(
        summary="Create a meter", request=MeterWriteSerializer, responses={201: MeterSerializer}
    )
    def post(self, request: Request) -> Response:
        with api_field_names(METER_FIELD_NAMES):
            meter = meter_create(
                environment=self.environment,
                actor=self.actor,
                **self.validated(MeterWriteSerializer),
            )
        return Response(MeterSerializer(meter).data, status=status.HTTP_201_CREATED)


class MeterDetailView(CatalogueAPIView):
    @extend_schema(summary="Get a meter", responses={200: MeterSerializer})
    def get(self, request: Request, id: str) -> Response:
        return Response(MeterSerializer(meter_get(environment=self.environment, meter_id=id)).data)

    @extend_schema(
        summary="Update a meter (only the fields given change)",
        request=MeterWriteSerializer(partial=True),
        responses={200: MeterSerializer},
    )
    def put(self, request: Request, id: str) -> Response:
        meter = meter_get(environment=self.environment, meter_id=id)
        with api_field_names(METER_FIELD_NAMES):
            meter = meter_update(
                meter=meter,
                data=self.validated(MeterWriteSerializer, partial=True),
                actor=self.actor,
            )
        return Response(MeterSerializer(meter).data)

    @extend_schema(summary="Delete a meter (soft delete)", responses={200: MessageSerializer})
    def delete(self, request: Request, id: str) -> Response:
        meter_delete(meter=meter_get(environment=self.environment, meter_id=id), actor=self.actor)
        return Response({"message": f"Meter {id} deleted."})


# --- features ----------------------------------------------------------------------------------


class FeatureListView(CatalogueListView):
    serializer_class = FeatureSerializer
    filterset_class = FeatureFilterSet
    base_queryset = Feature.objects.select_related("meter").order_by("-created_at", "-id")

    @extend_schema(summary="List features")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.list(request, *args, **kwargs)

    @extend_schema(
        summary="Create a feature (and, with `meter`, its meter)",
        request=FeatureCreateSerializer,
        responses={201: FeatureSerializer, **error_responses(409)},
    )
    def post(self, request: Request) -> Response:
        with api_field_names(FEATURE_FIELD_NAMES):
            feature = feature_create(
                environment=self.environment,
                actor=self.actor,
                **self.validated(FeatureCreateSerializer),
            )
        return Response(FeatureSerializer(feature).data, status=status.HTTP_201_CREATED)


class FeatureDetailView(CatalogueAPIView):
    @extend_schema(summary="Get a feature", responses={200: FeatureSerializer})
    def get(self, request: Request, id: str) -> Response:
        feature = feature_get(environment=self.environment, feature_id=id)
        return Response(FeatureSerializer(feature).data)

    @extend_schema(
        summary="Update a feature (only the fields given change)",
        request=FeatureUpdateSerializer(partial=True),
        responses={200: FeatureSerializer, **error_responses(409)},
    )
    def put(self, request: Request, id: str) -> Response:
        feature = feature_get(environment=self.environment, feature_id=id)
        with api_field_names(FEATURE_FIELD_NAMES):
            feature = feature_update(
                feature=feature,
                data=self.validated(FeatureUpdateSerializer, partial=True),
                actor=self.actor,
            )
        return Response(FeatureSerializer(feature).data)

    @extend_schema(summary="Delete a feature (soft delete)", responses={200: MessageSerializer})
    def delete(self, request: Request, id: str) -> Response:
        feature = feature_get(environment=self.environment, feature_id=id)
        feature_delete(feature=feature, actor=self.actor)
        return Response({"message": f"Feature {id} deleted."})
