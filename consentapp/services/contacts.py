"""Finding and creating contacts from what the public types."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from consentapp.extensions import db
from consentapp.models import Contact
from consentapp.services.contact_details import normalise_phone
from consentapp.services.outgoing_webhooks import emit


def find_contact(email: str) -> Contact | None:
    """The contact with this (normalised) address."""
    return db.session.scalar(sa.select(Contact).where(Contact.email == email))


def find_contact_by_public_id(public_id: str) -> Contact | None:
    """The contact a signed link names."""
    return db.session.scalar(sa.select(Contact).where(Contact.public_id == public_id))


def find_or_create_contact(
    email: str,
    language: str,
    channel: str,
    *,
    name: str = "",
    company: str = "",
    address: str = "",
    phone: str = "",
    fax: str = "",
) -> Contact:
    """The contact for `email`, created from the given details if it is new.

    An existing contact is never overwritten from a public form: anyone can type
    anyone's address.
    """
    contact = find_contact(email)
    if contact is not None:
        return contact
    contact = Contact(
        email=email,
        name=name.strip(),
        company=company.strip(),
        address=address.strip(),
        phone=normalise_phone(phone),
        fax=normalise_phone(fax),
        language=language,
        source_channel=channel,
    )
    try:
        with db.session.begin_nested():
            db.session.add(contact)
    except IntegrityError:
        # The same new address arrived twice at once; the other request created it.
        existing = find_contact(email)
        assert existing is not None
        return existing
    emit("contact.created", subject_id=contact.public_id, data={"channel": channel})
    return contact
