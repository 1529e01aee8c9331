"""Re-permission rounds: ask confirmed subscribers whether they still want a newsletter.

Staff pick who is asked (confirmed more than N months ago, or never confirmed under
notice version N or later) and by when. Each person gets one mail with a button per
topic; pressing one and confirming on the page it opens writes a fresh `confirmed`
ledger row under the notice in force. Nothing happens by itself at the deadline: an
admin sees who did not answer and may set them to lapse (`withdrawn`, channel
`lapsed`), each withdrawal with its ledger row, the round with its audit entry.
The mails are queued by the worker in batches (`repermission_mail.py`); the answers
are `repermission_answers.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from consentapp.extensions import db
from consentapp.models import (
    ConsentAction,
    ConsentChannel,
    ConsentEvent,
    ConsentPurpose,
    Contact,
    PrivacyNotice,
    Repermission,
    RepermissionAsk,
    RepermissionRule,
    RepermissionStatus,
    StaffUser,
    Subscription,
    SubscriptionStatus,
    Topic,
    utcnow,
)
from consentapp.permissions import Permission
from consentapp.services import audit, notices
from consentapp.services.campaigns import N_, CampaignError, require_permission
from consentapp.services.subscriptions import withdraw

MONTHS_RANGE = (1, 240)
DAYS_RANGE = (7, 365)


class RepermissionError(CampaignError):
    """A step the round's state or the choice does not allow (translated message)."""


