"""Retention of newsletter sign-ups: what was never confirmed goes in time (P10).

A removed contact leaves the same traces as an erased one, through the same path
(`erasure.remove_mails_and_client_data`), minus what only an erasure does.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from consentapp.extensions import db
from consentapp.models import (
    ConsentAction,
    ConsentChannel,
    ConsentEvent,
    ConsentPurpose,
    Contact,
    DataRequest,
    DisclosureSubject,
    Inquiry,
    Subscription,
    SubscriptionStatus,
    utcnow,
)
from consentapp.services.consent import record_consent
from consentapp.services.erasure import remove_mails_and_client_data
from consentapp.services.storage_scrub import scrub_after_commit

# What a purge deletes from or blanks in: their files are scrubbed after the commit.
PURGED_TABLES = ("consent_events", "contacts", "outbound_emails", "subscriptions")


def purge_unconfirmed(older_than: timedelta | None = None) -> int:
    """Remove sign-ups never confirmed within the retention period (P10).

    The pending subscriptions go, with an "expired" ledger row each; a contact that
    has nothing else (no subscription, no message) goes with its mails, and the
    client addresses in its ledger rows are blanked. The ledger keeps the
    pseudonymous history. Returns how many contacts were removed.
    """
    if older_than is None:
        older_than = timedelta(days=current_app.config["UNCONFIRMED_RETENTION_DAYS"])
    cutoff = utcnow() - older_than
    stale = list(
        db.session.scalars(
            sa.select(Subscription).where(
                Subscription.status == SubscriptionStatus.PENDING,
                Subscription.requested_at < cutoff,
            )
        )
    )
    touched: dict[int, Contact] = {}
    for sub in stale:
        touched[sub.contact_id] = sub.contact
        record_consent(
            contact=sub.contact,
            purpose=ConsentPurpose.NEWSLETTER,
            action=ConsentAction.EXPIRED,
            channel=ConsentChannel.WEB_FORM,
            notice=None,
            topic_id=sub.topic_id,
            details={"reason": "not confirmed in time"},
        )
        db.session.delete(sub)
    db.session.flush()
    removed = 0
    for contact in touched.values():
        if _holds_nothing_else(contact):
            remove_mails_and_client_data(contact)
            db.session.delete(contact)
            removed += 1
    if removed:
        scrub_after_commit(PURGED_TABLES)
    db.session.commit()
    return removed


def _holds_nothing_else(contact: Contact) -> bool:
    """Only a bare web sign-up goes: not a customer, not one with offline consent,
    a disclosure or a request, which have reasons of their own to be kept."""
    if contact.source_channel != ConsentChannel.WEB_FORM:
        return False
    if contact.last_invoice_on is not None or contact.legal_hold_until is not None:
        return False
    ties = [
        sa.select(ConsentEvent.id).where(
            ConsentEvent.subject_id == contact.public_id,
            ConsentEvent.channel != ConsentChannel.WEB_FORM,
        ),
        sa.select(DisclosureSubject.id).where(DisclosureSubject.subject_id == contact.public_id),
        sa.select(DataRequest.id).where(DataRequest.subject_id == contact.public_id),
    ]
    if any(db.session.scalar(tie.limit(1)) is not None for tie in ties):
        return False
    has_subscription = db.session.scalar(
        sa.select(sa.func.count(Subscription.id)).where(Subscription.contact_id == contact.id)
    )
    has_inquiry = db.session.scalar(
        sa.select(sa.func.count(Inquiry.id)).where(Inquiry.contact_id == contact.id)
    )
    return not has_subscription and not has_inquiry
