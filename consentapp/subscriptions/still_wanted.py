"""The "yes, keep sending me …" button of a re-permission mail: GET shows what it
confirms (a mail scanner opening the link confirms nothing), POST confirms it.

Like the unsubscribe link, the signed link is the person's authority, so the POST
needs no CSRF token and no cookie."""

from __future__ import annotations

from flask import abort, render_template, request

from consentapp.extensions import csrf
from consentapp.links import preferences_url
from consentapp.request_checks import View
from consentapp.services.consent import Origin
from consentapp.services.repermission_answers import answer_yes, read_question, state_of
from consentapp.subscriptions import bp


@bp.route("/still-wanted/<token>", methods=["GET", "POST"])
def still_wanted(token: str) -> View:
    """One topic of one round: the question, then the answer; a link that can no
    longer be used says why (409 answered, 410 closed or left meanwhile)."""
    question = read_question(token)
    if request.method == "POST" and request.form.get("answer") != "yes":
        abort(400)  # the page's button sends answer=yes; nothing else confirms
    outcome = (
        state_of(question)
        if request.method == "GET"
        else answer_yes(question, Origin.from_request(request))
    )
    status = {None: 200, "confirmed": 200, "already": 409}.get(outcome, 410)
    page = render_template(
        "subscriptions/still_wanted.html",
        topic=question.topic.label(question.contact.language),
        deadline=question.round.deadline_at,
        outcome=outcome,
        preferences_url=preferences_url(question.contact),
    )
    return page, status


csrf.exempt(still_wanted)
