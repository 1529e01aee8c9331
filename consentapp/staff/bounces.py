"""Bounces and complaints in the staff area: the list, and lifting a contact's
undeliverable mark with a reason."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from consentapp.extensions import db
from consentapp.models import BounceType, Contact
from consentapp.request_checks import View, small_int
from consentapp.services import audit, undeliverable
from consentapp.services.bounces_admin import (
    BadFilter,
    BounceFilters,
    BouncePage,
    campaign_choices,
    list_bounces,
    read_filters,
)
from consentapp.staff import bp
from consentapp.staff.access import current_staff
from consentapp.staff.contacts import render_contact
from consentapp.staff.forms import ClearUndeliverableForm


@bp.get("/bounces")
def bounces() -> View:
    """Bounces and complaints, newest first; a filter that names nothing is a 400."""
    page = min(small_int(request.args.get("page"), 1) or 1, 100_000)
    try:
        filters = read_filters(request.args)
    except BadFilter as problem:
        return _render(BounceFilters(), BouncePage([], 1, False), str(problem)), 400
    result = list_bounces(filters, page)
    html = _render(filters, result)
    # Rendered before the audit entry: a commit would reload every row shown.
    audit.record(
        "bounces.list",
        details={**_query(filters), "page": result.page, "shown": len(result.rows)},
        actor=current_staff(),
    )
    db.session.commit()
    return html


def _render(filters: BounceFilters, result: BouncePage, problem: str = "") -> str:
    return render_template(
        "staff/bounces.html",
        result=result,
        filters=filters,
        query=_query(filters),
        problem=problem,
        kinds=[kind.value for kind in BounceType],
        campaigns=campaign_choices(),
    )


def _query(filters: BounceFilters) -> dict[str, str]:
    """The filters as query arguments, for the pager's links."""
    values = {
        "type": filters.kind.value if filters.kind else "",
        "campaign": filters.campaign.public_id if filters.campaign else "",
        "from": filters.since.isoformat() if filters.since else "",
        "to": filters.until.isoformat() if filters.until else "",
    }
    return {name: value for name, value in values.items() if value}


@bp.post("/contacts/<public_id>/deliverable")
def clear_undeliverable(public_id: str) -> View | BaseResponse:
    """Lift the undeliverable mark (the person says the mailbox works again); audited."""
    person: Contact = db.one_or_404(sa.select(Contact).where(Contact.public_id == public_id))
    form = ClearUndeliverableForm()
    if not form.validate():
        return render_contact(public_id, clear_form=form, status=400)
    reason = (form.reason.data or "").strip()
    if undeliverable.clear(person, undeliverable.CLEARED_BY_STAFF, reason, current_staff()):
        db.session.commit()
        flash(_("The address gets mail again. The bounce history stays."), "success")
    else:
        flash(_("This address was not marked undeliverable."), "info")
    return redirect(url_for("staff.contact", public_id=public_id))
