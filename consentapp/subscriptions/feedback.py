"""The optional question after unsubscribing, and its answer."""

from __future__ import annotations

from flask import current_app, render_template

from consentapp.extensions import limiter
from consentapp.request_checks import View
from consentapp.services.unsubscribe_feedback import (
    AlreadyAnswered,
    FormExpired,
    FormInvalid,
    UnknownAnswer,
    record_answer,
    survey_token,
)
from consentapp.subscriptions import bp
from consentapp.subscriptions.forms import FeedbackForm


def unsubscribed_page(campaign: str | None) -> str:
    """ "You are unsubscribed", with the optional question for this campaign (or none)."""
    form = FeedbackForm(formdata=None)
    form.survey.data = survey_token(campaign)
    return render_template("subscriptions/unsubscribed.html", feedback_form=form)


def _form_rate_limit() -> str:
    return str(current_app.config["SUBSCRIBE_RATE_LIMIT"])


@bp.post("/unsubscribe-feedback")
@limiter.limit(_form_rate_limit)
def unsubscribe_feedback() -> View:
    """Count one answer: a form answers once, and keeps no trace of who sent it."""
    form = FeedbackForm()
    if not form.validate():
        page = render_template("subscriptions/unsubscribed.html", feedback_form=form)
        return page, 400
    try:
        record_answer(form.survey.data or "", form.answer.data or "")
    except UnknownAnswer:
        return _answered("unknown", 400)
    except FormExpired:
        return _answered("expired", 410)
    except FormInvalid:
        return _answered("invalid", 400)
    except AlreadyAnswered:
        return _answered("already", 409)
    return _answered("thanks", 200)


def _answered(outcome: str, status: int) -> tuple[str, int]:
    return render_template("subscriptions/feedback_answered.html", outcome=outcome), status
