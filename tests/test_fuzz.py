"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis): no 5xx,
every response as documented, and the books still balance afterwards.

`make test` runs a few examples per operation and mode; `make fuzz` many more
(WALLET_FUZZ_EXAMPLES).
"""

from __future__ import annotations

import os
from pathlib import Path

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis import GenerationMode

# Every check but this one: a schema-valid amount may still be refused for the wallet it goes
# to (above its balance, more decimals than its currency has), which no schema can express.
from schemathesis.specs.openapi.checks import positive_data_acceptance
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.support import assert_books_balance

EXAMPLES = int(os.environ.get("WALLET_FUZZ_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def api_schema(secured_service: tuple[str, Path], full_key: str) -> OpenApiSchema:
    base_url = secured_service[0]
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    schema.config.update(base_url=base_url)
    return schema


# schemathesis' own pytest integration (`from_fixture`) does not run on this pytest, so each
# operation gets a plain Hypothesis test over the case strategy schemathesis builds for it.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_as_documented_and_never_with_a_5xx(
    api_schema: OpenApiSchema, full_key: str, mode: GenerationMode
) -> None:
    # Given with each call, the key counts as the caller's own: schemathesis also checks that
    # the same request without it, or with another key, is refused.
    authorization = {"Authorization": f"Bearer {full_key}"}
    failures = []
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        def fuzz(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers=authorization, excluded_checks=[positive_data_acceptance]
            )

        try:
            fuzz()
        except hypothesis.errors.Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # nothing in the request can be made invalid
        except Exception as error:
            failures.append(f"{operation.label}: {error}")
    assert not failures, "\n\n".join(failures)


def test_the_books_balance_after_fuzzing(secured_database_url: str) -> None:
    assert_books_balance(secured_database_url)
