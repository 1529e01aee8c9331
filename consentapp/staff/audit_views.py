"""The audit log, with filters: admins only."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import sqlalchemy as sa
from flask import render_template, request, url_for
from sqlalchemy import Select
from werkzeug.datastructures import MultiDict

from consentapp.audit_words import ACTIONS, action_choices
from consentapp.extensions import db
from consentapp.models import (
    AuditEntry,
    Campaign,
    Contact,
    DataRequest,
    Inquiry,
    StaffUser,
    WebhookEndpoint,
)
from consentapp.request_checks import small_int
from consentapp.services.audit import verify_chain
from consentapp.staff import bp

PER_PAGE = 100

# Where an entry's target can be opened: the model and the page that shows it.
TARGETS: dict[
    str, tuple[type[Campaign | Contact | DataRequest | Inquiry | WebhookEndpoint], str]
] = {
    "contact": (Contact, "staff.contact"),
    "request": (DataRequest, "staff.request_detail"),
    "inquiry": (Inquiry, "staff.inquiry"),
    "campaign": (Campaign, "staff.campaign"),
    "webhook": (WebhookEndpoint, "staff.webhook"),
}


def _day(value: str) -> datetime | None:
    try:
        return datetime.combine(datetime.strptime(value, "%Y-%m-%d").date(), time.min).astimezone()
    except ValueError:
        return None


def _filtered(statement: Select[AuditEntry], args: MultiDict[str, str]) -> Select[AuditEntry]:
    """The entries the filters ask for; bad values are ignored, never an error."""
    actor = small_int(args.get("actor"))
    if actor is not None:
        statement = statement.where(AuditEntry.actor_id == actor)
    action = _action(args)
    if action in ACTIONS:
        statement = statement.where(AuditEntry.action == action)
    elif action:  # a prefix, as older links and hand-written addresses give
        escaped = action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        statement = statement.where(AuditEntry.action.like(f"{escaped}%", escape="\\"))
    target = args.get("target", "").strip()[:64]
    if target:
        statement = statement.where(AuditEntry.target_id == target)
    since, until = _day(args.get("since", "")), _day(args.get("until", ""))
    if since:
        statement = statement.where(AuditEntry.occurred_at >= since)
    if until:
        statement = statement.where(AuditEntry.occurred_at < until + timedelta(days=1))
    before = small_int(args.get("before"))
    if before is not None:
        statement = statement.where(AuditEntry.id < before)
    return statement


def _action(args: MultiDict[str, str]) -> str:
    return args.get("action", "").strip()[:64]


def _links(entries: list[AuditEntry]) -> dict[int, str]:
    """The page of each entry's target that still exists, by entry id."""
    links: dict[int, str] = {}
    for kind, (model, endpoint) in TARGETS.items():
        wanted = {e.target_id for e in entries if e.target_type == kind and e.target_id}
        found = set(
            db.session.scalars(sa.select(model.public_id).where(model.public_id.in_(wanted)))
        )
        for e in entries:
            if e.target_type == kind and e.target_id in found:
                links[e.id] = url_for(endpoint, public_id=e.target_id)
    accounts = {e.target_id for e in entries if e.target_type == "staff" and e.target_id}
    ids = [int(v) for v in accounts if v.isdigit()]
    known = {
        str(i) for i in db.session.scalars(sa.select(StaffUser.id).where(StaffUser.id.in_(ids)))
    }
    for e in entries:
        if e.target_type == "staff" and e.target_id in known:
            links[e.id] = url_for("staff.user", user_id=int(e.target_id))
    return links


@bp.get("/audit")
def audit_log() -> str:
    """Newest first; filter by staff member, action, target and dates."""
    args = request.args
    statement = _filtered(sa.select(AuditEntry), args)
    rows = list(db.session.scalars(statement.order_by(AuditEntry.id.desc()).limit(PER_PAGE + 1)))
    staff = db.session.scalars(sa.select(StaffUser).order_by(StaffUser.email)).all()
    entries = rows[:PER_PAGE]
    return render_template(
        "staff/audit.html",
        entries=entries,
        links=_links(entries),
        next_before=rows[PER_PAGE - 1].id if len(rows) > PER_PAGE else None,
        staff=staff,
        actions=action_choices(),
        filters={k: args.get(k, "") for k in ("actor", "target", "since", "until")}
        | {"action": _action(args)},
        chain=verify_chain() if args.get("verify") == "1" else None,
    )
