"""The inbox of contact-form messages."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from consentapp.extensions import db
from consentapp.form_fields import choices
from consentapp.labels import field_label, label
from consentapp.models import Inquiry, InquiryStatus, StaffUser
from consentapp.request_checks import View, small_int
from consentapp.services import audit
from consentapp.services.contacts_admin import AddressTaken
from consentapp.services.inquiries_admin import (
    add_note,
    apply_differences,
    differences,
    list_inquiries,
    open_inquiry,
    status_counts,
    update_inquiry,
)
from consentapp.staff import bp
from consentapp.staff.access import current_staff
from consentapp.staff.forms import ApplyDetailsForm, InquiryUpdateForm, NoteForm

STATUS_FILTERS = ("open", *(s.value for s in InquiryStatus))


def _staff_members() -> list[StaffUser]:
    return list(
        db.session.scalars(
            sa.select(StaffUser).where(StaffUser.active.is_(True)).order_by(StaffUser.email)
        )
    )


def _forms(inquiry: Inquiry) -> tuple[InquiryUpdateForm, NoteForm, ApplyDetailsForm]:
    update = InquiryUpdateForm(prefix="update")
    update.status.choices = choices((s.value, label(s.value)) for s in InquiryStatus)
    update.assigned_to.choices = choices(
        [("", "—"), *((str(u.id), u.label) for u in _staff_members())]
    )
    if "update-status" not in request.form:  # not the form sent: show what is stored
        update.status.data = inquiry.status
        update.assigned_to.data = str(inquiry.assigned_to_id or "")
    apply = ApplyDetailsForm(prefix="apply")
    apply.fields.choices = choices((d.field, field_label(d.field)) for d in differences(inquiry))
    return update, NoteForm(prefix="note"), apply


@bp.get("/inquiries")
def inquiries() -> str:
    """Newest first, open ones by default."""
    status = request.args.get("status", "open")
    if status not in STATUS_FILTERS:
        status = "open"
    mine = request.args.get("mine") == "1"
    page = min(small_int(request.args.get("page"), 1) or 1, 100_000)
    assignee = current_staff().id if mine else None
    rows, has_next = list_inquiries(status, assignee, page)
    html = render_template(
        "staff/inquiries.html",
        counts=status_counts(assignee),
        rows=rows,
        has_next=has_next,
        page=page,
        status=status,
        mine=mine,
        filters=STATUS_FILTERS,
    )
    # Rendered before the audit entry: a commit would reload every row shown.
    audit.record(
        "inquiries.list",
        details={"status": status, "page": page, "shown": len(rows)},
        actor=current_staff(),
    )
    db.session.commit()
    return html


def _render(
    inquiry: Inquiry, status: int = 200, failed: FlaskForm | None = None
) -> tuple[str, int]:
    """The page; `failed` is the form just sent, shown again with its input and errors."""
    forms = dict(zip(("update", "note", "apply"), _forms(inquiry), strict=True))
    for name, form in forms.items():
        if failed is not None and type(form) is type(failed):
            forms[name] = failed
    return render_template(
        "staff/inquiry.html",
        inquiry=inquiry,
        **forms,
        diffs=differences(inquiry),
        staff={u.id: u for u in _staff_members()},
    ), status


@bp.get("/inquiries/<public_id>")
def inquiry(public_id: str) -> View:
    """One message, its details against the stored contact, notes; the view is audited."""
    found = open_inquiry(public_id, current_staff())
    if found is None:
        abort(404)
    return _render(found)


@bp.post("/inquiries/<public_id>/update")
def update_inquiry_view(public_id: str) -> View:
    """Change status and assignment."""
    found: Inquiry = db.one_or_404(sa.select(Inquiry).where(Inquiry.public_id == public_id))
    update, _note, _apply = _forms(found)
    if not update.validate():
        return _render(found, 400, update)
    assignee = (
        db.session.get(StaffUser, int(update.assigned_to.data)) if update.assigned_to.data else None
    )
    update_inquiry(found, update.status.data or found.status, assignee, current_staff())
    flash(_("The inquiry is updated."), "success")
    return redirect(url_for("staff.inquiry", public_id=public_id))


@bp.post("/inquiries/<public_id>/note")
def add_note_view(public_id: str) -> View:
    """Add an internal note."""
    found: Inquiry = db.one_or_404(sa.select(Inquiry).where(Inquiry.public_id == public_id))
    _update, note, _apply = _forms(found)
    if not note.validate():
        return _render(found, 400, note)
    add_note(found, note.text.data or "", current_staff())
    flash(_("The note is added."), "success")
    return redirect(url_for("staff.inquiry", public_id=public_id))


@bp.post("/inquiries/<public_id>/apply")
def apply_details_view(public_id: str) -> View:
    """Copy chosen submitted details onto the contact (a rectification)."""
    found: Inquiry = db.one_or_404(sa.select(Inquiry).where(Inquiry.public_id == public_id))
    _update, _note, apply = _forms(found)
    if not apply.validate():
        return _render(found, 400, apply)
    try:
        changed = apply_differences(
            found, apply.fields.data or [], apply.reason.data or "", current_staff()
        )
    except AddressTaken:
        abort(409)
    flash(
        _("Copied to the contact: %(fields)s.", fields=", ".join(changed))
        if changed
        else _("Nothing changed."),
        "success" if changed else "info",
    )
    return redirect(url_for("staff.inquiry", public_id=public_id))
