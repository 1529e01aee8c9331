"""Contact-form intake: store the message, record the consent, queue the two mails."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from consentapp.extensions import db
from consentapp.mail.outbox import queue_email
from consentapp.models import (
    ConsentAction,
    ConsentChannel,
    ConsentPurpose,
    Contact,
    Inquiry,
    PrivacyNotice,
    utcnow,
)
from consentapp.services.consent import ConsentSource, Origin, record_consent
from consentapp.services.contact_details import normalise_email
from consentapp.services.contacts import find_or_create_contact
from consentapp.services.subscriptions import request_in_transaction
from consentapp.services.throttle import may_mail

# A double click or a reload re-sends the same message: keep one.
DUPLICATE_WINDOW = timedelta(minutes=10)
# Anyone can type anyone's address: cap the acknowledgements one address receives.


@dataclass(frozen=True)
class InquirySubmission:
    """The contact form's fields exactly as the visitor sent them."""

    name: str
    email: str
    message: str
    company: str = ""
    address: str = ""
    phone: str = ""
    fax: str = ""
    subscribe: bool = False
    topics: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class InquiryResult:
    """The stored inquiry, and whether this submission created it."""

    inquiry: Inquiry
    created: bool


def _recent_duplicate(contact: Contact, message: str) -> Inquiry | None:
    since = utcnow() - DUPLICATE_WINDOW
    return db.session.scalar(
        sa.select(Inquiry).where(
            Inquiry.contact_id == contact.id,
            Inquiry.message == message,
            Inquiry.created_at >= since,
        )
    )


def submit_inquiry(
    submission: InquirySubmission, language: str, notice: PrivacyNotice, origin: Origin
) -> InquiryResult:
    """Store a contact-form message with its consent record and queue its mails.

    Everything is committed in one transaction: the inquiry, the ledger rows and
    the outbox rows exist together or not at all. A ticked newsletter box starts
    the double opt-in for the chosen topics, as the subscribe form does.
    """
    email = normalise_email(submission.email)
    message = submission.message.strip()
    contact = find_or_create_contact(
        email,
        language,
        ConsentChannel.WEB_FORM,
        name=submission.name,
        company=submission.company,
        address=submission.address,
        phone=submission.phone,
        fax=submission.fax,
    )
    duplicate = _recent_duplicate(contact, message) if contact.id else None
    if duplicate is not None:
        db.session.rollback()
        return InquiryResult(inquiry=duplicate, created=False)

    inquiry = Inquiry(
        contact=contact,
        message=message,
        submitted=asdict(submission),
        language=language,
        channel=ConsentChannel.WEB_FORM,
    )
    db.session.add(inquiry)
    db.session.flush()
    record_consent(
        contact=contact,
        purpose=ConsentPurpose.CONTACT,
        action=ConsentAction.GIVEN,
        channel=ConsentChannel.WEB_FORM,
        notice=notice,
        origin=origin,
        details={"inquiry": inquiry.public_id},
    )
    if submission.subscribe and submission.topics:
        request_in_transaction(
            email=email,
            name=submission.name,
            topic_slugs=submission.topics,
            language=language,
            source=ConsentSource(ConsentChannel.WEB_FORM, notice, origin),
        )
    _queue_inquiry_mails(inquiry, email, language)
    db.session.commit()
    return InquiryResult(inquiry=inquiry, created=True)


def _queue_inquiry_mails(inquiry: Inquiry, email: str, language: str) -> None:
    """A neutral acknowledgement to the visitor and the full message to staff.

    The acknowledgement repeats nothing the visitor typed, so the form cannot be
    used to send someone else a message in the company's name.
    """
    config = current_app.config
    if may_mail(email, "contact_ack"):
        queue_email(
            to=email,
            template="contact_ack",
            language=language,
            subject=_l("We received your message"),
            context={"reference": inquiry.public_id, "org_name": config["ORG_NAME"]},
            contact_id=inquiry.contact_id,
        )
    queue_email(
        to=config["STAFF_NOTIFY_EMAIL"],
        template="staff_new_inquiry",
        language=config["BABEL_DEFAULT_LOCALE"],
        subject=_l("New contact-form message from %(name)s", name=inquiry.submitted["name"]),
        context={"inquiry": inquiry, "submitted": inquiry.submitted},
        contact_id=inquiry.contact_id,
        headers={"Reply-To": email},
    )
