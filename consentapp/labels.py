"""Readable, translated names for the stored codes (statuses, channels, kinds, actions)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

import phonenumbers
from flask import Flask
from flask_babel import (
    LazyString,
    format_date,
    format_datetime,
    format_decimal,
    format_time,
    get_locale,
)
from flask_babel import lazy_gettext as _l

from consentapp.audit_words import ACTIONS, DETAILS, REASONS, TARGET_TYPES
from consentapp.models import Topic
from consentapp.services.processing_terms import bases_text, recipients_text
from consentapp.services.register import in_language
from consentapp.services.topics import topic_labels, topic_names

LABELS: dict[str, LazyString] = {
    # subscriptions, inquiries, mails, requests
    "pending": _l("waiting for confirmation"),
    "confirmed": _l("confirmed"),
    "unsubscribed": _l("unsubscribed"),
    "new": _l("new"),
    "in_progress": _l("in progress"),
    "done": _l("done"),
    "open": _l("open"),
    "unverified": _l("identity not checked"),
    "verified": _l("identity checked"),
    "denied": _l("denied"),
    "cancelled": _l("cancelled"),
    "sending": _l("being sent"),
    "sent": _l("sent"),
    "failed": _l("failed"),
    # campaigns
    "draft": _l("draft"),
    "submitted": _l("waiting for an admin's approval"),
    "scheduled": _l("scheduled"),
    "paused": _l("paused"),
    "closed": _l("closed"),
    # request kinds
    "access": _l("access and copy"),
    "rectification": _l("correction"),
    "erasure": _l("erasure"),
    "objection": _l("objection to direct marketing"),
    # channels
    "web": _l("website"),
    "web_form": _l("website form"),
    "one_click": _l("one-click unsubscribe"),
    "email": _l("e-mail"),
    "phone": _l("phone"),
    "letter": _l("letter"),
    "agreement": _l("signed agreement"),
    "import": _l("import"),
    "staff": _l("staff"),
    "api": _l("another system, through the API"),
    "repermission": _l('answer to "do you still want it?"'),
    "lapsed": _l('lapsed: no answer to "do you still want it?"'),
    # disclosures
    "partner": _l("partner"),
    "authority": _l("authority"),
    "dispute_body": _l("dispute-resolution body"),
    # ledger purposes and actions
    "contact": _l("contact"),
    "newsletter": _l("newsletter"),
    "statistics": _l("personal statistics"),
    "given": _l("given"),
    "requested": _l("requested"),
    "withdrawn": _l("withdrawn"),
    "rectified": _l("corrected"),
    "expired": _l("expired"),
    # bounces: types, and where the report came from
    "hard": _l("hard bounce"),
    "soft": _l("soft bounce"),
    "complaint": _l("complaint"),
    "delivery": _l("our own sending"),
    "smtp": _l("bounce server"),
    "mailbox": _l("mailbox"),
    "ses": _l("Amazon SES"),
    "postmark": _l("Postmark"),
    "sendgrid": _l("SendGrid"),
    "mailgun": _l("Mailgun"),
    "generic": _l("webhook"),
    # languages
    "nl": _l("Dutch"),
    "en": _l("English"),
    "delivered": _l("delivered"),
    # API token scopes
    "contacts:read": _l("read contacts"),
    "contacts:write": _l("change contacts"),
    "subscriptions:read": _l("read subscriptions"),
    "subscriptions:write": _l("change subscriptions"),
    "ledger:read": _l("read the consent ledger"),
    "ledger:write": _l("write to the consent ledger"),
    "topics:read": _l("read topics"),
    "campaigns:read": _l("read newsletters"),
}

# Staff roles.
ROLES: dict[str, LazyString] = {
    "admin": _l("administrator"),
    "staff": _l("staff member"),
}

# Why an address is marked undeliverable, as the contact page says it.
UNDELIVERABLE_REASONS: dict[str, LazyString] = {
    "hard": _l("the receiving server says the address does not exist or refuses our mail"),
    "soft": _l("delivery failed for a while, again and again"),
    "complaint": _l("the person marked one of our mails as spam"),
}


FIELDS: dict[str, LazyString] = {
    "email": _l("E-mail address"),
    "name": _l("Name"),
    "company": _l("Company"),
    "address": _l("Address"),
    "phone": _l("Phone"),
    "fax": _l("Fax"),
    "language": _l("Language"),
    "created_at": _l("In our records since"),
    "channel": _l("Consent channel"),
    "evidence": _l("Consent evidence"),
    "subscriptions": _l("Subscriptions"),
    "message": _l("Message"),
    "subject": _l("Subject"),
    "topics": _l("Topics"),
    "messages": _l("Messages"),
    "topic": _l("Newsletter"),
    "subject_nl": _l("Subject (Dutch)"),
    "body_nl": _l("Text (Dutch)"),
    "subject_en": _l("Subject (English)"),
    "body_en": _l("Text (English)"),
    "customers_only": _l("Only customers"),
}


def field_label(name: object) -> str:
    """The readable name of a stored field of a contact; unknown ones as they are."""
    found = FIELDS.get(str(name))
    return str(found) if found is not None else str(name)


def topic_name(slug: object) -> str:
    """A topic's name in the page's language; a topic no longer known by its code."""
    language = str(get_locale() or "nl")
    return topic_labels(language).get(str(slug), str(slug))


def register_text(text: object) -> str:
    """A text of the record of processing in the page's language, when pre-filled."""
    return in_language(str(text or ""), str(get_locale() or "nl"))


def role_label(code: object) -> str:
    """The readable name of a staff role."""
    found = ROLES.get(str(code))
    return str(found) if found is not None else str(code)


