"""Views for the public pages: thin, the rules live in services."""

from __future__ import annotations

import sqlalchemy as sa
from flask import (
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from consentapp.cookies import site_cookies
from consentapp.extensions import db, limiter
from consentapp.form_fields import topic_choices
from consentapp.i18n import current_language
from consentapp.markdown import render_markdown
from consentapp.models import PrivacyNotice
from consentapp.page_cache import shared_page
from consentapp.public import bp
from consentapp.public.forms import ContactForm
from consentapp.request_checks import MAX_ID, View, answer_or_redirect, form_meta
from consentapp.services import notices
from consentapp.services.consent import Origin
from consentapp.services.inquiries import InquirySubmission, submit_inquiry
from consentapp.services.reference import notice_in_force, offered_topics
from consentapp.services.topics import active_topics
from consentapp.subscribe_form import subscribe_form


@bp.get("/")
def home() -> str:
    """The landing page, with the subscribe form."""
    return shared_page(_render_home)


def _render_home() -> str:
    notice = notice_in_force(current_language())
    form = subscribe_form()
    form.notice_version.data = str(notice.version)
    return render_template("public/home.html", form=form, notice=notice, topics=offered_topics())


def _contact_rate_limit() -> str:
    return str(current_app.config["CONTACT_RATE_LIMIT"])


@bp.route("/contact", methods=["GET", "POST"])
@limiter.limit(_contact_rate_limit, methods=["POST"])
def contact() -> View:
    """The contact form; a valid submission redirects to the thank-you page."""
    language = current_language()
    topics = active_topics()
    form = ContactForm(meta=form_meta())
    form.topics.choices = topic_choices(topics, language)
    notice = notices.current_notice(language)

    if request.method == "GET":
        form.notice_version.data = str(notice.version)
        return render_template("public/contact.html", form=form, notice=notice)

    if not form.validate():
        page = render_template("public/contact.html", form=form, notice=notice)
        return answer_or_redirect("failure_url", (page, 400))
    # A bot filled the hidden field: answer as if all went well, keep nothing.
    if not form.website.data:
        shown = notices.notice_shown(form.notice_version.data, language) or notice
        submit_inquiry(
            _submission(form), language=language, notice=shown, origin=Origin.from_request(request)
        )
    return answer_or_redirect("success_url", redirect(url_for("public.contact_thanks")))


def _submission(form: ContactForm) -> InquirySubmission:
    """What the visitor sent, as the service takes it."""
    return InquirySubmission(
        name=form.name.data or "",
        email=form.email.data or "",
        message=form.message.data or "",
        company=form.company.data or "",
        address=form.address.data or "",
        phone=form.phone.data or "",
        fax=form.fax.data or "",
        subscribe=bool(form.subscribe.data),
        topics=list(form.topics.data or []),
    )


@bp.get("/contact/thanks")
def contact_thanks() -> str:
    """Shown after a contact-form submission (and, silently, to bots)."""
    return render_template("public/contact_thanks.html")


@bp.get("/privacy")
def privacy() -> str:
    """The privacy notice in force."""
    notice = notices.current_notice(current_language())
    return _render_notice(notice, is_current=True)


@bp.get("/privacy/<int:version>")
def privacy_version(version: int) -> str:
    """An earlier (or the current) version of the notice, kept online for good."""
    notice = notices.find_notice(version, current_language()) if version <= MAX_ID else None
    if notice is None:
        abort(404)
    return _render_notice(notice, is_current=version == notices.latest_version())


def _render_notice(notice: PrivacyNotice, is_current: bool) -> str:
    return render_template(
        "public/privacy.html",
        notice=notice,
        body=render_markdown(notice.text),
        is_current=is_current,
        versions=notices.all_versions(current_language()),
    )


@bp.get("/cookies")
def cookies() -> str:
    """Every cookie the site sets, with its purpose and lifetime."""
    return render_template(
        "public/cookies.html", cookies=site_cookies(current_app.config["SESSION_COOKIE_NAME"])
    )


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Liveness for operators: 200 when the database answers, 503 when it does not."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok"), 200
