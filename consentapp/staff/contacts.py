"""Contacts in the staff area: search, the contact page, edits, consent capture, CSV."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import (
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from consentapp.extensions import db
from consentapp.form_fields import choices, topic_choices
from consentapp.i18n import current_language
from consentapp.keyring import fingerprint
from consentapp.labels import LABELS, field_label
from consentapp.models import Contact, SubscriptionStatus
from consentapp.request_checks import View, small_int
from consentapp.services import audit
from consentapp.services.bounces_admin import bounces_of
from consentapp.services.campaign_insights import personal_records
from consentapp.services.contact_details import InvalidDetail
from consentapp.services.contacts_admin import (
    EDITABLE,
    AddressTaken,
    CaptureResult,
    OfflineConsent,
    open_contact,
    record_offline_consent,
    rectify_by_staff,
    unsubscribe_by_staff,
)
from consentapp.services.contacts_list import (
    DAYS_CHOICES,
    FIRST_DIRECTION,
    ContactPage,
    checked_sort,
    search_contacts,
)
from consentapp.services.csv_export import EXPORT_FIELDS, export_contacts, record_export
from consentapp.services.disclosures import disclosures_about
from consentapp.services.suppression import Suppressed
from consentapp.services.topics import active_topics
from consentapp.staff import bp
from consentapp.staff.access import current_staff
from consentapp.staff.forms import (
    OFFLINE_CHANNELS,
    ButtonForm,
    ClearUndeliverableForm,
    ContactEditForm,
    ExportForm,
    OfflineConsentForm,
)

STATUS_CHOICES = [("", "—"), *((s.value, LABELS[s.value]) for s in SubscriptionStatus)]


def _page_number() -> int:
    # Past the last page, the list shows the last one (search_contacts clamps it).
    return max(small_int(request.args.get("page"), 1) or 1, 1)


@bp.get("/contacts")
def contacts() -> str:
    """Search, filter, sort and page through contacts."""
    topics = active_topics()
    query, topic, status, days = _list_filters({t.slug for t in topics})
    sort, direction = checked_sort(request.args.get("sort", ""), request.args.get("dir", ""))
    result = search_contacts(
        query, topic, status, sort, _page_number(), direction=direction, days=days
    )
    page = render_template(
        "staff/contacts.html",
        result=result,
        filters={"q": query, "topic": topic, "status": status, "days": days},
        days_choices=DAYS_CHOICES,
        sort=sort,
        direction=direction,
        first_direction=FIRST_DIRECTION,
        topics=topics,
        statuses=[s.value for s in SubscriptionStatus],
    )
    # Rendered first: a commit would expire the 50 contacts shown and reload each one,
    # and the audit entry takes the log's lock only for as short as it can. The page
    # leaves only once its audit entry is committed.
    _record_list_view(query, topic, status, days, result)
    db.session.commit()
    return page


def _list_filters(topic_slugs: set[str]) -> tuple[str, str, str, int | None]:
    """The list's filters from the address; unknown values are no filter."""
    topic = request.args.get("topic", "")
    status = request.args.get("status", "")
    days = small_int(request.args.get("days"))
    return (
        request.args.get("q", "")[:200],
        topic if topic in topic_slugs else "",
        status if status in set(SubscriptionStatus) else "",
        days if days in DAYS_CHOICES else None,
    )


@bp.get("/contacts/<public_id>")
def contact(public_id: str) -> View:
    """All we hold about one person; the view itself is audited."""
    return render_contact(public_id)


def render_contact(
    public_id: str, clear_form: ClearUndeliverableForm | None = None, status: int = 200
) -> View:
    """The contact page (also shown again with the errors of its clearing form)."""
    record = open_contact(public_id, current_staff())
    if record is None:
        abort(404)
    return render_template(
        "staff/contact.html",
        record=record,
        topics=active_topics(),
        button=ButtonForm(),
        disclosures=disclosures_about(record.contact.public_id),
        bounces=bounces_of(record.contact),
        personal=personal_records(record.contact),
        clear_form=clear_form or ClearUndeliverableForm(),
    ), status


@bp.route("/contacts/<public_id>/edit", methods=["GET", "POST"])
def edit_contact(public_id: str) -> View:
    """Rectification by staff, with a reason."""
    person: Contact = db.one_or_404(sa.select(Contact).where(Contact.public_id == public_id))
    form = ContactEditForm(obj=person if request.method == "GET" else None)
    if request.method == "GET":
        audit.record(
            "contact.view", target_type="contact", target_id=person.public_id, actor=current_staff()
        )
        db.session.commit()
        form.reason.data = ""
        return render_template("staff/contact_edit.html", form=form, contact=person)
    if form.validate():
        changes = {name: _as_text(getattr(form, name).data) for name in EDITABLE}
        try:
            changed = rectify_by_staff(person, changes, form.reason.data or "", current_staff())
        except AddressTaken:
            form.email.errors = [_("Another contact already has this address.")]
        except Suppressed:
            form.email.errors = [_("This address was erased or objected; it cannot be added.")]
        except InvalidDetail as exc:
            form.email.errors = [str(exc.message)]
        else:
            flash(
                _("Saved: %(fields)s.", fields=", ".join(changed))
                if changed
                else _("Nothing changed."),
                "success" if changed else "info",
            )
            return redirect(url_for("staff.contact", public_id=person.public_id))
    return render_template("staff/contact_edit.html", form=form, contact=person), 400