def action_label(code: object) -> str:
    """The readable name of an audit action; an unknown one as it is stored."""
    found = ACTIONS.get(str(code))
    return str(found) if found is not None else str(code)


def target_label(code: object) -> str:
    """What kind of thing an audit entry is about, in words."""
    found = TARGET_TYPES.get(str(code))
    return str(found) if found is not None else str(code or "")


def _detail_value(key: str, value: object) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return str(_l("yes") if value else _l("no"))
    if isinstance(value, list):
        return ", ".join(_detail_value(key, item) for item in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{label(k)}: {_detail_value(key, v)}" for k, v in value.items())
    return _detail_text(key, str(value))


def _detail_text(key: str, text: str) -> str:
    if key == "reason" and text in REASONS:
        return str(REASONS[text])
    if key == "role" or (key in {"from", "to"} and text in ROLES):
        return role_label(text)
    words = {
        "fields": field_label,
        "at": when,
        "until": when,
        "held_until": when,
        "topic": topic_name,
        "topics": topic_name,
        "language": label,
        "confirmed": topic_name,
        "pending": topic_name,
        "obtained_on": when,
        "how": verification,
        "outcome": outcome,
    }
    return words.get(key, label)(text)


def audit_details(details: object) -> list[tuple[str, str]]:
    """The details of an audit entry as (label, value) pairs, in words."""
    if not isinstance(details, dict):
        return []
    rows = []
    for key, value in details.items():
        found = DETAILS.get(str(key))
        rows.append((str(found) if found is not None else str(key), _detail_value(key, value)))
    return rows


def phone(value: object) -> str:
    """A stored E.164 number as people write it (+32 470 12 34 56); others as they are."""
    text = "" if value is None else str(value)
    if not text.startswith("+"):
        return text
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return text
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


_ERASED_HELD = "erased; held for accounting until "
OUTCOMES: dict[str, LazyString] = {
    "export provided": _l("copy of the data provided"),
    "all newsletters stopped; address suppressed for direct marketing": _l(
        "all newsletters stopped; the address gets no more direct marketing"
    ),
    "erased": _l("erased"),
    "no data held about this address": _l("no data held about this address"),
    "identity never confirmed": _l("the identity was never confirmed"),
}


def outcome(value: object) -> str:
    """What was done for a request, in words; staff's own text as written."""
    text = "" if value is None else str(value)
    if text.startswith(_ERASED_HELD):
        return str(
            _l("erased; kept for accounting until %(day)s", day=when(text[len(_ERASED_HELD) :]))
        )
    found = OUTCOMES.get(text)
    return str(found) if found is not None else text


def verification(value: object) -> str:
    """How a person's identity was checked, in words."""
    text = "" if value is None else str(value)
    if text.startswith("staff:"):
        return str(_l("checked by staff: %(how)s", how=text[len("staff:") :].strip()))
    if text == "link sent to the address on file":
        return str(_l("the person opened the link sent to the address we hold"))
    return text


def when(value: str | date | datetime | None) -> str:
    """A stored moment (a datetime, a date, or either in ISO form) as readers expect it,
    in the page's language and time zone."""
    if value is None or value == "":
        return "—"
    moment: date | datetime
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            return value
    else:
        moment = value
    if isinstance(moment, datetime):
        return str(format_datetime(moment, "medium"))
    return str(format_date(moment, "long"))


def long_moment(value: datetime) -> str:
    """A moment for a record the reader keeps (a consent receipt): the long date, then
    the time with its zone written out ("Central European Standard Time"), where the
    long format alone prints English readers a bare offset ("+0100")."""
    return f"{format_date(value, 'long')}, {format_time(value, 'full')}"


def undeliverable_reason(code: object) -> str:
    """Why an address gets no mail, in words; an unknown reason as it is stored."""
    found = UNDELIVERABLE_REASONS.get(str(code))
    return str(found) if found is not None else label(code)


def percent(value: float | None) -> str:
    """A rate in percent as the page's language writes it ("0,25 %" in Dutch)."""
    if value is None:
        return "—"
    return f"{format_decimal(round(value, 2), '#,##0.0#')} %"


def label(code: object) -> str:
    """The readable name of a stored code; unknown codes are shown as they are."""
    text = "" if code is None else str(code)
    found = LABELS.get(text)
    return str(found) if found is not None else text


def topic_list(topics: Iterable[Topic]) -> str:
    """Topics' names as one phrase in the page's language ("A, B and C")."""
    return topic_names(topics, str(get_locale() or "nl"))


def init_app(app: Flask) -> None:
    """Register the template filters of this module."""
    app.jinja_env.filters["label"] = label
    app.jinja_env.filters["field_label"] = field_label
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["long_moment"] = long_moment
    app.jinja_env.filters["undeliverable_reason"] = undeliverable_reason
    app.jinja_env.filters["percent"] = percent
    app.jinja_env.filters["action_label"] = action_label
    app.jinja_env.filters["audit_details"] = audit_details
    app.jinja_env.filters["target_label"] = target_label
    app.jinja_env.filters["phone"] = phone
    app.jinja_env.filters["role_label"] = role_label
    app.jinja_env.filters["topic_names"] = topic_list
    app.jinja_env.filters["topic_name"] = topic_name
    app.jinja_env.filters["register_text"] = register_text
    app.jinja_env.filters["legal_bases"] = bases_text
    app.jinja_env.filters["recipient_kinds"] = recipients_text
    app.jinja_env.filters["outcome"] = outcome
    app.jinja_env.filters["verification"] = verification
