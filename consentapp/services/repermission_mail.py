"""The mails of a re-permission round: one per person, in their language, with a
"yes, keep sending me …" button per topic asked and a one-click way out of them all.

The worker queues them in batches of people (`run_due_repermissions`), as it queues
campaigns; a round whose mails are all queued is open for answers.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale, format_date
from flask_babel import lazy_gettext as _l

from consentapp.extensions import db
from consentapp.links import external_url, list_unsubscribe_headers, preferences_url
from consentapp.mail.outbox import queue_email
from consentapp.mail.render import edition_language
from consentapp.models import (
    Contact,
    Repermission,
    RepermissionAsk,
    RepermissionStatus,
    Subscription,
    SubscriptionStatus,
    Topic,
)
from consentapp.tokens import Purpose, make_token

QUEUE_BATCH = 500  # people per pass
SUBJECT = _l("Do you still want our newsletters?")


def still_wanted_url(round_: Repermission, contact: Contact, topic: Topic) -> str:
    """The button of one topic: it opens a page that asks to confirm."""
    token = make_token(Purpose.STILL_WANTED, contact, r=round_.public_id, t=topic.slug)
    return external_url("subscriptions.still_wanted", token=token)


def _queue_one(round_: Repermission, contact: Contact, topics: list[Topic]) -> None:
    language = edition_language(contact.language)
    unsubscribe = external_url(
        "subscriptions.unsubscribe",
        token=make_token(Purpose.UNSUBSCRIBE, contact, t=[topic.slug for topic in topics]),
    )
    with force_locale(language):
        deadline = format_date(round_.deadline_at, "long")
    context: dict[str, Any] = {
        "questions": [
            {"label": topic.label(language), "url": still_wanted_url(round_, contact, topic)}
            for topic in topics
        ],
        "deadline": deadline,
        "unsubscribe_url": unsubscribe,
        "preferences_url": preferences_url(contact),
    }
    queue_email(
        to=contact.mail_address,
        template="still_wanted",
        language=language,
        subject=SUBJECT,
        context=context,
        contact_id=contact.id,
        # Not to someone who left every newsletter before it goes out.
        requires_subscription=True,
        headers=list_unsubscribe_headers(unsubscribe),
    )


def queue_batch(round_: Repermission, size: int = QUEUE_BATCH) -> int:
    """Queue the mails of the next `size` people. Commits.

    As with campaigns, a no-op UPDATE takes the round's lock first, so two workers never
    queue the same person's mail."""
    locked = db.session.execute(
        sa.update(Repermission)
        .where(Repermission.id == round_.id, Repermission.status == RepermissionStatus.SENDING)
        .values(people=Repermission.people)
        .returning(Repermission.id),
        execution_options={"synchronize_session": False},
    ).scalar_one_or_none()
    if locked is None:
        db.session.commit()
        return 0
    people = db.session.scalars(
        sa.select(RepermissionAsk.contact_id)
        .where(RepermissionAsk.repermission_id == round_.id, RepermissionAsk.mailed.is_(False))
        .group_by(RepermissionAsk.contact_id)
        .order_by(RepermissionAsk.contact_id)
        .limit(size)
    ).all()
    asks = db.session.execute(
        sa.select(RepermissionAsk.contact_id, Topic)
        .join(Topic, Topic.id == RepermissionAsk.topic_id)
        .join(
            Subscription,
            sa.and_(
                Subscription.contact_id == RepermissionAsk.contact_id,
                Subscription.topic_id == RepermissionAsk.topic_id,
            ),
        )
        .where(
            RepermissionAsk.repermission_id == round_.id,
            RepermissionAsk.contact_id.in_(people),
            # Left since the round started: no button for it.
            Subscription.status == SubscriptionStatus.CONFIRMED,
        )
        .order_by(Topic.position, Topic.id)
    ).all()
    topics: dict[int, list[Topic]] = {}
    for contact_id, topic in asks:
        topics.setdefault(contact_id, []).append(topic)
    contacts = db.session.scalars(sa.select(Contact).where(Contact.id.in_(people)))
    for contact in contacts:
        # Not when erased under a legal hold meanwhile, or every topic was left since.
        if contact.email is not None and topics.get(contact.id):
            _queue_one(round_, contact, topics[contact.id])
    db.session.execute(
        sa.update(RepermissionAsk)
        .where(RepermissionAsk.repermission_id == round_.id, RepermissionAsk.contact_id.in_(people))
        .values(mailed=True),
        execution_options={"synchronize_session": False},
    )
    if len(people) < size:
        round_.status = RepermissionStatus.OPEN
    db.session.commit()
    return len(people)


def run_due_repermissions(batch: int = QUEUE_BATCH) -> int:
    """The worker's part: one batch of every round still sending. Returns the mails
    queued."""
    rounds = db.session.scalars(
        sa.select(Repermission).where(Repermission.status == RepermissionStatus.SENDING)
    ).all()
    return sum(queue_batch(round_, batch) for round_ in rounds)
