"""API operations that change a contact: capture with evidence, rectify, withdraw.
Each is the staff area's service, with the token as the actor."""

from __future__ import annotations

from spectree import Response

from consentapp.api import bp, spec
from consentapp.api.access import current_token, requires
from consentapp.api.routes import REFUSALS, checked_email, contact_or_404, detail_of, field_problem
from consentapp.api.schemas import (
    ContactChanges,
    ContactCreate,
    ContactCreated,
    ContactDetail,
    Problem,
    Rectified,
    Withdrawn,
)
from consentapp.i18n import supported_languages
from consentapp.models import ApiScope, Contact
from consentapp.problems import ApiProblem
from consentapp.services.contact_details import InvalidDetail, normalise_phone
from consentapp.services.contacts_admin import (
    AddressTaken,
    OfflineConsent,
    record_offline_consent,
    rectify_by_staff,
    unsubscribe_by_staff,
)
from consentapp.services.suppression import Suppressed
from consentapp.services.topics import UnknownTopic, topics_by_slug

SUPPRESSED = "This address is on the suppression list: nothing is recorded for it."


def readable_detail(contact: Contact) -> ContactDetail | None:
    """The stored contact, for a token that may read contacts: writing grants no reading."""
    if ApiScope.CONTACTS_READ.value not in current_token().scope_set:
        return None
    return detail_of(contact)


def check_language(language: str | None) -> None:
    if language is not None and language not in supported_languages():
        raise field_problem("language", f"one of {', '.join(supported_languages())}")


def checked_phones(values: dict[str, str]) -> dict[str, str]:
    """Phone and fax numbers as stored (E.164); a 422 names the one that is not valid."""
    checked = {}
    for field, value in values.items():
        try:
            checked[field] = normalise_phone(value)
        except InvalidDetail as error:
            raise field_problem(field, str(error.message)) from None
    return checked


def check_topics(slugs: list[str]) -> None:
    try:
        topics_by_slug(slugs)
    except UnknownTopic as unknown:
        raise field_problem("topics", f"unknown topic: {unknown}") from None


@bp.post("/contacts")
@requires(ApiScope.CONTACTS_WRITE)
@spec.validate(
    json=ContactCreate,
    resp=Response(
        HTTP_200=ContactCreated,
        HTTP_201=ContactCreated,
        HTTP_409=Problem,
        HTTP_415=Problem,
        **REFUSALS,
    ),
    tags=["contacts"],
)
def create_contact(json: ContactCreate) -> tuple[ContactCreated, int]:
    """Record a contact with consent evidence, as offline capture does: only a signed
    agreement that covers newsletters confirms topics at once; otherwise the double
    opt-in starts. 409 when the address is suppressed."""
    email = checked_email(json.email)
    check_language(json.language)
    phone = checked_phones({"phone": json.phone})["phone"]
    check_topics(json.topics)
    consent = OfflineConsent(
        **json.model_dump(exclude={"email", "topics", "phone"}),
        email=email,
        phone=phone,
        topics=tuple(json.topics),
    )
    try:
        result = record_offline_consent(consent, current_token())
    except Suppressed:
        raise ApiProblem(409, SUPPRESSED) from None
    body = ContactCreated(
        id=result.contact.public_id,
        contact=readable_detail(result.contact),
        created=result.created,
        confirmed=result.confirmed,
        pending=result.pending,
    )
    return body, 201 if result.created else 200


@bp.patch("/contacts/<public_id>")
@requires(ApiScope.CONTACTS_WRITE)
@spec.validate(
    json=ContactChanges,
    resp=Response(HTTP_200=Rectified, HTTP_404=Problem, HTTP_409=Problem, **REFUSALS),
    tags=["contacts"],
)
def rectify_contact(public_id: str, json: ContactChanges) -> Rectified:
    """Correct a contact's fields with a reason: a ledger row per field, one audit entry.
    409 when a new address belongs to another contact or is suppressed."""
    contact = contact_or_404(public_id)
    changes = json.model_dump(exclude={"reason"}, exclude_none=True)
    if "email" in changes:
        changes["email"] = checked_email(changes["email"])
    check_language(json.language)
    changes |= checked_phones({k: v for k, v in changes.items() if k in ("phone", "fax")})
    try:
        changed = rectify_by_staff(contact, changes, json.reason, current_token())
    except (AddressTaken, Suppressed):
        raise ApiProblem(409, "This address cannot be used for this contact.") from None
    return Rectified(changed=changed, contact=readable_detail(contact))


@bp.delete("/contacts/<public_id>/subscriptions/<topic>")
@requires(ApiScope.SUBSCRIPTIONS_WRITE)
@spec.validate(
    resp=Response(HTTP_200=Withdrawn, HTTP_404=Problem, **REFUSALS), tags=["subscriptions"]
)
def withdraw_topic(public_id: str, topic: str) -> Withdrawn:
    """Withdraw one topic on the person's behalf (asked through another system)."""
    contact = contact_or_404(public_id)
    try:
        topics_by_slug([topic])
    except UnknownTopic:
        raise ApiProblem(404, f"There is no topic {topic!r}.") from None
    stopped = unsubscribe_by_staff(contact, [topic], "asked through the API", current_token())
    return Withdrawn(withdrawn=stopped)
