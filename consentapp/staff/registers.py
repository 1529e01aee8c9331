"""The disclosure register, the record of processing, and privacy-notice versions."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from consentapp.extensions import db
from consentapp.form_fields import choices
from consentapp.i18n import current_language, supported_languages
from consentapp.labels import field_label, label
from consentapp.markdown import render_markdown
from consentapp.models import Contact, Disclosure, DisclosureKind, ProcessingActivity, StaffUser
from consentapp.request_checks import View
from consentapp.services import audit, notices
from consentapp.services import disclosures as disclosure_service
from consentapp.services import register as register_service
from consentapp.services.processing_terms import LEGAL_BASES, RECIPIENT_KINDS
from consentapp.services.repermission import notice_offering_a_round
from consentapp.staff import bp
from consentapp.staff.access import current_staff
from consentapp.staff.forms import (
    ActivityForm,
    ButtonForm,
    DisclosureForm,
    NoticeForm,
    WithholdForm,
)

# Disclosures -------------------------------------------------------------------------


def _disclosure_form() -> DisclosureForm:
    form = DisclosureForm()
    form.kind.choices = choices((k.value, label(k.value)) for k in DisclosureKind)
    form.categories.choices = choices(
        (c, field_label(c)) for c in disclosure_service.DATA_CATEGORIES
    )
    return form


def _register_page(withhold: WithholdForm | None = None, status: int = 200) -> tuple[str, int]:
    rows = db.session.scalars(
        sa.select(Disclosure).order_by(Disclosure.disclosed_on.desc(), Disclosure.id.desc())
    ).all()
    staff = {u.id: u for u in db.session.scalars(sa.select(StaffUser))}
    return render_template(
        "staff/disclosures.html",
        rows=rows,
        staff=staff,
        button=ButtonForm(),
        withhold=withhold or WithholdForm(),
    ), status


@bp.get("/disclosures")
def disclosures() -> View:
    """Every disclosure, newest first; admins approve and withhold here."""
    return _register_page()


@bp.route("/disclosures/new", methods=["GET", "POST"])
def new_disclosure() -> View:
    """Record a disclosure to a partner, an authority or a dispute-resolution body."""
    form = _disclosure_form()
    if request.method == "GET":
        form.disclosed_on.data = date.today()
        form.addresses.data = request.args.get("email", "")[: Contact.EMAIL_LENGTH]
        return render_template("staff/disclosure_new.html", form=form)
    if form.validate():
        try:
            recorded, unknown = disclosure_service.record_disclosure(
                _disclosure_input(form), current_staff()
            )
        except disclosure_service.DisclosureError as exc:
            form.addresses.errors = [str(exc)]
        else:
            if recorded.is_approved:
                flash(_("The disclosure is recorded."), "success")
            else:
                flash(_("The disclosure is recorded and waits for an admin's approval."), "success")
            if unknown:
                flash(_("No contact for: %(addresses)s", addresses=", ".join(unknown)), "info")
            return redirect(url_for("staff.disclosures"))
    return render_template("staff/disclosure_new.html", form=form), 400


def _disclosure_input(form: DisclosureForm) -> disclosure_service.DisclosureInput:
    """What staff entered, as the service takes it: one address a line."""
    lines = [line.strip() for line in (form.addresses.data or "").splitlines() if line.strip()]
    return disclosure_service.DisclosureInput(
        kind=form.kind.data or "",
        recipient=form.recipient.data or "",
        legal_basis=form.legal_basis.data or "",
        reference=form.reference.data or "",
        categories=list(form.categories.data or []),
        addresses=lines,
        disclosed_on=form.disclosed_on.data or date.today(),
        withhold_reason=form.withhold_reason.data or "",
    )


@bp.post("/disclosures/<int:disclosure_id>/approve")
def approve_disclosure(disclosure_id: int) -> BaseResponse:
    """An admin, in their own session, takes responsibility for a disclosure."""
    found: Disclosure = db.get_or_404(Disclosure, disclosure_id)
    return _change_disclosure(
        lambda: disclosure_service.approve_disclosure(found, current_staff()),
        _("The disclosure is approved."),
    )


@bp.post("/disclosures/<int:disclosure_id>/withhold")
def withhold_disclosure(disclosure_id: int) -> View:
    """An admin keeps a disclosure out of the people's access copy, with the legal basis."""
    found: Disclosure = db.get_or_404(Disclosure, disclosure_id)
    form = WithholdForm()
    if not form.validate():
        return _register_page(withhold=form, status=400)
    return _change_disclosure(
        lambda: disclosure_service.withhold_disclosure(
            found, form.reason.data or "", current_staff()
        ),
        _("The disclosure is left out of the people's access copy."),
    )


@bp.post("/disclosures/<int:disclosure_id>/release")
def release_disclosure(disclosure_id: int) -> BaseResponse:
    """An admin puts a withheld disclosure back into the people's access copy."""
    found: Disclosure = db.get_or_404(Disclosure, disclosure_id)
    return _change_disclosure(
        lambda: disclosure_service.release_disclosure(found, current_staff()),
        _("The disclosure is in the people's access copy again."),
    )


def _change_disclosure(change: Callable[[], object], done: str) -> BaseResponse:
    """Carry out an admin's decision on a disclosure; a refusal is flashed, not raised."""
    try:
        change()
    except disclosure_service.DisclosureError as exc:
        db.session.rollback()
        flash(str(exc), "info")
    else:
        flash(done, "success")
    return redirect(url_for("staff.disclosures"))


