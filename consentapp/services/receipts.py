"""The consent receipt: what a person agreed to, read from the consent ledger (P16).

One builder serves the welcome mail, the printable page and the JSON download, so
the three always say the same. Each consent in force is shown with the ledger row
that gave it: when, the notice version and fingerprint shown then, and how.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from consentapp.extensions import db
from consentapp.links import external_url, preferences_url, unsubscribe_url
from consentapp.models import ConsentAction, ConsentEvent, ConsentPurpose, Contact, Topic, utcnow

# Bumped when a key changes meaning or disappears; new keys may be added within a version.
SCHEMA_VERSION = 1

# Ledger actions that start a consent, and those that end one.
AGREEING = {ConsentAction.GIVEN, ConsentAction.CONFIRMED}
ENDING = {ConsentAction.WITHDRAWN, ConsentAction.EXPIRED}

# How a consent was given, in words, for the `how` codes of `_how`.
HOW: dict[str, Any] = {
    "double_opt_in": _l("double opt-in: you confirmed with the link we mailed to you"),
    "preferences_link": _l("ticked on your preferences page, opened with a link we mailed to you"),
    "web_form": _l("through the form on our website"),
    "agreement": _l("in a signed agreement"),
    "email": _l("by e-mail"),
    "phone": _l("by phone"),
    "import": _l("recorded by us from an earlier contact"),
    "staff": _l("recorded by our staff"),
    "api": _l("through another system of ours"),
    "repermission": _l('you pressed "yes" when we asked whether you still wanted it'),
}

# What a purpose of the ledger covers, in words; a purpose not named here is shown by
# its code's label (`labels.label`), so a new purpose appears on the receipt as it is.
PURPOSES: dict[str, Any] = {
    "contact": _l("Answering your messages and keeping your contact details for that"),
    "statistics": _l(
        "Personal statistics: recording which links you click in our newsletters (and,"
        " where a newsletter asks it, whether you open it)"
    ),
}


@dataclass(frozen=True)
class Moment:
    """A ledger time in UTC and in the company's time zone."""

    utc: datetime
    local: datetime

    @classmethod
    def of(cls, value: datetime) -> Moment:
        """`value` as stored (SQLite gives it back without a zone: it is UTC)."""
        utc = value if value.tzinfo else value.replace(tzinfo=UTC)
        zone = ZoneInfo(str(current_app.config["TIMEZONE"]))
        return cls(utc=utc.astimezone(UTC), local=utc.astimezone(zone))

    def as_json(self) -> dict[str, str]:
        """ISO 8601 both ways, and the zone's name."""
        return {
            "utc": self.utc.isoformat(timespec="seconds"),
            "local": self.local.isoformat(timespec="seconds"),
            "time_zone": str(current_app.config["TIMEZONE"]),
        }


@dataclass(frozen=True)
class NoticeShown:
    """The notice version a consent was given under, and where its exact text stays online."""

    version: int
    language: str
    sha256: str
    url: str


@dataclass(frozen=True)
class ConsentItem:
    """One consent: to a newsletter topic, or to another purpose of the ledger."""

    purpose: str
    topic: str | None
    label: str | None  # the topic's name; pages name other purposes by their code's label
    given_at: Moment
    action: str
    channel: str
    how: str
    notice: NoticeShown | None
    withdrawn_at: Moment | None = None

    @property
    def purpose_text(self) -> str | None:
        """What a purpose other than a newsletter covers, when we word it."""
        found = PURPOSES.get(self.purpose)
        return str(found) if found is not None else None

    @property
    def how_text(self) -> str:
        """How it was given, in the current language."""
        return str(HOW.get(self.how) or HOW.get(self.channel) or self.channel)


@dataclass(frozen=True)
class Receipt:
    """Everything the receipt states, in one language."""

    issued_at: Moment
    language: str
    email: str
    consents: list[ConsentItem]
    withdrawn: list[ConsentItem]
    controller: dict[str, str]
    preferences_url: str
    unsubscribe_url: str


def build_receipt(contact: Contact, language: str, email: str | None = None) -> Receipt:
    """The receipt for `contact`; `email` replaces the address shown (masked on a page a
    forwarded link opens). Reads the ledger rows of the current transaction too."""
    consents, withdrawn = _replay(_ledger_rows(contact), language)
    return Receipt(
        issued_at=Moment.of(utcnow()),
        language=language,
        email=email or contact.mail_address,
        consents=consents,
        withdrawn=withdrawn,
        controller={
            "name": str(current_app.config["ORG_NAME"]),
            "address": str(current_app.config["ORG_ADDRESS"]),
            "email": str(current_app.config["ORG_EMAIL"]),
            "privacy_notice_url": external_url("public.privacy", lang=language),
        },
        preferences_url=preferences_url(contact),
        unsubscribe_url=unsubscribe_url(contact),
    )


