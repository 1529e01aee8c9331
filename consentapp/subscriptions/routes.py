"""Views for the subscriber's pages: validate, call a service, render."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from consentapp.extensions import csrf, db, limiter
from consentapp.form_fields import topic_choices
from consentapp.i18n import current_language, supported_languages
from consentapp.links import preferences_url
from consentapp.models import ConsentChannel, Contact
from consentapp.page_cache import shared_page
from consentapp.request_checks import View, answer_or_redirect
from consentapp.services import notices
from consentapp.services.confirmation import (
    ConfirmOutcome,
    ConfirmResult,
    confirm_subscription,
    pending_topic_labels,
    read_confirmation,
    resend_confirmation,
)
from consentapp.services.consent import Origin
from consentapp.services.contact_details import normalise_email
from consentapp.services.one_click import one_click_unsubscribe
from consentapp.services.preferences import (
    AddressInUse,
    PreferencesAccess,
    apply_email_change,
    mask_email,
    pending_slugs,
    read_email_change,
    read_preferences_token,
    rectify,
    request_email_change,
    send_preferences_link,
    set_language,
    update_topics,
)
from consentapp.services.reference import notice_in_force, offered_topics
from consentapp.services.subscriptions import read_unsubscribe, request_subscription, withdraw
from consentapp.services.topics import confirmed_slugs
from consentapp.services.unsubscribe_feedback import campaign_of_link
from consentapp.subscribe_form import SubscribeForm, subscribe_form
from consentapp.subscriptions import bp
from consentapp.subscriptions.feedback import unsubscribed_page
from consentapp.subscriptions.forms import (
    AddressForm,
    ButtonForm,
    EmailChangeForm,
    PreferencesForm,
)
from consentapp.tokens import TokenExpired


def _form_rate_limit() -> str:
    return str(current_app.config["SUBSCRIBE_RATE_LIMIT"])


def chosen_language(value: str | None) -> str:
    """A language picked in a form, or the page's language when none (or a bad one) was."""
    return value if value in supported_languages() else current_language()


def link_problem(kind: str, status: int, **context: object) -> tuple[str, int]:
    """The friendly page for a link that cannot be used, with a way forward."""
    return render_template("subscriptions/link_problem.html", kind=kind, **context), status


@bp.route("/subscribe", methods=["GET", "POST"])
@limiter.limit(_form_rate_limit, methods=["POST"])
def subscribe() -> View:
    """Double opt-in, step 1. The answer never tells whether the address was known."""
    if request.method == "GET":
        return shared_page(_subscribe_page)
    form = subscribe_form()
    language = current_language()
    if not form.validate():
        page = _subscribe_page(form)
        return answer_or_redirect("failure_url", (page, 400))
    if not form.website.data:
        shown = notices.notice_shown(form.notice_version.data, language)
        request_subscription(
            email=normalise_email(form.email.data or ""),
            name=form.name.data or "",
            topic_slugs=list(form.topics.data or []),
            statistics=bool(form.statistics.data),
            language=chosen_language(form.language.data),
            origin=Origin.from_request(request),
            notice=shown or notices.current_notice(language),
        )
    page = render_template("subscriptions/check_mail.html", reason="subscribe")
    return answer_or_redirect("success_url", page)


def _subscribe_page(form: SubscribeForm | None = None) -> str:
    """The subscribe page: a new form, or `form` with what the visitor sent."""
    notice = notice_in_force(current_language())
    if form is None:
        form = subscribe_form()
        form.notice_version.data = str(notice.version)
    return render_template(
        "subscriptions/subscribe.html", form=form, notice=notice, topics=offered_topics()
    )