def _as_text(value: object) -> str:
    """Form values as the service takes them: dates in ISO form, nothing as ''."""
    if isinstance(value, date):
        return value.isoformat()
    return str(value or "")


@bp.post("/contacts/<public_id>/unsubscribe")
def unsubscribe_contact(public_id: str) -> BaseResponse:
    """Stop one topic (or all) on the person's behalf."""
    person: Contact = db.one_or_404(sa.select(Contact).where(Contact.public_id == public_id))
    topic = request.form.get("topic", "")
    reason = request.form.get("reason", "").strip()[:300] or _("asked us to")
    known = {t.slug for t in active_topics()}
    if topic and topic not in known:
        abort(400)
    stopped = unsubscribe_by_staff(person, [topic] if topic else None, reason, current_staff())
    flash(
        _("Unsubscribed from: %(topics)s.", topics=", ".join(stopped))
        if stopped
        else _("There was nothing to unsubscribe."),
        "success" if stopped else "info",
    )
    return redirect(url_for("staff.contact", public_id=person.public_id))


@bp.route("/consent/new", methods=["GET", "POST"])
def record_consent_view() -> View:
    """Record a contact or consent obtained by agreement, e-mail or phone (P1)."""
    form = OfflineConsentForm()
    form.channel.choices = choices(OFFLINE_CHANNELS)
    form.topics.choices = topic_choices(active_topics(), current_language())
    if request.method == "GET":
        form.email.data = request.args.get("email", "")[: Contact.EMAIL_LENGTH]
        form.obtained_on.data = date.today()
        return render_template("staff/consent_new.html", form=form, topics=active_topics())
    if form.validate():
        try:
            result = record_offline_consent(_offline_consent(form), current_staff())
        except Suppressed:
            form.email.errors = [
                _("This address was erased or objected; it cannot be added by staff.")
            ]
        except ValueError as exc:
            form.evidence.errors = [str(exc)]
        else:
            return _consent_recorded(result)
    return render_template("staff/consent_new.html", form=form, topics=active_topics()), 400


def _offline_consent(form: OfflineConsentForm) -> OfflineConsent:
    """What staff entered, as the service takes it."""
    return OfflineConsent(
        email=form.email.data or "",
        channel=form.channel.data or "",
        obtained_on=form.obtained_on.data or date.today(),
        evidence=form.evidence.data or "",
        language=form.language.data or "nl",
        name=form.name.data or "",
        company=form.company.data or "",
        phone=form.phone.data or "",
        topics=tuple(form.topics.data or ()),
        send_confirmation=bool(form.send_confirmation.data),
        agreement_covers_newsletters=bool(form.agreement_covers_newsletters.data),
    )


def _consent_recorded(result: CaptureResult) -> BaseResponse:
    """Say what was recorded and what still waits for the person, then show the contact."""
    flash(_("The consent is recorded."), "success")
    if result.pending:
        flash(
            _(
                "Newsletters wait for the person's confirmation: %(topics)s.",
                topics=", ".join(result.pending),
            ),
            "info",
        )
    return redirect(url_for("staff.contact", public_id=result.contact.public_id))


def _record_list_view(
    query: str, topic: str, status: str, days: int | None, result: ContactPage
) -> None:
    """Audit a contact list view; the search text only as its fingerprint."""
    audit.record(
        "contacts.list",
        details={
            "query_fingerprint": fingerprint(query) if query.strip() else "",
            "topic": topic,
            "status": status,
            "days": days or "",
            "page": result.page,
            "shown": len(result.contacts),
        },
        actor=current_staff(),
    )


# Export ---------------------------------------------------------------------------


def _export_form() -> ExportForm:
    form = ExportForm()
    form.fields.choices = choices((name, field_label(name)) for name in EXPORT_FIELDS)
    language = current_language()
    topics = ((t.slug, t.label(language)) for t in active_topics())
    form.topic.choices = choices([("", "—"), *topics])
    form.status.choices = choices(STATUS_CHOICES)
    return form


@bp.route("/contacts/export", methods=["GET", "POST"])
def export() -> View | Response:
    """A CSV of the chosen fields only (P3), streamed; the export is audited first."""
    form = _export_form()
    if request.method == "GET" or not form.validate():
        status = 200 if request.method == "GET" else 400
        return render_template("staff/export.html", form=form), status
    fields = list(form.fields.data or [])
    topic, status_filter = form.topic.data or "", form.status.data or ""
    record_export(fields, topic, status_filter, form.purpose.data or "", current_staff())
    filename = f"contacts-{date.today().isoformat()}.csv"
    return Response(
        stream_with_context(export_contacts(fields, topic, status_filter)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
