"""The people the tests use, and rows built for them directly, without a form.

A test whose point is not a form builds its data here, through the services the app
itself uses (or in bulk where only the numbers matter), so the rows are the real thing.
Journeys through the forms live in tests/flows.py.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import Flask

from consentapp.extensions import db
from consentapp.models import (
    ConsentAction,
    Contact,
    Subscription,
    SubscriptionStatus,
    Topic,
    utcnow,
)
from consentapp.services import notices
from consentapp.services.campaign_drafts import create_campaign
from consentapp.services.consent import ConsentSource
from consentapp.services.contacts import find_contact
from consentapp.services.subscriptions import change_subscription, subscription_for
from consentapp.services.topics import subscriptions_of, topics_by_slug

# What Els types into the contact form.
VALID = {
    "name": "Els Janssens",
    "email": "Els.Janssens@Example.be",
    "company": "Janssens BV",
    "address": "Kerkstraat 1\n9000 Gent",
    "phone": "09 265 81 11",
    "fax": "",
    "message": "Kunnen jullie onze domeinnaam verhuizen?",
    "notice_version": "1",
}
# VALID's address, as the contact form stores it.
EMAIL = "els.janssens@example.be"
# Lies subscribes to newsletters, and later changes her address.
ADDRESS = "lies@example.be"
NEW_ADDRESS = "lies.nieuw@example.be"
# The partner disclosures go to.
RECIPIENT = "Netwerkpartner BV"


STAFF_PASSWORD = "correct horse battery staple"


def make_staff(app: Flask, email: str, role: str) -> int:
    """Create a staff account through the service staff use."""
    from consentapp.services.staff_accounts import create_staff

    with app.app_context():
        user = create_staff(email, role, STAFF_PASSWORD, name=email.split("@")[0].title())
        db.session.commit()
        return user.id


STATUS_ACTIONS = {
    "pending": ConsentAction.REQUESTED,
    "confirmed": ConsentAction.CONFIRMED,
    "unsubscribed": ConsentAction.WITHDRAWN,
}


def set_subscription(app: Flask, email: str, slug: str, status: str) -> None:
    """Move a contact's subscription to `status` with its ledger row, as the services do."""
    with app.app_context():
        contact = find_contact(email)
        assert contact is not None
        [topic] = topics_by_slug([slug])
        sub = subscription_for(contact, topic, subscriptions_of(contact))
        change_subscription(
            sub,
            SubscriptionStatus(status),
            action=STATUS_ACTIONS[status],
            source=ConsentSource("web_form", notices.current_notice(contact.language)),
        )
        db.session.commit()


# The VERP domain tests that look at what comes back set as BOUNCE_DOMAIN.
BOUNCE_DOMAIN = "bounces.crm.example"


def make_campaign(app: Flask, topic: str = "service-news") -> str:
    """A draft campaign for a topic, with markup and a script to neutralise; its public id."""
    with app.app_context():
        found = db.session.scalar(sa.select(Topic).where(Topic.slug == topic))
        assert found is not None
        campaign = create_campaign(
            found,
            "Onderhoud zaterdag",
            "Zaterdag is er **onderhoud** aan de servers.\n\n<script>alert(1)</script>",
            "Maintenance on Saturday",
            "On Saturday the servers get **maintenance**.",
            None,
        )
        return campaign.public_id


def bulk_subscribers(app: Flask, count: int) -> None:
    """`count` confirmed subscribers of service-news, written in bulk."""
    with app.app_context():
        topic = db.session.scalar(sa.select(Topic).where(Topic.slug == "service-news"))
        assert topic is not None
        now = utcnow()
        db.session.execute(
            sa.insert(Contact),
            [
                {
                    "public_id": f"bulk{n}",
                    "email": f"reader{n}@example.be",
                    "language": "nl",
                    "source_channel": "web_form",
                    "search_text": "",
                }
                for n in range(count)
            ],
        )
        ids = db.session.scalars(sa.select(Contact.id).where(Contact.public_id.like("bulk%"))).all()
        db.session.execute(
            sa.insert(Subscription),
            [
                {"contact_id": i, "topic_id": topic.id, "status": "confirmed", "confirmed_at": now}
                for i in ids
            ],
        )
        db.session.commit()


def confirmed_long_ago(app: Flask, email: str, months: int = 30) -> None:
    """Move the contact's confirmations `months` back, as if they were that old."""
    with app.app_context():
        contact = find_contact(email)
        assert contact is not None
        then = utcnow() - timedelta(days=31 * months)
        db.session.execute(
            sa.update(Subscription)
            .where(Subscription.contact_id == contact.id, Subscription.confirmed_at.is_not(None))
            .values(confirmed_at=then)
        )
        db.session.commit()


def make_round(app: Flask, months: int = 24, days: int = 30) -> str:
    """A re-permission round asking who confirmed more than `months` ago, its mails
    queued; its public id."""
    from consentapp.models import RepermissionRule
    from consentapp.services.repermission import RoundChoice, start_round
    from consentapp.services.repermission_mail import run_due_repermissions

    with app.app_context():
        started = start_round(RoundChoice(RepermissionRule.CONFIRMED_BEFORE, months), days, None)
        run_due_repermissions()
        return started.public_id
