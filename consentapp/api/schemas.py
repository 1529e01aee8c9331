"""The API's request and response shapes; the OpenAPI document is generated from them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from consentapp.models import (
    Campaign,
    ConsentEvent,
    Contact,
    Subscription,
    Topic,
)
from consentapp.services.contact_details import InvalidDetail, check_single_line, check_text

SINGLE_LINE = r"^[^\r\n]*$"


class Strict(BaseModel):
    """What callers send: no unknown fields, and text the forms would take: one line
    without control codes, or for the fields in `MULTI_LINE` line breaks and tabs but no
    other control codes (a NUL byte is no text a database keeps)."""

    model_config = ConfigDict(extra="forbid")
    MULTI_LINE: ClassVar[frozenset[str]] = frozenset(
        {"note", "body_nl", "body_en", "address", "evidence"}
    )

    @field_validator("*", mode="after")
    @classmethod
    def _plain_text(cls, value: Any, info: ValidationInfo) -> Any:
        check = check_text if info.field_name in cls.MULTI_LINE else check_single_line
        try:
            if isinstance(value, str):
                check(value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, str):
                        check(item)
        except InvalidDetail as error:
            raise ValueError(str(error.message)) from None
        return value


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, as `application/problem+json`."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


class ListQuery(Strict):
    cursor: str | None = Field(
        default=None, max_length=200, description="`next_cursor` of the previous page"
    )
    limit: int = Field(default=50, ge=1, le=200, description="Items per page")


class ContactQuery(ListQuery):
    email: str | None = Field(
        default=None, max_length=320, description="One exact address (an empty list if unknown)"
    )
    q: str | None = Field(
        default=None, max_length=200, description="Text in the name, address or company"
    )


class EmailQuery(Strict):
    email: str = Field(min_length=1, max_length=320)


class TopicOut(BaseModel):
    slug: str
    label_nl: str
    label_en: str
    description_nl: str
    description_en: str

    @classmethod
    def of(cls, topic: Topic) -> TopicOut:
        return cls(
            slug=topic.slug,
            label_nl=topic.label_nl,
            label_en=topic.label_en,
            description_nl=topic.description_nl,
            description_en=topic.description_en,
        )


class TopicList(BaseModel):
    items: list[TopicOut]
    next_cursor: str | None = None


class ContactOut(BaseModel):
    id: str = Field(description="The contact's public id")
    email: str | None
    name: str
    company: str
    language: str
    created_at: datetime

    @classmethod
    def of(cls, contact: Contact) -> ContactOut:
        return cls(
            id=contact.public_id,
            email=contact.email,
            name=contact.name,
            company=contact.company,
            language=contact.language,
            created_at=contact.created_at,
        )


class ContactList(BaseModel):
    items: list[ContactOut]
    next_cursor: str | None = None


class SubscriptionOut(BaseModel):
    topic: str
    status: str
    requested_at: datetime
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None

    @classmethod
    def of(cls, sub: Subscription) -> SubscriptionOut:
        return cls(
            topic=sub.topic.slug,
            status=sub.status.value,
            requested_at=sub.requested_at,
            confirmed_at=sub.confirmed_at,
            unsubscribed_at=sub.unsubscribed_at,
        )


class ContactDetail(ContactOut):
    subscriptions: list[SubscriptionOut]


class LedgerEventOut(BaseModel):
    id: int
    occurred_at: datetime
    purpose: str
    action: str
    channel: str
    topic: str | None
    notice_version: int | None
    notice_language: str | None
    evidence: str | None

    @classmethod
    def of(cls, event: ConsentEvent, topics: dict[int, str]) -> LedgerEventOut:
        return cls(
            id=event.id,
            occurred_at=event.occurred_at,
            purpose=event.purpose.value,
            action=event.action.value,
            channel=event.channel.value,
            topic=topics.get(event.topic_id) if event.topic_id is not None else None,
            notice_version=event.notice_version,
            notice_language=event.notice_language,
            evidence=event.evidence,
        )


class LedgerPage(BaseModel):
    items: list[LedgerEventOut]
    next_cursor: str | None = None


class SubscriptionRequest(Strict):
    """A subscription to ask for: the person gets the confirmation mail."""

    email: str = Field(min_length=3, max_length=320, description="The person's e-mail address")
    name: str = Field(default="", max_length=200, description="Their name, if known")
    topics: list[str] = Field(
        min_length=1, max_length=50, description="Topic slugs, from `GET /api/v1/topics`"
    )
    language: str = Field(
        default="nl", max_length=8, description="Language of the mails: `nl` or `en`"
    )


class Accepted(BaseModel):
    status: str = "accepted"
    detail: str


class SuppressionCheck(BaseModel):
    suppressed: bool


class ContactCreate(Strict):
    """A contact and its consent that reached the company outside our forms, with
    evidence (the offline capture of the staff area)."""

    email: str = Field(min_length=3, max_length=320, description="The person's e-mail address")
    channel: Literal["agreement", "email", "phone"] = Field(
        description="How the consent reached the company"
    )
    obtained_on: date = Field(description="The day the consent was given")
    evidence: str = Field(
        min_length=1,
        max_length=500,
        pattern=r"\S",
        description="Where the proof is: the agreement's reference, the mail, the call note",
    )
    language: str = Field(default="nl", max_length=8, description="`nl` or `en`")
    name: str = Field(default="", max_length=200)
    company: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=40, description="Any format; stored as E.164")
    topics: list[str] = Field(
        default_factory=list, max_length=50, description="Topic slugs the person agreed to"
    )
    send_confirmation: bool = Field(
        default=True, description="Mail the confirmation link for topics that need one"
    )
    agreement_covers_newsletters: bool = Field(
        default=False,
        description=(
            "The signed agreement itself contains the newsletter consent: the topics are "
            "confirmed at once (only with channel `agreement`)"
        ),
    )


class ContactCreated(BaseModel):
    id: str = Field(description="The contact's public id")
    contact: ContactDetail | None = Field(
        description="The contact as stored; null unless the token also has `contacts:read`"
    )
    created: bool
    confirmed: list[str]
    pending: list[str]


class ContactChanges(Strict):
    """Fields to correct, and why (kept in the audit log)."""

    reason: str = Field(
        min_length=1, max_length=500, pattern=r"\S", description="Why: kept in the audit log"
    )
    email: str | None = Field(
        default=None,
        min_length=3,
        max_length=320,
        description="A new address replaces the old one at once and ends the links mailed to it",
    )
    name: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=500)
    phone: str | None = Field(default=None, max_length=40)
    fax: str | None = Field(default=None, max_length=40)
    language: str | None = Field(default=None, max_length=8)


class Rectified(BaseModel):
    changed: list[str]
    contact: ContactDetail | None = Field(
        description="The contact as stored now; null unless the token also has `contacts:read`"
    )


class Withdrawn(BaseModel):
    withdrawn: list[str]


class CampaignOut(BaseModel):
    id: str
    topic: str = Field(description="The main topic's slug (the mail's List-Id)")
    topics: list[str] = Field(description="Every topic whose subscribers get it, main first")
    language: str | None = Field(description="Only subscribers of this language, or null")
    customers_only: bool
    subject_nl: str
    subject_en: str
    status: str
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    recipients: int
    created_at: datetime

    @classmethod
    def of(cls, campaign: Campaign) -> CampaignOut:
        return cls(
            id=campaign.public_id,
            topic=campaign.topic.slug,
            topics=[topic.slug for topic in campaign.all_topics],
            language=campaign.audience_language,
            customers_only=campaign.customers_only,
            subject_nl=campaign.subject_nl,
            subject_en=campaign.subject_en,
            status=campaign.status.value,
            scheduled_at=campaign.scheduled_at,
            started_at=campaign.started_at,
            finished_at=campaign.finished_at,
            recipients=campaign.recipients,
            created_at=campaign.created_at,
        )


class CampaignList(BaseModel):
    items: list[CampaignOut]
    next_cursor: str | None = None


class CampaignFigures(BaseModel):
    by_status: dict[str, int]
    remaining: int
    failures: dict[str, int]
    unsubscribes: int


class CampaignDetail(CampaignOut):
    report: CampaignFigures


class CampaignCreate(Strict):
    """A newsletter draft in both languages (Markdown), as the staff form takes it."""

    topic: str = Field(min_length=1, max_length=100, description="A topic's slug")
    more_topics: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default=[],
        max_length=50,
        description="More topics' slugs: their subscribers get it too, each person once",
    )
    language: Literal["nl", "en"] | None = Field(
        default=None, description="Only subscribers who read this language"
    )
    customers_only: bool = Field(
        default=False, description="Only contacts with an invoice or a signed agreement"
    )
    subject_nl: str = Field(min_length=1, max_length=200, pattern=r"^[^\r\n]*\S[^\r\n]*$")
    body_nl: str = Field(min_length=1, max_length=100_000, pattern=r"\S")
    subject_en: str = Field(default="", max_length=200, pattern=SINGLE_LINE)
    body_en: str = Field(default="", max_length=100_000)


class CampaignSchedule(Strict):
    """When to send: a time with its offset, or none (or in the past) for now."""

    at: AwareDatetime | None = None
