"""POST /webhooks/bounces/<provider>: check the signature, queue the payload, answer.

The answer comes before any processing: the payload is stored in the inbound queue
(committed) and the worker reads it, so a burst of events never makes the provider time
out and retry. Payloads with nothing to act on (deliveries, opens, clicks) are not
stored at all.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Response, current_app, jsonify, request, session
from werkzeug.exceptions import HTTPException

from consentapp.extensions import limiter
from consentapp.mail.providers import MalformedEvent, provider_reports
from consentapp.services.bounces import receive as queue_report
from consentapp.webhooks import bp, sns
from consentapp.webhooks.signatures import (
    Incoming,
    Refused,
    Verifier,
    configured,
    verify_mailgun,
    verify_postmark,
    verify_sendgrid,
    verify_standard,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
VERIFIERS: dict[str, Verifier] = {
    "ses": sns.verify,
    "postmark": verify_postmark,
    "sendgrid": verify_sendgrid,
    "mailgun": verify_mailgun,
    "generic": verify_standard,
}
# SNS posts its JSON as text/plain.
MIMETYPES = {"ses": {"application/json", "text/plain"}}
JSON_ONLY = {"application/json"}
RETRY_AFTER_SECONDS = 60


def problem(status: int, detail: str, **headers: str) -> Response:
    """An RFC 9457 problem document: servers read it, people read its detail in logs."""
    response = jsonify(
        type="about:blank", title=_TITLES.get(status, "Error"), status=status, detail=detail
    )
    response.status_code = status
    response.mimetype = "application/problem+json"
    response.headers.update(headers)
    return response


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def _rate_limit() -> str:
    return str(current_app.config["BOUNCE_WEBHOOK_RATE_LIMIT"])


def _refused(response: Response) -> bool:
    """Only refused requests count against the limit: a provider's burst is welcome."""
    return response.status_code >= 400


@bp.post("/webhooks/bounces/<provider>")
@limiter.limit(_rate_limit, deduct_when=_refused)
def bounces(provider: str) -> Response:
    """Verify, then queue; 401 for anything not signed by the provider."""
    verifier = VERIFIERS.get(provider)
    if verifier is None or not configured(provider, current_app.config):
        return problem(404, "no such webhook, or it is not switched on")
    if request.mimetype not in MIMETYPES.get(provider, JSON_ONLY):
        return problem(415, "send the payload as application/json")
    if (request.content_length or 0) > MAX_BODY_BYTES:
        return problem(413, f"the payload is larger than {MAX_BODY_BYTES} bytes")
    request.max_content_length = MAX_BODY_BYTES  # a body sent without a length, too
    body = request.get_data(cache=True)
    data = _json(body)
    if data is None:
        return problem(400, "the body is not JSON")
    incoming = Incoming(body, data, request.headers, request.authorization, current_app.config)
    try:
        verifier(incoming)
    except Refused as exc:
        log.warning("webhook %s refused: %s", provider, exc)
        return problem(401, str(exc), **_challenge(provider))
    if provider == "ses" and data.get("Type") != "Notification":
        return _sns_subscription(data)
    return _accept(provider, body)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _challenge(provider: str) -> dict[str, str]:
    return {"WWW-Authenticate": 'Basic realm="webhooks"'} if provider == "postmark" else {}


def _accept(provider: str, body: bytes) -> Response:
    """Read the payload once to refuse what is malformed; queue what has reports."""
    try:
        reports = provider_reports(provider, body)
    except MalformedEvent as exc:
        log.warning("webhook %s: malformed payload: %s", provider, exc)
        return problem(400, str(exc))
    if not reports:
        return jsonify(status="ignored")
    queue_payload(provider, body)
    return jsonify(status="queued")


def queue_payload(provider: str, body: bytes) -> None:
    """Hand the verified payload to the inbound queue; committed once this returns."""
    incoming_id = queue_report(provider, body)
    log.info("webhook %s: %d bytes queued as report %d", provider, len(body), incoming_id)


def _sns_subscription(message: dict[str, Any]) -> Response:
    """SNS asks to confirm a subscription before it sends anything; an unsubscribe
    confirmation needs nothing from us."""
    if message.get("Type") != "SubscriptionConfirmation":
        log.info("SNS: %s for %s", message.get("Type"), message.get("TopicArn"))
        return jsonify(status="ignored")
    try:
        sns.confirm_subscription(message)
    except sns.NotAllowed as exc:
        return problem(400, str(exc))
    except sns.Unreachable as exc:
        log.warning("%s", exc)
        return problem(502, str(exc), **{"Retry-After": str(RETRY_AFTER_SECONDS)})
    return jsonify(status="subscribed")


@bp.errorhandler(HTTPException)
def http_problem(error: HTTPException) -> Response:
    """Errors raised here (too large, too many requests) as problem JSON, not a page."""
    return problem(error.code or 400, error.description or error.name)


@bp.errorhandler(sns.Unreachable)
def aws_unreachable(error: sns.Unreachable) -> Response:
    log.warning("%s", error)
    return problem(503, str(error), **{"Retry-After": str(RETRY_AFTER_SECONDS)})


@bp.after_request
def no_session_cookie(response: Response) -> Response:
    """No cookie for a server: `?lang=` or anything else must not start a session."""
    session.modified = False
    return response
