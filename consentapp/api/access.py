"""Who may call: the bearer token, its scope for the operation, JSON bodies only,
and the audit entry every call writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request
from pydantic import ValidationError

from consentapp.extensions import client_address
from consentapp.models import ApiScope, ApiToken
from consentapp.problems import ApiProblem
from consentapp.services.api_tokens import authenticate, record_call

F = TypeVar("F", bound=Callable[..., Any])
OPEN_ENDPOINTS = frozenset({"api.openapi_document", "api.docs_page", "api.openapi_spec"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="api"'}


def requires(scope: ApiScope) -> Callable[[F], F]:
    """Mark a view with the scope a token needs to call it."""

    def mark(view: F) -> F:
        view.api_scope = scope  # type: ignore[attr-defined]
        doc = view.__doc__ or ""
        view.__doc__ = f"{doc.strip()}\n\nScope: `{scope.value}`."
        return view

    return mark


def rate_key() -> str:
    """Calls are counted per usable token; calls without one (no token, junk, revoked or
    expired) per client address, so made-up tokens cannot each open a fresh count."""
    token = _usable_token()
    if token is not None:
        return f"api:{token.id}"
    return "api-anon:" + client_address()


def _usable_token() -> ApiToken | None:
    """The request's token when it is known and usable, looked up once per request."""
    if "api_token_checked" not in g:
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        usable = scheme.lower() == "bearer" and bool(secret.strip())
        g.api_token_checked = authenticate(secret.strip()) if usable else None
    token: ApiToken | None = g.api_token_checked
    return token


def current_token() -> ApiToken:
    token: ApiToken = g.api_token
    return token


def _bearer_token() -> ApiToken:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiProblem(
            401, "Send a token in the header: Authorization: Bearer <token>.", headers=CHALLENGE
        )
    token = _usable_token()
    if token is None:
        raise ApiProblem(401, "This token is unknown, revoked or expired.", headers=CHALLENGE)
    return token


def check_call() -> None:
    """Before every API view: a usable token, audited; its scope; a JSON body."""
    if request.endpoint is None or request.endpoint in OPEN_ENDPOINTS:
        return
    token = _bearer_token()
    g.api_token = token
    record_call(token, request.method, request.path)
    view = current_app.view_functions.get(request.endpoint)
    scope = getattr(view, "api_scope", None)
    if scope is None or scope.value not in token.scope_set:
        needed = scope.value if scope is not None else "none"
        raise ApiProblem(403, f"This token does not have the scope this call needs: {needed}.")
    if request.method in BODY_METHODS and not request.is_json:
        raise ApiProblem(415, "Send the body as JSON with Content-Type: application/json.")
    if request.method in BODY_METHODS and not isinstance(request.get_json(silent=True), dict):
        raise ApiProblem(
            422,
            "The body must be a JSON object.",
            errors=[{"field": "body", "message": "not a JSON object"}],
        )


def validation_problem(
    req: Any, resp: Any, error: Exception | None, instance: Any, *rest: Any
) -> None:
    """Spectree's hook: invalid fields become a 422 naming each field."""
    if error is None:
        return
    errors = []
    if isinstance(error, ValidationError):
        for item in error.errors():
            field = ".".join(str(part) for part in item["loc"]) or "body"
            errors.append({"field": field, "message": str(item["msg"])})
    names = ", ".join(sorted({e["field"] for e in errors})) or "body"
    raise ApiProblem(422, f"These fields are not valid: {names}.", errors=errors)
