"""Personal statistics: a consent purpose of its own (`statistics`).

Without it a reader's clicks are only counted anonymously (per link and day) and no
open pixel is added. With it, their own clicks and (where staff switch the pixel on)
opens are recorded as `PersonalStatistic` rows. It is never pre-ticked; it takes the
same double opt-in as a newsletter when asked for on the subscribe form or through a
forwarded footer link, and it is given at once through the one-day preferences link.
Withdrawing it deletes every row recorded, in the transaction of its ledger row.
"""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from consentapp.extensions import db
from consentapp.models import (
    ConsentAction,
    ConsentPurpose,
    Contact,
    PersonalStatistic,
    utcnow,
)
from consentapp.services.consent import ConsentSource, record_consent

# How the purpose is named to the person (confirmation mail and page, receipt).
LABEL = _l("Personal statistics (which links you click)")


def _record(contact: Contact, action: ConsentAction, source: ConsentSource) -> None:
    record_consent(
        contact=contact,
        purpose=ConsentPurpose.STATISTICS,
        action=action,
        channel=source.channel,
        notice=source.notice,
        origin=source.origin,
        evidence=source.evidence,
        details=dict(source.details) if source.details else None,
    )


def request(contact: Contact, source: ConsentSource) -> bool:
    """Asked for, to be confirmed by the mailed link: a `requested` row (not when it
    is already given). No commit."""
    if contact.statistics_since is not None:
        return False
    _record(contact, ConsentAction.REQUESTED, source)
    return True


def give(contact: Contact, source: ConsentSource) -> bool:
    """Confirmed: from now on the person's own clicks are recorded. A `confirmed` row,
    once (True when this call gave it). No commit."""
    if contact.statistics_since is not None:
        return False
    contact.statistics_since = utcnow()
    _record(contact, ConsentAction.CONFIRMED, source)
    return True


def withdraw(contact: Contact, source: ConsentSource) -> int | None:
    """Withdrawn: everything recorded is deleted with the `withdrawn` row, which says
    how many records went. None when there was no consent to withdraw. No commit."""
    if contact.statistics_since is None:
        return None
    deleted = forget(contact)
    contact.statistics_since = None
    details = {**(source.details or {}), "records_deleted": deleted}
    _record(contact, ConsentAction.WITHDRAWN, replace(source, details=details))
    return deleted


def forget(contact: Contact) -> int:
    """Delete the person's recorded clicks and opens (also on erasure). No commit."""
    result = db.session.execute(
        sa.delete(PersonalStatistic).where(PersonalStatistic.contact_id == contact.id)
    )
    return int(getattr(result, "rowcount", 0) or 0)
