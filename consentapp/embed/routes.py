"""The JSON subscribe endpoint: the same double opt-in as `/subscribe`, for scripts."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from consentapp.embed import bp
from consentapp.extensions import limiter
from consentapp.i18n import current_language
from consentapp.problems import retry_after_seconds
from consentapp.request_checks import from_listed_origin
from consentapp.services import notices
from consentapp.services.consent import Origin
from consentapp.services.contact_details import normalise_email
from consentapp.services.embed import altcha_required, new_challenge
from consentapp.services.notices import NoticeMissing
from consentapp.services.subscriptions import request_subscription
from consentapp.subscribe_form import subscribe_form

# The contract's field names, as in the HTML form; `topics` is a list of slugs.
TEXT_FIELDS = ("email", "name", "language", "website", "notice_version", "altcha")


class Problem(Exception):
    """A refusal, answered as an RFC 9457 problem document."""

    def __init__(self, status: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.detail, self.extra = status, detail, extra


def problem(status: int, detail: str, **extra: Any) -> Response:
    """An RFC 9457 problem document."""
    response = jsonify(status=status, detail=detail, **extra)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


@bp.errorhandler(Problem)
def refused(error: Problem) -> Response:
    return problem(error.status, error.detail, **error.extra)


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    """Rate limit, size limit and the like, as problem documents."""
    response = problem(error.code or 400, error.description or error.name)
    if error.code == 429:
        response.headers["Retry-After"] = str(retry_after_seconds())
    return response


@bp.errorhandler(NoticeMissing)
def not_set_up(error: NoticeMissing) -> Response:
    return problem(503, "no privacy notice is published yet: nothing can be collected")


def json_fields() -> MultiDict[str, str]:
    """The body as form fields: a JSON object of strings, `topics` a list of strings."""
    if request.mimetype != "application/json":
        raise Problem(415, "send the fields as application/json")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Problem(400, "the body is not a JSON object")
    fields: MultiDict[str, str] = MultiDict()
    wrong = [key for key in TEXT_FIELDS if key in body and not isinstance(body[key], str | int)]
    topics = body.get("topics", [])
    if not isinstance(topics, list) or not all(isinstance(slug, str) for slug in topics):
        wrong.append("topics")
    if body.get("statistics") is not None and not isinstance(body["statistics"], bool):
        wrong.append("statistics")  # personal statistics: true, or false / left out
    if wrong:
        raise Problem(
            422, "fields of the wrong type", errors={key: ["wrong type"] for key in wrong}
        )
    for key in TEXT_FIELDS:
        if body.get(key) is not None:
            fields.add(key, str(body[key]))
    for slug in topics:
        fields.add("topics", slug)
    if body.get("statistics") is True:
        fields.add("statistics", "y")
    return fields


def _rate_limit() -> str:
    return str(current_app.config["SUBSCRIBE_RATE_LIMIT"])


@bp.post("/subscribe")
@limiter.limit(_rate_limit)
def subscribe() -> tuple[Response, int]:
    """Double opt-in, step 1: 202 whether the address was known or not."""
    if not from_listed_origin():
        raise Problem(403, "this origin is not listed in EMBED_ORIGINS")
    form = subscribe_form(json_fields())
    if not form.validate():
        errors = {
            name: [str(message) for message in messages] for name, messages in form.errors.items()
        }
        raise Problem(422, "some fields are missing or invalid", errors=errors)
    language = form.language.data or current_language()
    if not form.website.data:
        notice = notices.current_notice(language)
        request_subscription(
            email=normalise_email(form.email.data or ""),
            name=form.name.data or "",
            topic_slugs=list(form.topics.data or []),
            statistics=bool(form.statistics.data),
            language=language,
            origin=Origin.from_request(request),
            notice=notices.notice_shown(form.notice_version.data, language) or notice,
        )
    return jsonify(status="check_mail", detail="check your mailbox to confirm"), 202


@bp.get("/altcha")
def altcha_challenge() -> Response:
    """A fresh proof-of-work challenge for the ALTCHA widget (when staff switched it on)."""
    if not altcha_required():
        raise Problem(404, "the proof-of-work challenge is switched off")
    return jsonify(new_challenge())
