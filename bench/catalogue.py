"""The bench tenant: its environments, customers, meters and API key, made with the services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.dataset import DatasetSpec, customer_id
from bench.queries import METERS

TENANT = "Bench"
# The loaded data set lives in one environment; HTTP ingestion writes to another, so the
# queries always read exactly the generated events (the ones DuckDB has too).
DATASET_ENVIRONMENT = "dataset"
INGEST_ENVIRONMENT = "http-ingest"
ACTOR = "bench"


@dataclass(frozen=True)
class BenchEnvironment:
    environment: Any  # flexprice_site.models.Environment
    customers: dict[str, str]  # external customer ID → customer ID
    meters: dict[str, Any]  # METERS key → Meter


def _customers(environment: Any, spec: DatasetSpec, extra: tuple[str, ...] = ()) -> dict[str, str]:
    from costsheets.models import Customer
    from costsheets.services import customer_create
    from flexprice_site.models import Status

    def existing() -> dict[str, str]:
        return dict(
            Customer.objects.filter(tenant_id=environment.tenant_id, environment=environment)
            .exclude(status=Status.DELETED)
            .values_list("external_customer_id", "id")
        )

    known = existing()
    wanted = [customer_id(rank) for rank in range(spec.customers)] + list(extra)
    for external_id in wanted:
        if external_id not in known:
            customer_create(
                environment=environment,
                external_customer_id=external_id,
                name=f"Bench {external_id}",
                actor=ACTOR,
            )
    return existing()


def _meters(environment: Any) -> dict[str, Any]:
    from costsheets.models import Meter
    from costsheets.services import meter_create, meter_update
    from flexprice_site.models import Status

    # Apps without the setting answer property filters from raw events; the bench still runs.
    keeps_properties = any(field.name == "rollup_properties" for field in Meter._meta.fields)
    meters = {}
    for key, spec in METERS.items():
        meter = (
            Meter.objects.filter(
                tenant_id=environment.tenant_id, environment=environment, name=spec.name
            )
            .exclude(status=Status.DELETED)
            .first()
        )
        if meter is None:
            meter = meter_create(
                environment=environment,
                name=spec.name,
                event_name=spec.event_name,
                aggregation_type=spec.aggregation_type,
                aggregation_field=spec.field,
                actor=ACTOR,
            )
        if keeps_properties and list(meter.rollup_properties) != list(spec.rollup_properties):
            # A changed setting makes the meter's rollups pending; the load phase rebuilds them.
            meter = meter_update(
                meter=meter, data={"rollup_properties": list(spec.rollup_properties)}, actor=ACTOR
            )
        meters[key] = meter
    return meters


def bench_environment(
    name: str, spec: DatasetSpec, extra_customers: tuple[str, ...] = ()
) -> BenchEnvironment:
    """The environment `name` of the bench tenant with every customer and meter (made once)."""
    from flexprice_site.services import environment_get_or_create

    environment = environment_get_or_create(tenant_name=TENANT, environment_name=name)
    return BenchEnvironment(
        environment=environment,
        customers=_customers(environment, spec, extra_customers),
        meters=_meters(environment),
    )


def api_key_for(environment: Any) -> str:
    from flexprice_site.services import api_key_create

    return api_key_create(environment=environment, name="bench", created_by=ACTOR).raw_key
