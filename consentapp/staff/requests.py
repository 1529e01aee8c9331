"""Data-subject requests in the staff area: the queue, deadlines, identity checks."""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from consentapp.extensions import db
from consentapp.form_fields import choices
from consentapp.i18n import current_language
from consentapp.labels import label
from consentapp.models import (
    OPEN_REQUEST_STATUSES,
    Contact,
    DataRequest,
    FollowUpTask,
    RequestKind,
    RequestStatus,
    StaffUser,
    utcnow,
)
from consentapp.request_checks import View
from consentapp.services import audit
from consentapp.services.disclosures import complete_follow_up, open_follow_ups
from consentapp.services.erasure import erasure_preview
from consentapp.services.rights import RequestError, carry_out, mark_verified
from consentapp.services.rights_admin import (
    STAFF_CHANNELS,
    cancel_request,
    complete_request,
    deny_request,
    extend_deadline,
    log_request,
    request_contact,
)
from consentapp.services.rights_export import build_export
from consentapp.staff import bp
from consentapp.staff.access import current_staff
from consentapp.staff.forms import (
    ButtonForm,
    CompleteForm,
    DenyForm,
    ExtendForm,
    RequestLogForm,
    VerifyForm,
)


@bp.get("/requests")
def requests_queue() -> str:
    """Open requests by deadline (or all, newest first), and art. 19 follow-ups."""
    show_all = request.args.get("all") == "1"
    statement = sa.select(DataRequest)
    if show_all:
        statement = statement.order_by(DataRequest.received_at.desc()).limit(500)
    else:
        statement = statement.where(DataRequest.status.in_(OPEN_REQUEST_STATUSES)).order_by(
            DataRequest.due_at
        )
    return render_template(
        "staff/requests.html",
        rows=list(db.session.scalars(statement)),
        show_all=show_all,
        now=utcnow(),
        follow_ups=open_follow_ups(),
        button=ButtonForm(),
    )


@bp.route("/requests/new", methods=["GET", "POST"])
def log_request_view() -> View:
    """Log a request that came by e-mail, phone or letter."""
    form = RequestLogForm()
    form.kind.choices = choices((k.value, label(k.value)) for k in RequestKind)
    form.channel.choices = choices((c, label(c)) for c in STAFF_CHANNELS)
    if request.method == "GET":
        form.email.data = request.args.get("email", "")[: Contact.EMAIL_LENGTH]
    if request.method == "POST" and form.validate():
        logged = log_request(
            form.kind.data or "",
            form.channel.data or "",
            form.email.data or "",
            form.verification.data or "",
            form.language.data or current_language(),
            current_staff(),
        )
        flash(_("The request is logged; the deadline runs from today."), "success")
        return redirect(url_for("staff.request_detail", public_id=logged.public_id))
    status = 400 if request.method == "POST" else 200
    return render_template("staff/request_new.html", form=form), status


def _detail(found: DataRequest, status: int = 200, **forms: object) -> tuple[str, int]:
    extend = forms.get("extend") or ExtendForm(prefix="extend")
    extend.months.choices = choices([("1", "1"), ("2", "2")])  # type: ignore[attr-defined]
    return render_template(
        "staff/request.html",
        req=found,
        contact=request_contact(found),
        verify=forms.get("verify") or VerifyForm(prefix="verify"),
        extend=extend,
        deny=forms.get("deny") or DenyForm(prefix="deny"),
        complete=forms.get("complete") or CompleteForm(prefix="complete"),
        button=ButtonForm(),
        now=utcnow(),
        staff={u.id: u for u in db.session.scalars(sa.select(StaffUser))},
    ), status


@bp.get("/requests/<public_id>")
def request_detail(public_id: str) -> View:
    """One request with its identity check, deadline and the actions left."""
    found: DataRequest = db.one_or_404(
        sa.select(DataRequest).where(DataRequest.public_id == public_id)
    )
    audit.record("request.view", target_type="request", target_id=public_id, actor=current_staff())
    db.session.commit()
    return _detail(found)


