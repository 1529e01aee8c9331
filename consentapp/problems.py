"""RFC 9457 problem details (`application/problem+json`): how the REST API says no.

Lives with the error pages so that an `/api/` URL that matches no route (404, 405)
answers in JSON like every other API error, not with an HTML page.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from flask import Response, current_app, request
from werkzeug.exceptions import HTTPException

from consentapp.extensions import limiter

PROBLEM_MIME = "application/problem+json"
API_PREFIX = "/api/"
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class ApiProblem(Exception):
    """Raised anywhere in an API call: answered as a problem document with `status`."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: Sequence[Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = list(errors) if errors is not None else None
        self.headers = dict(headers or {})


def problem_response(problem: ApiProblem) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": TITLES.get(problem.status, "Error"),
        "status": problem.status,
        "detail": problem.detail,
    }
    if problem.errors is not None:
        body["errors"] = problem.errors
    response = current_app.response_class(
        json.dumps(body), status=problem.status, mimetype=PROBLEM_MIME
    )
    response.headers.update(problem.headers)
    return response


def retry_after_seconds() -> int:
    """Seconds until the rate limit that was hit lets the next call through."""
    current = limiter.current_limit
    if current is None:
        return 60
    return max(1, int(current.reset_at - time.time()) + 1)


def http_problem(error: HTTPException) -> Response:
    """An HTTP error raised during an API call, as a problem document."""
    code = error.code or 500
    headers: dict[str, str] = {}
    if code == 429:
        headers["Retry-After"] = str(retry_after_seconds())
        detail = "Too many calls with this token; wait before calling again."
    elif code == 405:
        detail = f"{request.method} is not allowed on {request.path}."
    elif code == 404:
        detail = "Nothing exists at this address."
    else:
        detail = error.description or TITLES.get(code, "Error")
    return problem_response(ApiProblem(code, detail, headers=headers))


def is_api_request() -> bool:
    return request.path.startswith(API_PREFIX)