@bp.route("/subscribe/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> View:
    """GET shows one Confirm button (link scanners only GET); POST confirms."""
    form = ButtonForm()
    try:
        parsed, contact = read_confirmation(token)
    except TokenExpired as expired:
        if request.method == "POST" and form.validate():
            resend_confirmation(expired.payload)
            return render_template("subscriptions/check_mail.html", reason="resend")
        return link_problem("confirm_expired", 410, form=form)

    if request.method == "GET" or not form.validate():
        status = 200 if request.method == "GET" else 400
        return render_template(
            "subscriptions/confirm.html",
            form=form,
            contact=contact,
            topics=pending_topic_labels(parsed, contact, current_language()),
            notice=notices.current_notice(current_language()),
        ), status

    return _confirmed(confirm_subscription(token, Origin.from_request(request), current_language()))


def _confirmed(result: ConfirmResult) -> View:
    """The answer to a confirmation: done, done before, or nothing left to confirm."""
    if result.outcome is ConfirmOutcome.CONFIRMED:
        return render_template(
            "subscriptions/confirmed.html",
            topics=result.topics,
            statistics=result.statistics,
            preferences_url=preferences_url(result.contact),
        )
    if result.outcome is ConfirmOutcome.ALREADY_CONFIRMED:
        return link_problem(
            "already_confirmed", 409, preferences_url=preferences_url(result.contact)
        )
    return link_problem("nothing_pending", 410)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> View:
    """GET: one button. POST: unsubscribe at once.

    The POST is the RFC 8058 one-click target that mail providers call: it needs
    no CSRF token and no cookie (deliberately exempt from CSRF), answers 200 and
    never redirects, and is idempotent.
    """
    if request.method == "GET":
        _, contact = read_unsubscribe(token)
        return render_template(
            "subscriptions/unsubscribe.html", preferences_url=preferences_url(contact)
        )
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    channel = ConsentChannel.ONE_CLICK if one_click else ConsentChannel.WEB_FORM
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    stopped = one_click_unsubscribe(token, channel.value, Origin.from_request(request), default)
    if one_click or not stopped:
        # A mail provider's POST (nobody reads it) or a second press: no question.
        return shared_page(lambda: render_template("subscriptions/unsubscribed.html"))
    return unsubscribed_page(campaign_of_link(token))


# RFC 8058: mail providers POST here without a token or cookie, by design.
csrf.exempt(unsubscribe)


@bp.route("/preferences", methods=["GET", "POST"])
@limiter.limit(_form_rate_limit, methods=["POST"])
def request_preferences() -> View:
    """Ask for a preferences link; the same answer for known and unknown addresses."""
    form = AddressForm()
    if request.method == "GET":
        return render_template("subscriptions/preferences_request.html", form=form)
    if not form.validate():
        return render_template("subscriptions/preferences_request.html", form=form), 400
    if not form.website.data:
        send_preferences_link(normalise_email(form.email.data or ""), current_language())
    return render_template("subscriptions/check_mail.html", reason="preferences")


def _preferences_page(
    token: str, access: PreferencesAccess, form: PreferencesForm, email_form: EmailChangeForm
) -> str:
    """The footer link may have been forwarded: it shows addresses masked only."""
    contact = access.contact
    pending_email = contact.pending_email
    if pending_email and not access.full:
        pending_email = mask_email(pending_email)
    waiting = set(pending_slugs(contact))
    return render_template(
        "subscriptions/preferences.html",
        token=token,
        contact=contact,
        full=access.full,
        shown_email=contact.mail_address if access.full else mask_email(contact.mail_address),
        pending_email=pending_email,
        waiting=[
            topic.label(current_language()) for topic in offered_topics() if topic.slug in waiting
        ],
        form=form,
        email_form=email_form,
        stop_form=ButtonForm(),
        topics=offered_topics(),
    )


def _preferences_form(contact: Contact) -> PreferencesForm:
    language = current_language()
    form = PreferencesForm()
    form.topics.choices = topic_choices(offered_topics(), language)
    if not form.is_submitted():
        form.topics.data = confirmed_slugs(contact)
        form.language.data = contact.language
        form.statistics.data = contact.statistics_since is not None
        for field in ("name", "company", "address", "phone", "fax"):
            getattr(form, field).data = getattr(contact, field)
    return form


def _open_preferences(token: str) -> PreferencesAccess | tuple[str, int]:
    try:
        return read_preferences_token(token)
    except TokenExpired:
        return link_problem("preferences_expired", 410)


@bp.route("/preferences/<token>", methods=["GET", "POST"])
def preferences(token: str) -> View:
    """Topics, language and contact details, reached through a mailed link."""
    access = _open_preferences(token)
    if not isinstance(access, PreferencesAccess):
        return access
    contact = access.contact
    form = _preferences_form(contact)
    if request.method == "GET":
        return _preferences_page(token, access, form, EmailChangeForm())
    if not form.validate():
        return _preferences_page(token, access, form, EmailChangeForm()), 400

    origin = Origin.from_request(request)
    language = current_language()
    changes = update_topics(access, form.topics.data or [], origin, language, form.statistics.data)
    changed_language = set_language(contact, chosen_language(form.language.data))
    corrected = (
        rectify(
            contact,
            {field: getattr(form, field).data or "" for field in Contact.DETAIL_FIELDS},
            origin,
            language,
        )
        if access.full
        else []
    )
    db.session.commit()
    _flash_saved(changes.mail_sent, bool(changes or changed_language or corrected))
    return redirect(url_for("subscriptions.preferences", token=token))


def _flash_saved(confirmation_sent: bool, changed: bool) -> None:
    """Tell what saving did: saved, saved with a confirmation mail, or nothing."""
    if confirmation_sent:
        flash(
            _(
                "Your choices are saved. For what you added we sent a confirmation mail to"
                " your address: it starts once you use the link in it."
            ),
            "success",
        )
    elif changed:
        flash(_("Your choices are saved."), "success")
    else:
        flash(_("Nothing changed."), "info")


@bp.post("/preferences/<token>/email")
def change_email(token: str) -> View:
    """Start an address change: nothing changes before the new address is verified."""
    access = _open_preferences(token)
    if not isinstance(access, PreferencesAccess):
        return access
    if not access.full:
        return link_problem("needs_fresh_link", 403)
    contact = access.contact
    email_form = EmailChangeForm()
    if not email_form.validate():
        return _preferences_page(token, access, _preferences_form(contact), email_form), 400
    request_email_change(
        contact, normalise_email(email_form.new_email.data or ""), current_language()
    )
    flash(
        _("We sent a confirmation link to the new address. Until you use it, nothing changes."),
        "info",
    )
    return redirect(url_for("subscriptions.preferences", token=token))


@bp.post("/preferences/<token>/unsubscribe-all")
def unsubscribe_all(token: str) -> View:
    """Stop every newsletter at once."""
    access = _open_preferences(token)
    if not isinstance(access, PreferencesAccess):
        return access
    opened = access.contact
    if not ButtonForm().validate():
        return redirect(url_for("subscriptions.preferences", token=token))
    stopped = withdraw(
        opened,
        None,
        ConsentChannel.WEB_FORM,
        Origin.from_request(request),
        current_language(),
    )
    db.session.commit()
    return (
        unsubscribed_page(None) if stopped else render_template("subscriptions/unsubscribed.html")
    )


@bp.post("/preferences/<token>/details-link")
def send_details_link(token: str) -> View:
    """From a footer link: mail the one-day link that opens the contact details."""
    access = _open_preferences(token)
    if not isinstance(access, PreferencesAccess):
        return access
    if ButtonForm().validate():
        send_preferences_link(access.contact.mail_address, current_language())
        flash(_("We sent a link to your address; it opens your details for 24 hours."), "info")
    return redirect(url_for("subscriptions.preferences", token=token))


@bp.route("/preferences/email/<token>", methods=["GET", "POST"])
def verify_email(token: str) -> View:
    """The link sent to a new address: GET shows a button, POST applies the change."""
    form = ButtonForm()
    try:
        _, contact = read_email_change(token)
    except TokenExpired:
        return link_problem("email_change_expired", 410)
    if request.method == "GET" or not form.validate():
        return render_template("subscriptions/verify_email.html", form=form), (
            200 if request.method == "GET" else 400
        )
    try:
        contact = apply_email_change(token, Origin.from_request(request), current_language())
    except AddressInUse:
        db.session.rollback()
        return link_problem("address_in_use", 409)
    return render_template(
        "subscriptions/email_changed.html", preferences_url=preferences_url(contact)
    )
