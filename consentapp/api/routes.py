"""The API's operations. Each names its scope; the rules live in the services."""

from __future__ import annotations

from flask import request
from spectree import Response

from consentapp.api import bp, spec
from consentapp.api.access import current_token, requires
from consentapp.api.pagination import decode_cursor, encode_cursor
from consentapp.api.schemas import (
    Accepted,
    ContactDetail,
    ContactList,
    ContactOut,
    ContactQuery,
    EmailQuery,
    LedgerEventOut,
    LedgerPage,
    ListQuery,
    Problem,
    SubscriptionOut,
    SubscriptionRequest,
    SuppressionCheck,
    TopicList,
    TopicOut,
)
from consentapp.i18n import supported_languages
from consentapp.models import ApiScope, Contact
from consentapp.problems import ApiProblem
from consentapp.services import api_data
from consentapp.services.consent import Origin
from consentapp.services.contact_details import InvalidDetail, normalise_email
from consentapp.services.topics import UnknownTopic, active_topics, subscriptions_of, topics_by_slug

REFUSALS = {f"HTTP_{code}": Problem for code in (401, 403, 422, 429)}
ACCEPTED_DETAIL = (
    "If this address can receive our mail, a message asking to confirm is on its way; "
    "nothing changes until the person confirms."
)


def answers(**success: type) -> Response:
    return Response(**success, **REFUSALS)


def field_problem(field: str, message: str) -> ApiProblem:
    return ApiProblem(
        422, f"These fields are not valid: {field}.", errors=[{"field": field, "message": message}]
    )


def checked_email(raw: str) -> str:
    try:
        return normalise_email(raw)
    except InvalidDetail as error:
        raise field_problem("email", str(error.message)) from None


def contact_or_404(public_id: str) -> Contact:
    contact = api_data.contact_by_id(public_id)
    if contact is None:
        raise ApiProblem(404, "No contact has this id.")
    return contact


def detail_of(contact: Contact) -> ContactDetail:
    subscriptions = [
        SubscriptionOut.of(sub) for _, sub in sorted(subscriptions_of(contact).items())
    ]
    return ContactDetail(**ContactOut.of(contact).model_dump(), subscriptions=subscriptions)


@bp.get("/topics")
@requires(ApiScope.TOPICS_READ)
@spec.validate(query=ListQuery, resp=answers(HTTP_200=TopicList), tags=["topics"])
def list_topics(query: ListQuery) -> TopicList:
    """The topics people can subscribe to, in display order."""
    topics = active_topics()
    start = decode_cursor(query.cursor) or 0
    end = start + query.limit
    return TopicList(
        items=[TopicOut.of(topic) for topic in topics[start:end]],
        next_cursor=encode_cursor(end if end < len(topics) else None),
    )


@bp.get("/contacts")
@requires(ApiScope.CONTACTS_READ)
@spec.validate(query=ContactQuery, resp=answers(HTTP_200=ContactList), tags=["contacts"])
def list_contacts(query: ContactQuery) -> ContactList:
    """Find contacts: `email` for one exact address, `q` for text in name, address or
    company (newest first), neither for all."""
    if query.email is not None:
        contact = api_data.contact_by_email(checked_email(query.email))
        return ContactList(items=[ContactOut.of(contact)] if contact else [])
    found = api_data.contacts_matching(query.q or "", decode_cursor(query.cursor), query.limit)
    return ContactList(
        items=[ContactOut.of(contact) for contact in found.items],
        next_cursor=encode_cursor(found.after),
    )


@bp.get("/contacts/<public_id>")
@requires(ApiScope.CONTACTS_READ)
@spec.validate(resp=answers(HTTP_200=ContactDetail, HTTP_404=Problem), tags=["contacts"])
def read_contact(public_id: str) -> ContactDetail:
    """One contact with its subscriptions."""
    contact = contact_or_404(public_id)
    subscriptions = [
        SubscriptionOut.of(sub) for _, sub in sorted(subscriptions_of(contact).items())
    ]
    return ContactDetail(**ContactOut.of(contact).model_dump(), subscriptions=subscriptions)


@bp.get("/contacts/<public_id>/ledger")
@requires(ApiScope.LEDGER_READ)
@spec.validate(
    query=ListQuery, resp=answers(HTTP_200=LedgerPage, HTTP_404=Problem), tags=["ledger"]
)
def read_ledger(public_id: str, query: ListQuery) -> LedgerPage:
    """The contact's consent ledger, newest first (read only: the ledger is never changed)."""
    contact = contact_or_404(public_id)
    page = api_data.ledger_page(contact, decode_cursor(query.cursor), query.limit)
    topics = api_data.topic_slugs_by_id()
    return LedgerPage(
        items=[LedgerEventOut.of(event, topics) for event in page.items],
        next_cursor=encode_cursor(page.after),
    )


@bp.post("/subscriptions")
@requires(ApiScope.SUBSCRIPTIONS_WRITE)
@spec.validate(
    json=SubscriptionRequest,
    resp=answers(HTTP_202=Accepted, HTTP_415=Problem),
    tags=["subscriptions"],
)
def request_subscription(json: SubscriptionRequest) -> tuple[Accepted, int]:
    """Ask for a subscription: the double opt-in of the subscribe form. The answer is
    the same whether or not the address is known."""
    email = checked_email(json.email)
    if json.language not in supported_languages():
        raise field_problem("language", f"one of {', '.join(supported_languages())}")
    try:
        topics_by_slug(json.topics)
    except UnknownTopic as unknown:
        raise field_problem("topics", f"unknown topic: {unknown}") from None
    api_data.request_subscription_by_api(
        token=current_token(),
        email=email,
        name=json.name.strip(),
        topic_slugs=json.topics,
        language=json.language,
        # The caller is another system: its address is not the person's, so the ledger
        # row keeps none (the audit entry of the call has it); its user agent is kept.
        origin=Origin(client_address=None, user_agent=Origin.from_request(request).user_agent),
    )
    return Accepted(detail=ACCEPTED_DETAIL), 202


@bp.get("/suppressions/check")
@requires(ApiScope.SUPPRESSION_READ)
@spec.validate(query=EmailQuery, resp=answers(HTTP_200=SuppressionCheck), tags=["suppression"])
def check_suppression(query: EmailQuery) -> SuppressionCheck:
    """Whether mail to this address is suppressed (nothing is sent to it)."""
    return SuppressionCheck(suppressed=api_data.address_suppressed(checked_email(query.email)))
