"""What bounces and complaints do to a contact: the thresholds, the undeliverable mark
and how it is lifted.

An undeliverable address gets nothing the company starts (newsletters, welcome mails,
notices) until the person shows the mailbox works again: a double opt-in they
confirm, or a link they asked for and used. Mails that answer what the person just
did (a confirmation or preferences link, the answers to a data request) still go:
they are how the person proves the mailbox, and the law wants requests answered.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from consentapp.extensions import db
from consentapp.models import Bounce, BounceType, ConsentChannel, Contact, StaffUser, utcnow
from consentapp.services import audit
from consentapp.services.subscriptions import withdraw

# Mail kinds that answer the person's own request: sent even to an undeliverable address.
ANSWERS = frozenset(
    {
        "subscribe_confirm",
        "subscribe_already",
        "preferences_link",
        "email_change_verify",
        "contact_ack",
        "identity_check",
        "no_data",
        "request_outcome",
        "request_denied",
        "erasure_done",
    }
)

# Why the mark was lifted, as the audit log records it.
CLEARED_BY_OPT_IN = "confirmed opt-in"
CLEARED_BY_LINK = "link used"
CLEARED_BY_NEW_ADDRESS = "address changed"
CLEARED_BY_STAFF = "staff"


def undeliverable_among(mails: Iterable[tuple[int | None, str, str]]) -> set[tuple[int, str]]:
    """Checked by the worker just before sending: of these (contact, address, kind)
    mails, the (contact, address) pairs it must not send to: mails the company starts
    to the address of a contact marked undeliverable (a mail about the contact to
    another address, the staff's copy of an inquiry say, still goes). One query."""
    wanted = {
        (contact, address)
        for contact, address, kind in mails
        if contact is not None and kind not in ANSWERS
    }
    if not wanted:
        return set()
    rows = db.session.execute(
        sa.select(Contact.id, Contact.email).where(
            Contact.id.in_({contact for contact, _ in wanted}),
            Contact.undeliverable_at.is_not(None),
        )
    )
    return {(contact, address or "") for contact, address in rows} & wanted


def may_send_to(contact_id: int | None, address: str, kind: str) -> bool:
    """`undeliverable_among` for one mail."""
    return not undeliverable_among([(contact_id, address, kind)])


def _counted(contact: Contact, kind: BounceType, days: int | None = None) -> int:
    query = sa.select(sa.func.count(Bounce.id)).where(
        Bounce.contact_id == contact.id, Bounce.kind == kind, Bounce.counts.is_(True)
    )
    if days:
        query = query.where(Bounce.occurred_at >= utcnow() - timedelta(days=days))
    return int(db.session.scalar(query) or 0)


def apply_thresholds(contact: Contact, bounce: Bounce, campaign: str | None) -> bool:
    """After `bounce` was added: withdraw on a complaint, mark the address undeliverable
    when a threshold is reached. Returns whether the contact was marked now. No commit."""
    config = current_app.config
    if bounce.kind == BounceType.COMPLAINT:
        if config["BOUNCE_COMPLAINT_WITHDRAWS"] and contact.email:
            details: dict[str, object] = {"report": bounce.source}
            if campaign:
                details["campaign"] = campaign
            withdraw(contact, None, ConsentChannel.COMPLAINT, None, contact.language, details)
        limit, days = config["BOUNCE_COMPLAINT_LIMIT"], None
    elif bounce.kind == BounceType.HARD:
        limit, days = config["BOUNCE_HARD_LIMIT"], None
    else:
        limit, days = config["BOUNCE_SOFT_LIMIT"], config["BOUNCE_SOFT_DAYS"]
    if not limit or contact.undeliverable_at is not None:
        return False
    db.session.flush()
    count = _counted(contact, bounce.kind, days)
    if count < limit:
        return False
    contact.undeliverable_at = utcnow()
    contact.undeliverable_reason = bounce.kind.value
    audit.record(
        "contact.undeliverable",
        target_type="contact",
        target_id=contact.public_id,
        details={"reason": bounce.kind.value, "bounces": count, "source": bounce.source},
        actor=None,
        keep_address=False,
    )
    return True


def clear(contact: Contact, how: str, reason: str = "", actor: StaffUser | None = None) -> bool:
    """Lift the undeliverable mark (the bounce history stays, the counting starts
    again); recorded in the audit log. False when there was no mark. No commit."""
    if contact.undeliverable_at is None:
        return False
    was = contact.undeliverable_reason
    contact.undeliverable_at = None
    contact.undeliverable_reason = None
    db.session.execute(
        sa.update(Bounce).where(Bounce.contact_id == contact.id).values(counts=False),
        execution_options={"synchronize_session": False},
    )
    details: dict[str, object] = {"how": how, "was": was}
    if reason:
        details["reason"] = reason
    audit.record(
        "contact.deliverable",
        target_type="contact",
        target_id=contact.public_id,
        details=details,
        actor=actor,
    )
    return True
