"""The unsubscribe link's POST, on the path a mail provider's burst takes (P7, RFC 8058).

After a large campaign, mailbox providers POST the List-Unsubscribe-Post target for
everyone who pressed "unsubscribe" in their mail program, hundreds a second. This does
what `subscriptions.withdraw` does, through the same `withdrawal.stop_subscriptions`
(the link's topics stop at once, one ledger row per topic stopped with the notice in
force, the webhook events), in as few statements as the rules allow, without building
ORM objects:

1. one read: the contact the link names, its subscriptions with their topics, and the
   notice version in force in the contact's language (or the default language);
2. one UPDATE of the subscriptions still pending or confirmed, guarded by their status
   and returning the rows it moved, so of two requests racing for the same topic one
   stops it and the other records nothing;
3. one INSERT of a ledger row for each subscription moved;
4. the commit, which holds the three.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.models import (
    Contact,
    PrivacyNotice,
    Subscription,
    Topic,
    utcnow,
)
from consentapp.services import statistics_consent
from consentapp.services.consent import Origin
from consentapp.services.notices import NO_NOTICE_PUBLISHED, NoticeMissing
from consentapp.services.withdrawal import ACTIVE, stop_subscriptions
from consentapp.tokens import Purpose, TokenInvalid, read_token, token_matches

_CONTACTS = cast(sa.Table, Contact.__table__)
_SUBSCRIPTIONS = cast(sa.Table, Subscription.__table__)
_TOPICS = cast(sa.Table, Topic.__table__)
_NOTICES = cast(sa.Table, PrivacyNotice.__table__)

_LATEST = sa.select(sa.func.max(_NOTICES.c.version)).scalar_subquery()
_READING = (
    sa.select(
        _CONTACTS.c.id.label("contact_id"),
        _CONTACTS.c.email,
        _CONTACTS.c.language,
        _CONTACTS.c.statistics_since,
        _SUBSCRIPTIONS.c.id.label("subscription"),
        _SUBSCRIPTIONS.c.topic_id,
        _SUBSCRIPTIONS.c.status,
        _TOPICS.c.slug,
        _NOTICES.c.id.label("notice_id"),
        _NOTICES.c.version.label("notice_version"),
        _NOTICES.c.language.label("notice_language"),
        _NOTICES.c.sha256.label("notice_sha256"),
    )
    .select_from(
        _CONTACTS.outerjoin(_SUBSCRIPTIONS, _SUBSCRIPTIONS.c.contact_id == _CONTACTS.c.id)
        .outerjoin(_TOPICS, _TOPICS.c.id == _SUBSCRIPTIONS.c.topic_id)
        .outerjoin(
            _NOTICES,
            sa.and_(
                _NOTICES.c.version == _LATEST,
                _NOTICES.c.language.in_([_CONTACTS.c.language, sa.bindparam("default_language")]),
            ),
        )
    )
    .where(_CONTACTS.c.public_id == sa.bindparam("public_id"))
)


@dataclass(frozen=True)
class _Notice:
    id: int
    version: int
    language: str
    sha256: str


def _notice(rows: Sequence[Any], language: str, default: str) -> _Notice:
    """The notice version in force in `language`, else in `default`."""
    found = {row.notice_language: row for row in rows if row.notice_id is not None}
    row = found.get(language) or found.get(default)
    if row is None:
        raise NoticeMissing(NO_NOTICE_PUBLISHED)
    return _Notice(row.notice_id, row.notice_version, row.notice_language, row.notice_sha256)


def one_click_unsubscribe(raw: str, channel: str, origin: Origin, default_language: str) -> int:
    """Withdraw the link's topics now (all topics if it names none) and commit; returns
    how many were stopped. A link that cannot be used raises TokenInvalid."""
    token = read_token(Purpose.UNSUBSCRIBE, raw)
    public_id = token.public_id
    rows = db.session.execute(
        _READING, {"public_id": public_id, "default_language": default_language}
    ).all()
    if not rows or not token_matches(token, rows[0].email):
        raise TokenInvalid("contact gone or address changed")
    named = token.payload.get("t")
    chosen = {str(slug) for slug in named} if isinstance(named, list) else None
    wanted = sorted(
        {
            (row.subscription, row.topic_id)
            for row in rows
            if row.status in ACTIVE and (chosen is None or row.slug in chosen)
        },
        key=lambda pair: pair[1],
    )
    if not wanted:
        db.session.rollback()
        return 0
    notice = _notice(rows, rows[0].language, default_language)
    campaign = token.payload.get("k")
    stopped = stop_subscriptions(
        subject_id=public_id,
        wanted=wanted,
        channel=channel,
        notice=notice,
        origin=origin,
        details={"campaign": str(campaign)} if campaign else None,
        now=utcnow(),
    )
    active = {row.topic_id for row in rows if row.status in ACTIVE}
    if rows[0].statistics_since is not None and stopped and active <= set(stopped):
        # The last newsletter is left: personal statistics end with it.
        statistics_consent.end_with_last_newsletter(
            contact_id=rows[0].contact_id,
            subject_id=public_id,
            channel=channel,
            notice=notice,
            origin=origin,
        )
    db.session.commit()
    return len(stopped)