def _ledger_rows(contact: Contact) -> list[ConsentEvent]:
    return list(
        db.session.scalars(
            sa.select(ConsentEvent)
            .where(ConsentEvent.subject_id == contact.public_id)
            .order_by(ConsentEvent.occurred_at, ConsentEvent.id)
        )
    )


def _replay(rows: list[ConsentEvent], language: str) -> tuple[list[ConsentItem], list[ConsentItem]]:
    """Walk the ledger in order: per purpose and topic, the row that gave the consent in
    force, or the consent that was given and later withdrawn."""
    given: dict[tuple[str, int | None], ConsentEvent] = {}
    ended: dict[tuple[str, int | None], tuple[ConsentEvent, ConsentEvent]] = {}
    for row in rows:
        key = (str(row.purpose), row.topic_id)
        if row.action in AGREEING:
            given[key] = row
            ended.pop(key, None)
        elif row.action in ENDING and key in given:
            ended[key] = (given.pop(key), row)
    labels = _topic_labels(language)
    consents = [_item(row, labels, language) for row in given.values()]
    withdrawn = [
        _item(start, labels, language, withdrawn_at=Moment.of(end.occurred_at))
        for start, end in ended.values()
    ]
    return _ordered(consents), _ordered(withdrawn)


def _ordered(items: list[ConsentItem]) -> list[ConsentItem]:
    """Newsletters first, then the other purposes; oldest first within each."""
    return sorted(
        items, key=lambda item: (item.purpose != ConsentPurpose.NEWSLETTER, item.given_at.utc)
    )


def _topic_labels(language: str) -> dict[int, tuple[str, str]]:
    topics = db.session.scalars(sa.select(Topic))
    return {topic.id: (topic.slug, topic.label(language)) for topic in topics}


def _item(
    row: ConsentEvent,
    labels: dict[int, tuple[str, str]],
    language: str,
    withdrawn_at: Moment | None = None,
) -> ConsentItem:
    slug: str | None = None
    name: str | None = None
    if row.topic_id is not None and row.topic_id in labels:
        slug, name = labels[row.topic_id]
    return ConsentItem(
        purpose=str(row.purpose),
        topic=slug,
        label=name,
        given_at=Moment.of(row.occurred_at),
        action=str(row.action),
        channel=str(row.channel),
        how=_how(row),
        notice=_notice_shown(row, language),
        withdrawn_at=withdrawn_at,
    )


def _how(row: ConsentEvent) -> str:
    via = (row.details or {}).get("via")
    if row.action == ConsentAction.CONFIRMED and via == "confirmation link":
        return "double_opt_in"
    if via == "preferences link":
        return "preferences_link"
    return str(row.channel)


def _notice_shown(row: ConsentEvent, language: str) -> NoticeShown | None:
    if row.notice_version is None or row.notice_sha256 is None:
        return None
    shown_in = row.notice_language or language
    return NoticeShown(
        version=row.notice_version,
        language=shown_in,
        sha256=row.notice_sha256,
        url=external_url("public.privacy_version", version=row.notice_version, lang=shown_in),
    )


def receipt_json(receipt: Receipt) -> dict[str, Any]:
    """The machine-readable receipt; its keys are listed in the README."""
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "consent_receipt",
        "issued_at": receipt.issued_at.as_json(),
        "language": receipt.language,
        "email": receipt.email,
        "controller": receipt.controller,
        "consents": [_item_json(item) for item in receipt.consents],
        "withdrawn": [_item_json(item) for item in receipt.withdrawn],
        "how_to_withdraw": {
            "preferences_url": receipt.preferences_url,
            "unsubscribe_url": receipt.unsubscribe_url,
            "every_newsletter": "one-click unsubscribe link at the bottom of each newsletter",
            "email": receipt.controller["email"],
        },
    }


def _item_json(item: ConsentItem) -> dict[str, Any]:
    notice = item.notice
    return {
        "purpose": item.purpose,
        "topic": item.topic,
        "label": item.label,
        "given_at": item.given_at.as_json(),
        "action": item.action,
        "channel": item.channel,
        "how": item.how,
        "notice": None
        if notice is None
        else {
            "version": notice.version,
            "language": notice.language,
            "sha256": notice.sha256,
            "url": notice.url,
        },
        "withdrawn_at": item.withdrawn_at.as_json() if item.withdrawn_at else None,
    }
