"""The data model. Import models from here."""

from consentapp.models.api_token import ApiScope, ApiToken
from consentapp.models.audit import GENESIS_HASH, AuditEntry, AuditHead, canonical_json
from consentapp.models.base import DATABASE_ONLY_INDEXES, Base, in_models, new_public_id, utcnow
from consentapp.models.bounce import Bounce, BounceType, IncomingReport
from consentapp.models.campaign import Campaign, CampaignStatus
from consentapp.models.clicks import (
    CampaignClickDay,
    CampaignLink,
    LinkClickDay,
    PersonalStatistic,
)
from consentapp.models.consent import (
    ConsentAction,
    ConsentChannel,
    ConsentEvent,
    ConsentPurpose,
    ImmutableRowError,
    PrivacyNotice,
    text_sha256,
)
from consentapp.models.contact import Contact, Inquiry, InquiryNote, InquiryStatus
from consentapp.models.feedback import FeedbackAnswer, FeedbackCount, FeedbackNonce
from consentapp.models.outbox import OutboundEmail, OutboundStatus
from consentapp.models.repermission import (
    Repermission,
    RepermissionAsk,
    RepermissionRule,
    RepermissionStatus,
)
from consentapp.models.rights import (
    OPEN_REQUEST_STATUSES,
    DataRequest,
    Disclosure,
    DisclosureKind,
    DisclosureSubject,
    FollowUpTask,
    ProcessingActivity,
    RequestKind,
    RequestStatus,
)
from consentapp.models.staff import DashboardSnapshot, Role, Setting, StaffUser
from consentapp.models.suppression import Suppression
from consentapp.models.topics import Subscription, SubscriptionStatus, Topic, TopicWording
from consentapp.models.webhook_endpoint import WebhookDelivery, WebhookEndpoint, WebhookStatus

__all__ = [
    "DATABASE_ONLY_INDEXES",
    "GENESIS_HASH",
    "OPEN_REQUEST_STATUSES",
    "ApiScope",
    "ApiToken",
    "AuditEntry",
    "AuditHead",
    "Base",
    "Bounce",
    "BounceType",
    "Campaign",
    "CampaignClickDay",
    "CampaignLink",
    "CampaignStatus",
    "ConsentAction",
    "ConsentChannel",
    "ConsentEvent",
    "ConsentPurpose",
    "Contact",
    "DashboardSnapshot",
    "DataRequest",
    "Disclosure",
    "DisclosureKind",
    "DisclosureSubject",
    "FeedbackAnswer",
    "FeedbackCount",
    "FeedbackNonce",
    "FollowUpTask",
    "ImmutableRowError",
    "IncomingReport",
    "Inquiry",
    "InquiryNote",
    "InquiryStatus",
    "LinkClickDay",
    "OutboundEmail",
    "OutboundStatus",
    "PersonalStatistic",
    "PrivacyNotice",
    "ProcessingActivity",
    "Repermission",
    "RepermissionAsk",
    "RepermissionRule",
    "RepermissionStatus",
    "RequestKind",
    "RequestStatus",
    "Role",
    "Setting",
    "StaffUser",
    "Subscription",
    "SubscriptionStatus",
    "Suppression",
    "Topic",
    "TopicWording",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookStatus",
    "canonical_json",
    "in_models",
    "new_public_id",
    "text_sha256",
    "utcnow",
]