@dataclass(frozen=True)
class RoundChoice:
    """Who a round asks: by the age of the confirmation or by the notice version it was
    given under, about these topics (every topic when empty)."""

    rule: RepermissionRule
    months: int | None = None
    notice_version: int | None = None
    topics: tuple[Topic, ...] = ()


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (the month's last day
    when it is shorter)."""
    month_index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(month_index, 12)
    month += 1
    next_month = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=moment.tzinfo)
    last_day = (next_month - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(moment.day, last_day))


def end_of_local_day(moment: datetime) -> datetime:
    """The last second of `moment`'s day where the company is (`TIMEZONE`), in UTC: the
    mail names a date, and answers are taken until that day is over."""
    zone = ZoneInfo(current_app.config["TIMEZONE"])
    local = moment.astimezone(zone).date()
    return datetime.combine(local, time(23, 59, 59), zone).astimezone(UTC)


def _confirmed_under(version: int) -> sa.ColumnElement[bool]:
    """The subscription was confirmed (or given) under notice `version` or later."""
    return (
        sa.select(ConsentEvent.id)
        .where(
            ConsentEvent.subject_id == Contact.public_id,
            ConsentEvent.topic_id == Subscription.topic_id,
            ConsentEvent.purpose == ConsentPurpose.NEWSLETTER,
            ConsentEvent.action.in_([ConsentAction.CONFIRMED, ConsentAction.GIVEN]),
            ConsentEvent.notice_version >= version,
        )
        .exists()
    )


def _asked(choice: RoundChoice, now: datetime) -> sa.Select[int, int]:
    """(contact id, topic id) of every confirmed subscription the round asks about:
    not those a round that is still open asks about already."""
    asked_already = (
        sa.select(RepermissionAsk.id)
        .join(Repermission, Repermission.id == RepermissionAsk.repermission_id)
        .where(
            RepermissionAsk.contact_id == Subscription.contact_id,
            RepermissionAsk.topic_id == Subscription.topic_id,
            Repermission.status != RepermissionStatus.CLOSED,
        )
        .exists()
    )
    statement = (
        sa.select(Subscription.contact_id, Subscription.topic_id)
        .join(Contact, Contact.id == Subscription.contact_id)
        .where(
            Subscription.status == SubscriptionStatus.CONFIRMED,
            Contact.email.is_not(None),
            Contact.undeliverable_at.is_(None),
            # A round still running asks them already (a second press starts nothing).
            ~asked_already,
        )
    )
    if choice.topics:
        statement = statement.where(Subscription.topic_id.in_([t.id for t in choice.topics]))
    if choice.rule == RepermissionRule.CONFIRMED_BEFORE:
        cutoff = months_before(now, choice.months or 0)
        return statement.where(Subscription.confirmed_at < cutoff)
    return statement.where(~_confirmed_under(choice.notice_version or 0))


@dataclass(frozen=True)
class Preview:
    """How many people a round would ask (or would let lapse), and per topic."""

    people: int
    by_topic: dict[str, int]


def _preview(pairs: sa.Select[int, int]) -> Preview:
    rows = db.session.execute(pairs).all()
    topics = {topic.id: topic.slug for topic in db.session.scalars(sa.select(Topic))}
    by_topic: dict[str, int] = {}
    for _, topic_id in rows:
        by_topic[topics[topic_id]] = by_topic.get(topics[topic_id], 0) + 1
    return Preview(len({contact_id for contact_id, _ in rows}), by_topic)


def check_choice(choice: RoundChoice) -> RoundChoice:
    """The choice, refused when its numbers are out of range."""
    if choice.rule == RepermissionRule.CONFIRMED_BEFORE:
        if choice.months is None or not MONTHS_RANGE[0] <= choice.months <= MONTHS_RANGE[1]:
            raise RepermissionError(N_("choose a number of months from 1 to 240"))
    else:
        latest = notices.latest_version() or 0
        if choice.notice_version is None or not 2 <= choice.notice_version <= latest:
            raise RepermissionError(N_("choose a published notice version after the first"))
    return choice


def preview(choice: RoundChoice) -> Preview:
    """Who the round would ask now."""
    return _preview(_asked(check_choice(choice), utcnow()))


def start_round(choice: RoundChoice, days: int, actor: StaffUser | None) -> Repermission:
    """Create the round and its questions (one INSERT … SELECT); the worker mails them.
    Audited. Commits."""
    require_permission(actor, Permission.CAMPAIGN_SEND)
    check_choice(choice)
    if not DAYS_RANGE[0] <= days <= DAYS_RANGE[1]:
        raise RepermissionError(N_("give people from 7 to 365 days to answer"))
    now = utcnow()
    round_ = Repermission(
        rule=choice.rule,
        months=choice.months if choice.rule == RepermissionRule.CONFIRMED_BEFORE else None,
        notice_version=choice.notice_version
        if choice.rule == RepermissionRule.NOTICE_BEFORE
        else None,
        topics=[topic.slug for topic in choice.topics],
        deadline_at=end_of_local_day(now + timedelta(days=days)),
        created_by_id=actor.id if actor else None,
    )
    db.session.add(round_)
    db.session.flush()
    asked = _asked(choice, now).subquery()
    db.session.execute(
        sa.insert(RepermissionAsk).from_select(
            ["repermission_id", "contact_id", "topic_id", "mailed"],
            sa.select(sa.literal(round_.id), asked.c.contact_id, asked.c.topic_id, sa.false()),
        )
    )
    round_.people = _count_people(round_)
    if not round_.people:
        db.session.rollback()
        raise RepermissionError(N_("nobody matches: there is no one to ask"))
    audit.record(
        "repermission.start",
        target_type="repermission",
        target_id=round_.public_id,
        details=_round_details(round_),
        actor=actor,
    )
    db.session.commit()
    return round_


def _count_people(round_: Repermission, *where: sa.ColumnElement[bool]) -> int:
    return int(
        db.session.scalar(
            sa.select(sa.func.count(sa.distinct(RepermissionAsk.contact_id))).where(
                RepermissionAsk.repermission_id == round_.id, *where
            )
        )
        or 0
    )


def _round_details(round_: Repermission) -> dict[str, object]:
    details: dict[str, object] = {"rule": str(round_.rule), "people": round_.people}
    if round_.months is not None:
        details["months"] = round_.months
    if round_.notice_version is not None:
        details["notice_version"] = round_.notice_version
    if round_.topics:
        details["topics"] = list(round_.topics)
    details["until"] = round_.deadline_at.isoformat()
    return details


@dataclass(frozen=True)
class Figures:
    """A round as staff follow it: people asked, who answered, who may still answer,
    who lapsed."""

    asked: int
    answered: int
    waiting: int
    lapsed: int


def figures(round_: Repermission) -> Figures:
    answered = _count_people(round_, RepermissionAsk.answered_at.is_not(None))
    lapsed = _count_people(round_, RepermissionAsk.lapsed_at.is_not(None))
    waiting = _count_people(round_, *_unanswered(round_))
    return Figures(round_.people, answered, waiting, lapsed)


def _unanswered(round_: Repermission) -> tuple[sa.ColumnElement[bool], ...]:
    """Questions not answered whose subscription is still confirmed as it was when they
    were asked (who left on their own meanwhile, or confirmed again some other way, is
    not waiting for anything)."""
    still = (
        sa.select(Subscription.id)
        .where(
            Subscription.contact_id == RepermissionAsk.contact_id,
            Subscription.topic_id == RepermissionAsk.topic_id,
            Subscription.status == SubscriptionStatus.CONFIRMED,
            # Confirmed again since the question (another round, a new sign-up): answered.
            Subscription.confirmed_at < round_.created_at,
        )
        .exists()
    )
    return (
        RepermissionAsk.repermission_id == round_.id,
        RepermissionAsk.answered_at.is_(None),
        RepermissionAsk.lapsed_at.is_(None),
        still,
    )


def is_past_deadline(round_: Repermission, now: datetime | None = None) -> bool:
    return (now or utcnow()) >= round_.deadline_at


def check_lapsable(round_: Repermission) -> None:
    """Refuse a lapse before the deadline or of a round that is not open."""
    if not is_past_deadline(round_):
        raise RepermissionError(N_("people may still answer: wait until the deadline"))
    if round_.status != RepermissionStatus.OPEN:
        raise RepermissionError(N_("this round is not open (closed already, or still sending)"))


def lapse_preview(round_: Repermission) -> Preview:
    """Who would lapse now: the questions still unanswered (refused as `lapse` would)."""
    check_lapsable(round_)
    return _preview(
        sa.select(RepermissionAsk.contact_id, RepermissionAsk.topic_id).where(*_unanswered(round_))
    )


def lapse(round_: Repermission, actor: StaffUser | None) -> int:
    """After the deadline, on an admin's word: stop the topics nobody answered for
    (`withdrawn`, channel `lapsed`, a ledger row each) and close the round (audited).
    Returns how many people lapsed. Commits."""
    require_permission(actor, Permission.CAMPAIGN_SEND)
    check_lapsable(round_)
    _close(round_, actor)  # and once more under the round's lock, for two admins at once
    rows = db.session.execute(
        sa.select(RepermissionAsk, Topic.slug)
        .join(Topic, Topic.id == RepermissionAsk.topic_id)
        .where(*_unanswered(round_))
        .order_by(RepermissionAsk.contact_id)
    ).all()
    by_contact: dict[int, list[tuple[RepermissionAsk, str]]] = {}
    for ask, slug in rows:
        by_contact.setdefault(ask.contact_id, []).append((ask, slug))
    now, details, people = utcnow(), {"repermission": round_.public_id}, 0
    for contact_id, asks in by_contact.items():
        contact = db.session.get(Contact, contact_id)
        assert contact is not None  # the ask is deleted with the contact
        slugs = [slug for _, slug in asks]
        stopped = {
            topic.slug
            for topic in withdraw(
                contact, slugs, ConsentChannel.LAPSED, None, contact.language, details
            )
        }
        for ask, slug in asks:
            if slug in stopped:
                ask.lapsed_at = now
        people += bool(stopped)
    round_.lapsed = people
    audit.record(
        "repermission.lapse",
        target_type="repermission",
        target_id=round_.public_id,
        details={"people": round_.lapsed, "topics": len(rows)},
        actor=actor,
    )
    db.session.commit()
    return round_.lapsed


def close_round(round_: Repermission, actor: StaffUser | None) -> None:
    """Close the round without letting anyone lapse (audited), also while its mails are
    still being queued (those not queued yet are not sent). Commits."""
    require_permission(actor, Permission.CAMPAIGN_SEND)
    _close(round_, actor, (RepermissionStatus.OPEN, RepermissionStatus.SENDING))
    audit.record(
        "repermission.close", target_type="repermission", target_id=round_.public_id, actor=actor
    )
    db.session.commit()


def _close(
    round_: Repermission,
    actor: StaffUser | None,
    since: tuple[RepermissionStatus, ...] = (RepermissionStatus.OPEN,),
) -> None:
    """Take the round from open (or `since`) to closed, once: of two admins pressing
    together, one closes it and the other is told it is closed already. The row stays
    locked until the caller commits: an answer arriving meanwhile waits for it."""
    closed = db.session.execute(
        sa.update(Repermission)
        .where(Repermission.id == round_.id, Repermission.status.in_(since))
        .values(
            status=RepermissionStatus.CLOSED,
            closed_at=utcnow(),
            closed_by_id=actor.id if actor else None,
        )
        .returning(Repermission.id),
        execution_options={"synchronize_session": False},
    ).scalar_one_or_none()
    if closed is None:
        db.session.rollback()
        raise RepermissionError(N_("this round is not open (closed already, or still sending)"))
    db.session.refresh(round_)


def notice_offering_a_round() -> PrivacyNotice | None:
    """The notice in force when it was published as changing the purposes, no round
    has asked about it yet, and someone agreed under an older one only: the notice page
    offers to start a round."""
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    try:
        notice = notices.current_notice(default)
    except notices.NoticeMissing:
        return None
    if not notice.purposes_changed or notice.version < 2:
        return None
    asked = db.session.scalar(
        sa.select(Repermission.id).where(Repermission.notice_version == notice.version)
    )
    choice = RoundChoice(RepermissionRule.NOTICE_BEFORE, notice_version=notice.version)
    anyone = db.session.scalar(sa.select(_asked(choice, utcnow()).exists()))
    return notice if asked is None and anyone else None
