"""The API fuzzed from its own OpenAPI schema (schemathesis): whatever a client sends, no answer
is a 5xx, every status is one the operation declares, and every answer (body and content type)
conforms to what is declared for it. The checks are in schemathesis.toml; `make fuzz` runs the
same checks for as long as you like, with a new seed each time (README, "Fuzzing")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.config import SchemathesisConfig

from flexprice_site.throttling import ApiKeyRateThrottle
from tests.conftest import KeyedClient

# Fixed, so that `make test` is reproducible; `make fuzz` explores with new seeds.
FUZZ_SEED = 14
# Per operation, on top of the schema's examples and its boundary ("coverage") cases; with the
# workflows below this keeps the fuzzing to about 80 seconds of the suite.
EXAMPLES_PER_OPERATION = 80
WORKFLOWS = 150
STEPS_PER_WORKFLOW = 10

SUITE_SETTINGS = hypothesis_settings(
    database=None,  # the same cases every run, whatever an earlier run found
    deadline=None,
    # One API key serves every case of an operation; the generated data is what varies.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)

config = SchemathesisConfig.from_path(settings.BASE_DIR / "schemathesis.toml")
schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", get_wsgi_application(), config=config)
schema.config.seed = FUZZ_SEED


@pytest.fixture
def api_key(api: KeyedClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A key of tenant Acme for requests made straight into the WSGI app, inside the test's
    transaction."""
    # Thousands of requests a minute: the rate limit would answer most of them (declared) 429.
    monkeypatch.setattr(ApiKeyRateThrottle, "rate", "1000000/min", raising=False)
    # Django closes the connection after each request; here it carries the test's transaction.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield api.raw_key
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@schema.parametrize()
@hypothesis_settings(SUITE_SETTINGS, max_examples=EXAMPLES_PER_OPERATION)
def test_every_operation_answers_as_declared(case: Any, api_key: str) -> None:
    case.call_and_validate(headers={"x-api-key": api_key})


class Workflows(schema.as_state_machine()):  # type: ignore[misc]
    """Operations chained through the ids their answers give (create, then read, change,
    delete and read again), which is where 404s and 409s come from."""

    api_key = ""

    def setup(self) -> None:
        # Every workflow starts from the same data, so that a workflow replayed (to confirm or
        # shrink a failure) meets the answers it met the first time.
        self.savepoint = transaction.savepoint()

    def teardown(self) -> None:
        transaction.savepoint_rollback(self.savepoint)

    def get_call_kwargs(self, case: Any) -> dict[str, Any]:
        return {"headers": {"x-api-key": self.api_key}}


def test_workflows_answer_as_declared(api_key: str) -> None:
    Workflows.api_key = api_key
    Workflows.run(
        settings=hypothesis_settings(
            SUITE_SETTINGS,
            max_examples=WORKFLOWS,
            stateful_step_count=STEPS_PER_WORKFLOW,
            derandomize=True,  # the state machine's own fixed seed
        )
    )
