"""Readable, translated names for the stored codes (statuses, channels, kinds, actions)."""

from __future__ import annotations

from datetime import date, datetime

from flask import Flask
from flask_babel import LazyString, format_date, format_datetime, format_decimal
from flask_babel import lazy_gettext as _l

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
    # disclosures
    "partner": _l("partner"),
    "authority": _l("authority"),
    "dispute_body": _l("dispute-resolution body"),
    # ledger purposes and actions
    "contact": _l("contact"),
    "newsletter": _l("newsletter"),
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
}


def field_label(name: object) -> str:
    """The readable name of a stored field of a contact; unknown ones as they are."""
    found = FIELDS.get(str(name))
    return str(found) if found is not None else str(name)


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


def init_app(app: Flask) -> None:
    """Register the `label`, `field_label`, `when`, `undeliverable_reason` and `percent`
    template filters."""
    app.jinja_env.filters["label"] = label
    app.jinja_env.filters["field_label"] = field_label
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["undeliverable_reason"] = undeliverable_reason
    app.jinja_env.filters["percent"] = percent
