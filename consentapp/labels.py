"""Readable, translated names for the stored codes (statuses, channels, kinds, actions)."""

from __future__ import annotations

from datetime import date, datetime

from flask import Flask
from flask_babel import LazyString, format_date, format_datetime
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


def label(code: object) -> str:
    """The readable name of a stored code; unknown codes are shown as they are."""
    text = "" if code is None else str(code)
    found = LABELS.get(text)
    return str(found) if found is not None else text


def init_app(app: Flask) -> None:
    """Register the `label`, `field_label` and `when` template filters."""
    app.jinja_env.filters["label"] = label
    app.jinja_env.filters["field_label"] = field_label
    app.jinja_env.filters["when"] = when