@bp.get("/disclosures.csv")
def disclosures_csv() -> Response:
    """The register as CSV (audited)."""
    audit.record("disclosures.export", actor=current_staff())
    db.session.commit()
    return Response(
        "".join(disclosure_service.register_csv()),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="disclosures.csv"'},
    )


# Record of processing -----------------------------------------------------------------


@bp.get("/register")
def register() -> str:
    """The record of processing activities (art. 30)."""
    return render_template("staff/register.html", activities=register_service.activities())


@bp.get("/register.<fmt>")
def register_export(fmt: str) -> Response:
    """The record as Markdown or CSV."""
    if fmt == "md":
        body = register_service.register_markdown(current_app.config["ORG_NAME"])
        mimetype = "text/markdown"
    elif fmt == "csv":
        body = "".join(register_service.register_csv())
        mimetype = "text/csv"
    else:
        abort(404)
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="register.{fmt}"'},
    )


def _activity_form(activity: ProcessingActivity | None) -> ActivityForm:
    """The edit form, its checkboxes from the fixed vocabulary, filled from `activity`."""
    form = ActivityForm(obj=activity)
    form.bases.choices = choices((key, basis.text()) for key, basis in LEGAL_BASES.items())
    form.recipient_kinds.choices = choices(
        (key, kind.label) for key, kind in RECIPIENT_KINDS.items()
    )
    if activity is not None:
        form.bases.data = activity.basis_keys
        form.recipient_kinds.data = activity.recipient_keys
    return form


@bp.route("/register/<int:activity_id>", methods=["GET", "POST"])
def edit_activity(activity_id: int) -> View:
    """Admins keep the record up to date."""
    activity: ProcessingActivity = db.get_or_404(ProcessingActivity, activity_id)
    form = _activity_form(activity if request.method == "GET" else None)
    if request.method == "POST":
        if form.validate():
            fields: dict[str, str | bool] = {
                name: getattr(form, name).data or "" for name in ProcessingActivity.FIELDS
            }
            fields |= {
                "bases": " ".join(form.bases.data or []),
                "recipient_kinds": " ".join(form.recipient_kinds.data or []),
                "outside_eea": bool(form.outside_eea.data),
            }
            register_service.update_activity(activity, fields, current_staff())
            flash(_("Saved."), "success")
            return redirect(url_for("staff.register"))
        return render_template("staff/activity_edit.html", form=form, activity=activity), 400
    return render_template("staff/activity_edit.html", form=form, activity=activity)


# Privacy notice versions ---------------------------------------------------------------


def _diff(old: str, new: str) -> list[tuple[str, str]]:
    """Changed lines with two lines of context, as (kind, text): 'add', 'del', 'same' or
    'gap' between the changed parts."""
    lines: list[tuple[str, str]] = []
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=2)
    for line in list(diff)[2:]:
        if line.startswith("@@"):
            lines.append(("gap", "…"))
        elif line.startswith("+"):
            lines.append(("add", line[1:]))
        elif line.startswith("-"):
            lines.append(("del", line[1:]))
        else:
            lines.append(("same", line[1:]))
    return lines


@bp.route("/notices", methods=["GET", "POST"])
def notices_view() -> View:
    """Publish a new version of the privacy notice: edit, preview with a diff, publish."""
    current = {lang: notices.current_notice(lang) for lang in supported_languages()}
    form = NoticeForm()
    if request.method == "GET":
        generate = request.args.get("source") == "register"
        for lang, notice in current.items():
            text = notices.render_notice_template(lang)[1] if generate else notice.text
            getattr(form, f"text_{lang}").data = text
        return _notices_page(form)
    texts = _notice_texts(form) if form.validate() else {}
    if form.errors:
        return _notices_page(form, status=400)
    if all(text == current[lang].text for lang, text in texts.items()):
        flash(_("Nothing changed: there is no new version to publish."), "info")
        return redirect(url_for("staff.notices_view"))
    if request.form.get("publish") != "1":
        preview = {
            lang: {"html": render_markdown(text), "diff": _diff(current[lang].text, text)}
            for lang, text in texts.items()
        }
        return _notices_page(form, preview)
    return _publish_notice(texts, bool(form.purposes_changed.data))


def _notices_page(
    form: NoticeForm, preview: dict[str, Any] | None = None, status: int = 200
) -> tuple[str, int]:
    versions = notices.all_versions(current_language())
    page = render_template(
        "staff/notices.html",
        form=form,
        versions=versions,
        preview=preview,
        offer=notice_offering_a_round(),
    )
    return page, status


def _notice_texts(form: NoticeForm) -> dict[str, str]:
    """Each language's text in one form; one that does not start with its title is an error."""
    texts = {
        lang: notices.normalise_notice_text(getattr(form, f"text_{lang}").data or "")
        for lang in supported_languages()
    }
    for lang, text in texts.items():
        if not text.startswith("# "):
            getattr(form, f"text_{lang}").errors = [_("The first line must be the title: # Title")]
    return texts


def _publish_notice(texts: dict[str, str], purposes_changed: bool) -> BaseResponse:
    """Publish the texts as the next version, in force at once, and audit it."""
    rows = notices.publish_notice(
        {lang: (notices.notice_title(text), text) for lang, text in texts.items()},
        purposes_changed=purposes_changed,
    )
    details: dict[str, Any] = {"sha256": {row.language: row.sha256 for row in rows}}
    if purposes_changed:
        details["purposes_changed"] = True
    audit.record(
        "notice.publish",
        target_type="notice",
        target_id=str(rows[0].version),
        details=details,
        actor=current_staff(),
    )
    db.session.commit()
    flash(
        _("Version %(version)s is published and in force now.", version=rows[0].version), "success"
    )
    return redirect(url_for("staff.notices_view"))
