"""Stopping subscriptions: one guarded UPDATE ... RETURNING and one INSERT of their
ledger rows, for the one-click link and for every other withdrawal alike (P7).

The UPDATE moves only the subscriptions still pending or confirmed, and says which it
moved: of two requests racing to stop the same topic, one stops it and writes its
ledger row, the other records nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import cast

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.models import (
    ConsentAction,
    ConsentEvent,
    ConsentPurpose,
    Subscription,
    SubscriptionStatus,
)
from consentapp.services.consent import NoticeVersion, Origin, ledger_values
from consentapp.services.outgoing_webhooks import emit_consent

ACTIVE = (SubscriptionStatus.PENDING, SubscriptionStatus.CONFIRMED)

_SUBSCRIPTIONS = cast(sa.Table, Subscription.__table__)
_EVENTS = cast(sa.Table, ConsentEvent.__table__)
_STOP = (
    sa.update(_SUBSCRIPTIONS)
    .where(
        _SUBSCRIPTIONS.c.id.in_(sa.bindparam("ids", expanding=True)),
        _SUBSCRIPTIONS.c.status.in_(ACTIVE),
    )
    .values(
        status=SubscriptionStatus.UNSUBSCRIBED,
        unsubscribed_at=sa.bindparam("now"),
        updated_at=sa.bindparam("now"),
    )
    .returning(_SUBSCRIPTIONS.c.topic_id)
)


def stop_subscriptions(
    *,
    subject_id: str,
    wanted: Sequence[tuple[int, int]],
    channel: str,
    notice: NoticeVersion,
    origin: Origin | None,
    details: Mapping[str, object] | None,
    now: datetime,
) -> list[int]:
    """Stop the (subscription id, topic id) pairs of `wanted` still pending or
    confirmed, writing a ledger row and a webhook event for each, in the order given.
    Returns the topics this call stopped. No commit.

    ORM objects of the subscriptions stopped are not touched: callers holding them
    bring them up to date (`subscriptions.withdraw` does)."""
    if not wanted:
        return []
    db.session.flush()  # earlier ledger rows keep their place before these
    ids = [subscription for subscription, _ in wanted]
    moved = set(db.session.execute(_STOP, {"ids": ids, "now": now}).scalars())
    stopped = [topic_id for _, topic_id in wanted if topic_id in moved]
    if not stopped:
        return []
    written = dict(details) if details else None
    db.session.execute(
        sa.insert(_EVENTS),
        [
            ledger_values(
                subject_id=subject_id,
                purpose=ConsentPurpose.NEWSLETTER,
                action=ConsentAction.WITHDRAWN,
                channel=channel,
                notice=notice,
                origin=origin,
                topic_id=topic_id,
                details=written,
                occurred_at=now,
            )
            for topic_id in stopped
        ],
    )
    for topic_id in stopped:
        emit_consent(
            ConsentPurpose.NEWSLETTER, ConsentAction.WITHDRAWN, subject_id, topic_id, written
        )
    return stopped