def _verify(found: DataRequest, actor: StaffUser) -> View | Response | None:
    form = VerifyForm(prefix="verify")
    if not form.validate():
        return _detail(found, 400, verify=form)
    if found.status != RequestStatus.UNVERIFIED:
        raise RequestError(_("This request is already verified or closed."))
    mark_verified(found, f"staff: {form.verification.data}", actor)
    db.session.commit()
    return None


def _carry_out(found: DataRequest, actor: StaffUser) -> View | Response | None:
    contact = request_contact(found)
    if contact is None:
        raise RequestError(_("We hold no data about this address any more."))
    if found.kind == RequestKind.ERASURE:
        return _erase(found, contact, actor)
    outcome = carry_out(found, contact, actor)
    return _staff_export(found, contact) if outcome.export_token else None


def _erase(found: DataRequest, contact: Contact, actor: StaffUser) -> View:
    """First a page that names the person and says what goes and what stays; only its
    button (`confirmed=1`) erases, and the answer reports what was done."""
    if found.status != RequestStatus.VERIFIED:
        raise RequestError(_("Only a verified request can be carried out."))
    preview = erasure_preview(contact)
    person = {"name": contact.name, "email": contact.email or ""}
    if request.form.get("confirmed") != "1":
        return render_template(
            "staff/request_erase.html",
            req=found,
            person=person,
            preview=preview,
            button=ButtonForm(),
        ), 200
    erased = carry_out(found, contact, actor).erasure
    return render_template(
        "staff/request_erased.html", req=found, person=person, preview=preview, erased=erased
    ), 200


def _extend(found: DataRequest, actor: StaffUser) -> View | Response | None:
    form = ExtendForm(prefix="extend")
    form.months.choices = choices([("1", "1"), ("2", "2")])
    if not form.validate():
        return _detail(found, 400, extend=form)
    extend_deadline(found, int(form.months.data or 0), form.reason.data or "", actor)
    return None


def _deny(found: DataRequest, actor: StaffUser) -> View | Response | None:
    form = DenyForm(prefix="deny")
    if not form.validate():
        return _detail(found, 400, deny=form)
    deny_request(found, form.reason.data or "", actor)
    return None


def _complete(found: DataRequest, actor: StaffUser) -> View | Response | None:
    form = CompleteForm(prefix="complete")
    if not form.validate():
        return _detail(found, 400, complete=form)
    complete_request(found, form.outcome.data or "", actor)
    return None


def _cancel(found: DataRequest, actor: StaffUser) -> View | Response | None:
    cancel_request(found, actor)
    return None


ACTIONS = {
    "verify": _verify,
    "carry-out": _carry_out,
    "extend": _extend,
    "deny": _deny,
    "complete": _complete,
    "cancel": _cancel,
}


@bp.post("/requests/<public_id>/<action>")
def request_action(public_id: str, action: str) -> View | Response:
    """Verify, carry out, extend, deny, cancel."""
    handler = ACTIONS.get(action)
    if handler is None:
        abort(404)
    found: DataRequest = db.one_or_404(
        sa.select(DataRequest).where(DataRequest.public_id == public_id)
    )
    try:
        response = handler(found, current_staff())
    except RequestError as exc:
        db.session.rollback()
        flash(str(exc), "info")
        return redirect(url_for("staff.request_detail", public_id=public_id))
    if response is not None:
        return response
    flash(_("Done."), "success")
    return redirect(url_for("staff.request_detail", public_id=public_id))


def _staff_export(found: DataRequest, contact: Contact) -> Response:
    """For a request by letter or phone: the copy staff send on (audited as carried out)."""
    body = json.dumps(build_export(contact), ensure_ascii=False, indent=2, default=str)
    return Response(
        body,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="request-{found.public_id}.json"'},
    )


@bp.post("/follow-ups/<int:task_id>/done")
def follow_up_done(task_id: int) -> BaseResponse:
    """Art. 19: the recipient was told of the erasure."""
    task: FollowUpTask = db.get_or_404(FollowUpTask, task_id)
    if task.done_at is None:
        complete_follow_up(task, current_staff())
    flash(_("Marked as done."), "success")
    return redirect(url_for("staff.requests_queue"))
