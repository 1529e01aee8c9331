"""What the REST API reads and asks for, built on the services the staff area and the
forms use (search, the double opt-in, the suppression list): no rule is kept twice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.models import (
    ApiToken,
    Campaign,
    ConsentChannel,
    ConsentEvent,
    Contact,
    DataRequest,
    RequestKind,
    RequestStatus,
    Topic,
)
from consentapp.services import notices
from consentapp.services.consent import ConsentSource, Origin
from consentapp.services.contact_search import text_filter
from consentapp.services.contacts import find_contact, find_contact_by_public_id
from consentapp.services.subscriptions import request_in_transaction
from consentapp.services.suppression import is_suppressed

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; `after` is what the next page starts after (None: last)."""

    items: list[T]
    after: int | None


class _Keyed(Protocol):
    id: int


K = TypeVar("K", bound=_Keyed)


def _newest_first(
    statement: sa.Select[K], key: Any, before_id: int | None, per_page: int
) -> Page[K]:
    """One page, newest first by `key` (the rows' id): `per_page` rows older than
    `before_id`, reading one more to know whether a next page exists."""
    if before_id is not None:
        statement = statement.where(key < before_id)
    rows = list(db.session.scalars(statement.order_by(key.desc()).limit(per_page + 1)))
    shown = rows[:per_page]
    return Page(shown, shown[-1].id if len(rows) > per_page else None)


def contacts_matching(query: str, before_id: int | None, per_page: int) -> Page[Contact]:
    """Contacts whose name, address or company contain `query` (the staff search's
    rule), newest first, `per_page` older than `before_id`: each page costs the same
    however deep it is, and contacts added meanwhile never shift a page."""
    statement = sa.select(Contact).where(Contact.erased_at.is_(None))
    matching = text_filter(query)
    if matching is not None:
        statement = statement.where(matching)
    return _newest_first(statement, Contact.id, before_id, per_page)


def contact_by_email(email: str) -> Contact | None:
    """The contact with this (already normalised) address; erased contacts have none."""
    return find_contact(email)


def contact_by_id(public_id: str) -> Contact | None:
    contact = find_contact_by_public_id(public_id)
    return contact if contact is not None and contact.erased_at is None else None


def ledger_page(contact: Contact, before_id: int | None, per_page: int) -> Page[ConsentEvent]:
    """The contact's consent ledger, newest first, `per_page` rows older than `before_id`."""
    statement = sa.select(ConsentEvent).where(ConsentEvent.subject_id == contact.public_id)
    return _newest_first(statement, ConsentEvent.id, before_id, per_page)


def topic_slugs_by_id() -> dict[int, str]:
    return {topic.id: topic.slug for topic in db.session.scalars(sa.select(Topic))}


def request_subscription_by_api(
    *,
    token: ApiToken,
    email: str,
    name: str,
    topic_slugs: Sequence[str],
    language: str,
    origin: Origin,
) -> None:
    """Step 1 of the double opt-in, asked for by a system holding `token`: the same
    ledger rows and mail as the subscribe form, the token named in the rows. Commits."""
    request_in_transaction(
        email=email,
        name=name,
        topic_slugs=topic_slugs,
        language=language,
        source=ConsentSource(
            ConsentChannel.API,
            notices.current_notice(language),
            origin,
            details={"api_token": token.prefix},
        ),
    )
    db.session.commit()


def address_suppressed(email: str) -> bool:
    return is_suppressed(email)


def campaign_page(before_id: int | None, per_page: int) -> Page[Campaign]:
    """Campaigns, newest first, `per_page` older than `before_id`."""
    return _newest_first(sa.select(Campaign), Campaign.id, before_id, per_page)


def campaign_by_id(public_id: str) -> Campaign | None:
    return db.session.scalar(sa.select(Campaign).where(Campaign.public_id == public_id))


def data_request_page(
    before_id: int | None,
    per_page: int,
    status: RequestStatus | None = None,
    kind: RequestKind | None = None,
) -> Page[DataRequest]:
    """Data-subject requests, newest first, `per_page` older than `before_id`."""
    statement = sa.select(DataRequest)
    if status is not None:
        statement = statement.where(DataRequest.status == status)
    if kind is not None:
        statement = statement.where(DataRequest.kind == kind)
    return _newest_first(statement, DataRequest.id, before_id, per_page)


def data_request_by_id(public_id: str) -> DataRequest | None:
    return db.session.scalar(sa.select(DataRequest).where(DataRequest.public_id == public_id))
