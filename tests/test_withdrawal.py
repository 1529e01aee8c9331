"""Stopping subscriptions (services.withdrawal): the one-click link and every other
withdrawal take the same statements, and the ORM objects a caller holds stay current."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import sqlalchemy as sa
from flask import Flask

from consentapp.extensions import db
from consentapp.models import ConsentChannel, Subscription, SubscriptionStatus
from consentapp.services.consent import Origin
from consentapp.services.contacts import find_contact, find_or_create_contact
from consentapp.services.one_click import one_click_unsubscribe
from consentapp.services.subscriptions import withdraw
from consentapp.services.topics import subscriptions_of
from consentapp.tokens import Purpose, make_token
from tests.builders import ADDRESS, set_subscription
from tests.helpers import ledger, subscribed

_TABLE = cast(sa.Table, Subscription.__table__)
TOPICS = ("company-news", "product-updates", "service-news")


def _subscribed_to_all(app: Flask) -> None:
    with app.app_context():
        find_or_create_contact(ADDRESS, "nl", ConsentChannel.WEB_FORM, name="Lies")
        db.session.commit()
    for slug in TOPICS:
        set_subscription(app, ADDRESS, slug, "confirmed")


@contextmanager
def _statements() -> Iterator[list[str]]:
    """The SQL statements run inside the block, in order."""
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    sa.event.listen(db.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", note)


def test_withdrawing_every_topic_is_one_update_and_one_ledger_insert(app: Flask) -> None:
    _subscribed_to_all(app)
    with app.app_context():
        contact = find_contact(ADDRESS)
        assert contact is not None
        subscriptions_of(contact)
        with _statements() as seen:
            stopped = withdraw(contact, None, ConsentChannel.WEB_FORM, None, "nl")
        assert [topic.slug for topic in stopped] == list(TOPICS)
        db.session.commit()
    assert seen.count("UPDATE") == 1 and seen.count("INSERT") == 1
    assert subscribed(app) == dict.fromkeys(TOPICS, "unsubscribed")
    withdrawn = [row for row in ledger(app) if row[0] == "withdrawn"]
    assert withdrawn == [("withdrawn", "web_form", slug) for slug in TOPICS]


def test_the_subscriptions_a_caller_holds_show_the_withdrawal(app: Flask) -> None:
    _subscribed_to_all(app)
    with app.app_context():
        contact = find_contact(ADDRESS)
        assert contact is not None
        held = subscriptions_of(contact)
        withdraw(contact, ["service-news"], ConsentChannel.WEB_FORM, None, "nl")
        stored = db.session.execute(
            sa.select(_TABLE.c.status, _TABLE.c.unsubscribed_at).where(
                _TABLE.c.id == held["service-news"].id
            )
        ).one()
        assert held["service-news"].status == SubscriptionStatus.UNSUBSCRIBED == stored.status
        assert held["service-news"].unsubscribed_at == stored.unsubscribed_at
        assert held["company-news"].status == SubscriptionStatus.CONFIRMED
        db.session.commit()


def test_a_topic_stopped_meanwhile_is_not_withdrawn_twice(app: Flask) -> None:
    _subscribed_to_all(app)
    with app.app_context():
        contact = find_contact(ADDRESS)
        assert contact is not None
        held = subscriptions_of(contact)
        token = make_token(Purpose.UNSUBSCRIBE, contact, t=["service-news"])
        with app.app_context():  # another request, its own session, stops it first
            origin = Origin(client_address=None, user_agent=None)
            assert one_click_unsubscribe(token, ConsentChannel.ONE_CLICK, origin, "nl") == 1
        assert held["service-news"].status == SubscriptionStatus.CONFIRMED  # as read
        stopped = withdraw(contact, ["service-news"], ConsentChannel.WEB_FORM, None, "nl")
        db.session.commit()
        assert stopped == []
        assert held["service-news"].status == SubscriptionStatus.UNSUBSCRIBED
    assert [row for row in ledger(app) if row[0] == "withdrawn"] == [
        ("withdrawn", "one_click", "service-news")
    ]


def test_one_click_takes_a_read_an_update_an_insert_and_the_webhook_lookup(app: Flask) -> None:
    _subscribed_to_all(app)
    with app.app_context():
        contact = find_contact(ADDRESS)
        assert contact is not None
        token = make_token(Purpose.UNSUBSCRIBE, contact, t=["service-news"])
        db.session.commit()
        origin = Origin(client_address="192.0.2.1", user_agent="mail")
        with _statements() as seen:
            assert one_click_unsubscribe(token, ConsentChannel.ONE_CLICK, origin, "nl") == 1
    assert seen == ["SELECT", "UPDATE", "INSERT", "SELECT"]
