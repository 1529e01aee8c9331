"""Answering a re-permission question: the "yes, keep sending me …" link of the mail
(`consentapp/services/repermission.py` runs the rounds).

A yes is a fresh `confirmed` ledger row for that topic, channel `repermission`, under
the notice in force; a topic the person left meanwhile is not revived, and a closed
round takes no answers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.models import (
    ConsentAction,
    ConsentChannel,
    Contact,
    Repermission,
    RepermissionAsk,
    RepermissionStatus,
    Subscription,
    SubscriptionStatus,
    Topic,
    utcnow,
)
from consentapp.services import notices
from consentapp.services.consent import ConsentSource, Origin
from consentapp.services.contacts import find_contact_by_public_id
from consentapp.services.repermission import is_past_deadline
from consentapp.services.subscriptions import change_subscription
from consentapp.tokens import Purpose, TokenInvalid, read_token, token_contact


class Answer(enum.StrEnum):
    CONFIRMED = "confirmed"  # a fresh confirmation, written now
    ALREADY = "already"  # this button was pressed before
    LEFT = "left"  # the person left this newsletter meanwhile: not revived
    CLOSED = "closed"  # the round is over


@dataclass(frozen=True)
class Question:
    """What a "yes, I still want it" link asks: one topic of one round, for one person."""

    ask: RepermissionAsk
    contact: Contact
    topic: Topic
    round: Repermission


def read_question(raw: str) -> Question:
    """The question a mailed button stands for; TokenInvalid for a bad or foreign link."""
    token = read_token(Purpose.STILL_WANTED, raw)
    contact = token_contact(token, find_contact_by_public_id(token.public_id))
    found = db.session.execute(
        sa.select(RepermissionAsk, Topic, Repermission)
        .join(Topic, Topic.id == RepermissionAsk.topic_id)
        .join(Repermission, Repermission.id == RepermissionAsk.repermission_id)
        .where(
            RepermissionAsk.contact_id == contact.id,
            Topic.slug == str(token.payload.get("t", "")),
            Repermission.public_id == str(token.payload.get("r", "")),
        )
    ).first()
    if found is None:
        raise TokenInvalid("no such question")
    ask, topic, round_ = found
    return Question(ask, contact, topic, round_)


def _subscription(question: Question) -> Subscription | None:
    found: Subscription | None = db.session.scalar(
        sa.select(Subscription).where(
            Subscription.contact_id == question.contact.id,
            Subscription.topic_id == question.topic.id,
        )
    )
    return found


def state_of(question: Question) -> Answer | None:
    """Whether the question can still be answered (None) or why not."""
    if question.round.status == RepermissionStatus.CLOSED or is_past_deadline(question.round):
        return Answer.CLOSED
    if question.ask.answered_at is not None:
        return Answer.ALREADY
    sub = _subscription(question)
    if sub is None or sub.status != SubscriptionStatus.CONFIRMED:
        return Answer.LEFT
    return None


def answer_yes(question: Question, origin: Origin | None) -> Answer:
    """The person still wants the topic: a fresh `confirmed` row under the notice in
    force (the subscription's confirmation date moves to now). Commits."""
    refused = state_of(question)
    if refused is not None:
        return refused
    now = utcnow()
    # The round's row, shared-locked on PostgreSQL: a lapse closing it holds the row, so
    # this waits and then sees it closed. (SQLite: the lapse holds the one write lock.)
    still_open = db.session.scalar(
        sa.select(Repermission.id)
        .where(
            Repermission.id == question.round.id,
            Repermission.status == RepermissionStatus.OPEN,
            Repermission.deadline_at > now,
        )
        .with_for_update(read=True)
    )
    marked = db.session.execute(
        sa.update(RepermissionAsk)
        .where(
            RepermissionAsk.id == question.ask.id,
            RepermissionAsk.answered_at.is_(None),
            RepermissionAsk.lapsed_at.is_(None),
        )
        .values(answered_at=now),
        execution_options={"synchronize_session": False},
    )
    if still_open is None or getattr(marked, "rowcount", 0) != 1:
        # Closed meanwhile, or the same button pressed twice at once.
        db.session.rollback()
        db.session.refresh(question.round)
        db.session.refresh(question.ask)
        return state_of(question) or Answer.ALREADY
    sub = _subscription(question)
    assert sub is not None
    language = question.contact.language
    source = ConsentSource(
        ConsentChannel.REPERMISSION,
        notices.current_notice(language),
        origin,
        details={"repermission": question.round.public_id},
    )
    if not change_subscription(
        sub, SubscriptionStatus.CONFIRMED, action=ConsentAction.CONFIRMED, source=source
    ):
        db.session.rollback()  # left in the same instant: nothing is confirmed
        return Answer.LEFT
    db.session.commit()
    return Answer.CONFIRMED
