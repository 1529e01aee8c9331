"""Error pages: a friendly page with the right status, never a traceback."""

from __future__ import annotations

import contextlib

import sqlalchemy as sa
from flask import Flask, Response, current_app, render_template
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from consentapp.extensions import db
from consentapp.problems import http_problem, is_api_request, retry_after_seconds
from consentapp.services.notices import NoticeMissing
from consentapp.tokens import TokenInvalid

TITLES = {
    400: _l("This request could not be understood"),
    403: _l("You are not allowed to open this page"),
    404: _l("Page not found"),
    405: _l("This page cannot be used like that"),
    413: _l("What you sent is too large"),
    415: _l("This kind of content is not accepted"),
    429: _l("Too many requests"),
    500: _l("Something went wrong on our side"),
    503: _l("This site is not available yet"),
}

EXPLANATIONS = {
    400: _l("Check what you entered and try again."),
    403: _l("If you think you should have access, contact us."),
    404: _l("The address may be mistyped, or the page no longer exists."),
    405: _l("Go back and use the buttons on the page."),
    413: _l("Shorten your message and try again."),
    415: _l("Send the form from our website."),
    429: _l("Please wait a while before you try again."),
    500: _l("We have been notified. Please try again later."),
    503: _l("Please try again later."),
}


def render_error(error: HTTPException) -> tuple[str, int] | Response:
    """Render `errors/error.html` for any HTTP error (a problem document under /api/)."""
    if is_api_request():
        return http_problem(error)
    code = error.code or 500
    page = render_template(
        "errors/error.html",
        code=code,
        title=TITLES.get(code, error.name),
        explanation=EXPLANATIONS.get(code, ""),
    )
    if code == 429:
        return Response(page, 429, {"Retry-After": str(retry_after_seconds())})
    return page, code


def render_csrf_error(error: CSRFError) -> tuple[str, int]:
    """A stale form: say so plainly rather than 'bad request'."""
    return (
        render_template(
            "errors/error.html",
            code=400,
            title=_l("This form has expired"),
            explanation=_l("Go back, reload the page and send the form again."),
        ),
        400,
    )


def render_not_set_up(error: NoticeMissing) -> tuple[str, int] | Response:
    """No privacy notice yet: forms must not collect data without one."""
    current_app.logger.error("%s", error)
    return render_error(ServiceUnavailable())


DATABASE_RETRY_SECONDS = 30


def render_database_down(
    error: sa.exc.OperationalError | sa.exc.InterfaceError,
) -> tuple[str, int, dict[str, str]]:
    """The database does not answer (restarting, overloaded): a friendly 503 with
    Retry-After, never a 500 or a traceback. Nothing was stored for this request; the
    next one gets a fresh connection once the database is back."""
    current_app.logger.warning("database unavailable: %s", error.orig or error)
    # The connection may be gone already; the session is removed after the request.
    with contextlib.suppress(sa.exc.SQLAlchemyError):
        db.session.rollback()
    page = render_template(
        "errors/error.html",
        code=503,
        title=_l("This site is briefly unavailable"),
        explanation=EXPLANATIONS[503],
    )
    return page, 503, {"Retry-After": str(DATABASE_RETRY_SECONDS)}


def render_bad_link(error: TokenInvalid) -> tuple[str, int]:
    """A tampered, foreign or outdated link: say so kindly and show the way forward."""
    return render_template("subscriptions/link_problem.html", kind="invalid"), 400


def close_session_after_outage(error: BaseException | None) -> None:
    """End the request's session even when the database went away after the answer was
    made: the closing ROLLBACK then fails on the dead connection, and left alone that
    failure turns a finished page into a 500. The server has rolled back already; the
    connection is dropped without a word to it."""
    try:
        db.session.remove()
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        current_app.logger.warning("database gone while closing a request: %s", exc.orig)
        db.session().invalidate()
        db.session.remove()


def init_app(app: Flask) -> None:
    """Register the handlers; unhandled exceptions reach the 500 page through Flask."""
    # Registered after Flask-SQLAlchemy's own teardown, so it runs before it.
    app.teardown_appcontext(close_session_after_outage)
    app.register_error_handler(CSRFError, render_csrf_error)
    app.register_error_handler(HTTPException, render_error)
    app.register_error_handler(NoticeMissing, render_not_set_up)
    app.register_error_handler(TokenInvalid, render_bad_link)
    app.register_error_handler(sa.exc.OperationalError, render_database_down)
    app.register_error_handler(sa.exc.InterfaceError, render_database_down)
