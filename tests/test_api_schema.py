"""schemathesis against the app's WSGI callable, with a token holding every scope:
every operation in the OpenAPI document, no 5xx, every response as the document says."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from consentapp.models import ApiScope
from consentapp.services.api_tokens import issue_token

pytestmark = pytest.mark.fuzz
EXAMPLES_PER_OPERATION = 30
# "Schema-valid data is accepted" cannot hold for values whose validity no schema can
# express: an address we can deliver to, a topic that exists, a cursor we issued. Those
# are refused with a 422 naming the field; every other check runs.
EXCLUDED = [positive_data_acceptance]


def test_every_operation_keeps_to_the_document(app: Flask) -> None:
    app.config["API_RATE_LIMIT"] = "1000000 per minute"
    with app.app_context():
        secret = issue_token("schemathesis", list(ApiScope), "tests").secret
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 17
    headers = {"Authorization": f"Bearer {secret}"}

    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            case.call_and_validate(headers=headers, excluded_checks=EXCLUDED)

        run()
