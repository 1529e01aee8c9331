"""The REST API at /api/v1: JSON in and out, bearer tokens with scopes, problem
documents for errors, and an OpenAPI 3.1 document generated from the views (spectree
with pydantic models)."""

from __future__ import annotations

from flask import Blueprint, current_app
from spectree import SecurityScheme, SecuritySchemeData, SpecTree
from spectree.models import SecureType

from consentapp.extensions import csrf, limiter
from consentapp.problems import ApiProblem, http_problem, problem_response

bp = Blueprint("api", __name__)
csrf.exempt(bp)


def _rate_limit() -> str:
    return str(current_app.config["API_RATE_LIMIT"])


from consentapp.api.access import check_call, rate_key, validation_problem  # noqa: E402

spec = SpecTree(
    "flask",
    mode="strict",
    path="spec",
    page_templates={},
    title="consentapp API",
    version="1",
    description=(
        "Contacts, subscriptions, topics, the consent ledger and the suppression list. "
        "Send `Authorization: Bearer <token>`; each operation names the scope it needs."
    ),
    before=validation_problem,
    security_schemes=[
        SecurityScheme(
            name="bearer", data=SecuritySchemeData(type=SecureType.HTTP, scheme="bearer")
        )
    ],
    security={"bearer": []},
    # Schemas named as the models are (`ContactCreate`), for readable generated clients.
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda parent, child: child,
)

# One count per token over every operation (a limit per route would multiply it).
limiter.shared_limit(_rate_limit, scope="api", key_func=rate_key)(bp)
bp.before_request(check_call)
bp.register_error_handler(ApiProblem, problem_response)
bp.register_error_handler(429, http_problem)

from consentapp.api import campaigns, changes, docs, requests, routes  # noqa: E402, F401

spec.register(bp)
