"""The data model. Import models from here."""

from consentapp.models.base import Base, new_public_id, utcnow
from consentapp.models.consent import (
    ConsentAction,
    ConsentChannel,
    ConsentEvent,
    ConsentPurpose,
    ImmutableRowError,
    PrivacyNotice,
    text_sha256,
)
from consentapp.models.contact import Contact, Inquiry, InquiryStatus
from consentapp.models.outbox import OutboundEmail, OutboundStatus
from consentapp.models.topics import Subscription, SubscriptionStatus, Topic

__all__ = [
    "Base",
    "ConsentAction",
    "ConsentChannel",
    "ConsentEvent",
    "ConsentPurpose",
    "Contact",
    "ImmutableRowError",
    "Inquiry",
    "InquiryStatus",
    "OutboundEmail",
    "OutboundStatus",
    "PrivacyNotice",
    "Subscription",
    "SubscriptionStatus",
    "Topic",
    "new_public_id",
    "text_sha256",
    "utcnow",
]
