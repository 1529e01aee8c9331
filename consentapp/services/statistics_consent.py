"""Personal statistics: a consent purpose of its own (`statistics`).

Without it a reader's clicks are only counted anonymously (per link and day) and no
open pixel is added. With it, their own clicks and (where staff switch the pixel on)
opens are recorded as `PersonalStatistic` rows. It is never pre-ticked; it takes the
same double opt-in as a newsletter when asked for on the subscribe form or through a
forwarded footer link, and it is given at once through the one-day preferences link.
Withdrawing it, leaving every newsletter or being erased deletes every row recorded,
in the transaction of its ledger row.

`contacts.statistics_since` changes only by a guarded UPDATE (set when empty, emptied
when set), so two requests at once write one ledger row between them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm.attributes import set_committed_value

from consentapp.extensions import db
from consentapp.models import (
    ConsentAction,
    ConsentEvent,
    ConsentPurpose,
    Contact,
    PersonalStatistic,
    utcnow,
)
from consentapp.services.consent import ConsentSource, NoticeVersion, Origin, ledger_values
from consentapp.services.consent import record_consent as _record_consent
from consentapp.services.outgoing_webhooks import emit_consent

# How the purpose is named to the person (confirmation mail and page, receipt).
LABEL = _l("Personal statistics (which links you click)")


def _record(contact: Contact, action: ConsentAction, source: ConsentSource) -> None:
    _record_consent(
        contact=contact,
        purpose=ConsentPurpose.STATISTICS,
        action=action,
        channel=source.channel,
        notice=source.notice,
        origin=source.origin,
        evidence=source.evidence,
        details=dict(source.details) if source.details else None,
    )


def _switch(contact_id: int, value: datetime | None) -> bool:
    """Set (`value`) or empty (None) the consent, only if it is not so already."""
    holds = Contact.statistics_since.is_(None) if value else Contact.statistics_since.is_not(None)
    result = db.session.execute(
        sa.update(Contact)
        .where(Contact.id == contact_id, holds)
        .values(statistics_since=value)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


def request(contact: Contact, source: ConsentSource) -> bool:
    """Asked for, to be confirmed by the mailed link: a `requested` row (not when it
    is already given). No commit."""
    if contact.statistics_since is not None:
        return False
    _record(contact, ConsentAction.REQUESTED, source)
    return True


def awaits_confirmation(contact: Contact) -> bool:
    """Asked for and not answered since: the person's last statistics row is a
    `requested` one (a link mailed before a withdrawal cannot give it again)."""
    last = db.session.scalar(
        sa.select(ConsentEvent.action)
        .where(
            ConsentEvent.subject_id == contact.public_id,
            ConsentEvent.purpose == ConsentPurpose.STATISTICS,
        )
        .order_by(ConsentEvent.id.desc())
        .limit(1)
    )
    return contact.statistics_since is None and last == ConsentAction.REQUESTED


def give(contact: Contact, source: ConsentSource) -> bool:
    """Confirmed: from now on the person's own clicks are recorded. A `confirmed` row,
    once (True when this call gave it). No commit."""
    now = utcnow()
    if contact.statistics_since is not None or not _switch(contact.id, now):
        return False
    set_committed_value(contact, "statistics_since", now)
    _record(contact, ConsentAction.CONFIRMED, source)
    return True


def withdraw(contact: Contact, source: ConsentSource) -> int | None:
    """Withdrawn: everything recorded is deleted with the `withdrawn` row, which says
    how many records went. None when there was no consent to withdraw. No commit."""
    if contact.statistics_since is None or not _switch(contact.id, None):
        return None
    set_committed_value(contact, "statistics_since", None)
    deleted = forget(contact.id)
    details = {**(source.details or {}), "records_deleted": deleted}
    _record(contact, ConsentAction.WITHDRAWN, replace(source, details=details))
    return deleted


def end_with_last_newsletter(
    *,
    contact_id: int,
    subject_id: str,
    channel: str,
    notice: NoticeVersion,
    origin: Origin | None,
    details: Mapping[str, object] | None = None,
) -> int | None:
    """The person left their last newsletter: personal statistics end with it (the
    record of processing says so), by the same guarded UPDATE, for callers holding
    ids only (one-click). No commit."""
    if not _switch(contact_id, None):
        return None
    deleted = forget(contact_id)
    written = {**(details or {}), "records_deleted": deleted, "reason": "no newsletter left"}
    values = ledger_values(
        subject_id=subject_id,
        purpose=ConsentPurpose.STATISTICS,
        action=ConsentAction.WITHDRAWN,
        channel=channel,
        notice=notice,
        origin=origin,
        details=written,
    )
    db.session.execute(sa.insert(ConsentEvent), [values])
    emit_consent(ConsentPurpose.STATISTICS, ConsentAction.WITHDRAWN, subject_id, None, written)
    return deleted


def forget(contact_id: int) -> int:
    """Delete the person's recorded clicks and opens (also on erasure). No commit."""
    result = db.session.execute(
        sa.delete(PersonalStatistic).where(PersonalStatistic.contact_id == contact_id)
    )
    return int(getattr(result, "rowcount", 0) or 0)
