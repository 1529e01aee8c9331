"""Reading a newsletter's "view in browser" link (`Purpose.WEB_VERSION`): the link names
the contact and the campaign; it does not expire, and dies with the contact (erased)
or its address (changed), as the footer links do."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.mail.render import edition_language
from consentapp.models import Campaign, Contact
from consentapp.services.contacts import find_contact_by_public_id
from consentapp.tokens import Purpose, TokenInvalid, read_token, token_contact


@dataclass(frozen=True)
class WebVersion:
    """Whose copy of which campaign, and the language it was mailed in."""

    contact: Contact
    campaign: Campaign
    language: str


def read_web_version(raw: str) -> WebVersion:
    """Verify the link and find its contact and campaign (raises TokenInvalid)."""
    token = read_token(Purpose.WEB_VERSION, raw)
    contact = token_contact(token, find_contact_by_public_id(token.public_id))
    public_id = token.payload.get("k")
    campaign = (
        db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))
        if isinstance(public_id, str)
        else None
    )
    if campaign is None:
        raise TokenInvalid("campaign gone")
    return WebVersion(contact, campaign, edition_language(contact.language))
