"""Bounce and complaint events from sending providers, read into the same `Report` shape
as a returned mail, so the bounce handling treats both alike.

Pure: the payload is JSON whose signature the webhook has already checked; nothing here
touches the database or the request. Each provider's own event id becomes the report
id, so an event delivered twice counts once. Events that are not bounces or complaints
(deliveries, opens, clicks, retries still under way) give no report; a payload that is
not what the provider sends raises `MalformedEvent`, so the caller can say so.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from consentapp.mail.provider_fields import (
    ENHANCED_STATUS,
    MalformedEvent,
    email_address,
    event_report,
    json_object,
    one_line,
    optional_address,
    status_code,
    text_field,
)
from consentapp.mail.reports import BounceKind, FailedRecipient, Report, classify

__all__ = ["PROVIDERS", "MalformedEvent", "provider_reports"]

PROVIDERS = ("ses", "postmark", "sendgrid", "mailgun", "generic")


def provider_reports(provider: str, body: bytes) -> list[Report]:
    """The bounces and complaints in one verified webhook payload (often none)."""
    reader = READERS.get(provider)
    if reader is None:
        raise MalformedEvent(f"unknown provider {provider!r}")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise MalformedEvent(f"{provider}: the body is not JSON ({exc})") from exc
    try:
        return reader(data)
    except MalformedEvent:
        raise
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        # A shape no check above foresaw: still the sender's fault, so a 400, not a 500.
        # The exception's text may quote the payload, so only its kind is named.
        raise MalformedEvent(
            f"{provider}: the payload does not have the shape {provider} sends"
            f" ({type(exc).__name__})"
        ) from exc


# --- Amazon SES, through SNS ---------------------------------------------------------

SES_BOUNCE_KINDS = {"Permanent": BounceKind.HARD, "Transient": BounceKind.SOFT}


def _ses(data: Any) -> list[Report]:
    """An SNS envelope whose `Message` is the SES notification as a JSON string (a bare
    notification is read too). Only Bounce and Complaint notifications are reports."""
    envelope = json_object(data, "the SNS message")
    if "Type" in envelope:
        if envelope.get("Type") != "Notification":
            return []
        try:
            message = text_field(envelope, "Message", "the SNS message", required=True)
            data = json.loads(message or "")
        except (ValueError, RecursionError) as exc:
            raise MalformedEvent("the SNS Message is not an SES notification (not JSON)") from exc
    notification = json_object(data, "the SES notification")
    kind = notification.get("notificationType") or notification.get("eventType")
    if kind not in ("Bounce", "Complaint"):
        return []
    mail = json_object(notification.get("mail", {}), "mail")
    if kind == "Bounce":
        event = json_object(notification.get("bounce"), "bounce")
        recipients = _ses_bounced(event)
        feedback_type = None
    else:
        event = json_object(notification.get("complaint"), "complaint")
        recipients = _ses_complained(event)
        feedback_type = (text_field(event, "complaintFeedbackType", "complaint") or "abuse").lower()
    feedback_id = text_field(event, "feedbackId", kind.lower(), required=True) or ""
    return [
        event_report(
            "ses",
            feedback_id,
            recipients,
            message_id=_ses_message_id(mail),
            return_paths=_ses_return_paths(mail),
            feedback_type=feedback_type,
        )
    ]


def _ses_entries(event: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    entries = event.get(name)
    if not isinstance(entries, list) or not entries:
        raise MalformedEvent(f"{name} must be a non-empty list")
    return [json_object(entry, name) for entry in entries]


def _ses_bounced(event: Mapping[str, Any]) -> list[FailedRecipient]:
    kind = SES_BOUNCE_KINDS.get(text_field(event, "bounceType", "bounce") or "", BounceKind.SOFT)
    failed = []
    for entry in _ses_entries(event, "bouncedRecipients"):
        diagnostic = one_line(text_field(entry, "diagnosticCode", "bouncedRecipients"))
        if diagnostic and diagnostic.lower().startswith("smtp;"):
            diagnostic = diagnostic[5:].strip() or None
        given = text_field(entry, "emailAddress", "bouncedRecipients")
        address = email_address(given, "emailAddress")
        status = status_code(text_field(entry, "status", "bouncedRecipients"), diagnostic)
        failed.append(FailedRecipient(address, kind, status, diagnostic))
    return failed


def _ses_complained(event: Mapping[str, Any]) -> list[FailedRecipient]:
    diagnostic = one_line(text_field(event, "userAgent", "complaint"))
    return [
        FailedRecipient(
            email_address(text_field(entry, "emailAddress", "complained"), "emailAddress"),
            BounceKind.COMPLAINT,
            None,
            diagnostic,
        )
        for entry in _ses_entries(event, "complainedRecipients")
    ]


def _ses_headers(mail: Mapping[str, Any]) -> dict[str, str]:
    given = mail.get("headers") or []
    if not isinstance(given, list):
        raise MalformedEvent("mail.headers must be a list")
    headers: dict[str, str] = {}
    for header in given:
        if isinstance(header, dict):
            name, value = header.get("name"), header.get("value")
            if isinstance(name, str) and isinstance(value, str):
                headers.setdefault(name.lower(), value)
    return headers


def _ses_message_id(mail: Mapping[str, Any]) -> str | None:
    common = mail.get("commonHeaders")
    common_id = common.get("messageId") if isinstance(common, dict) else None
    found = _ses_headers(mail).get("message-id") or common_id
    return found if isinstance(found, str) else None


def _ses_return_paths(mail: Mapping[str, Any]) -> list[str | None]:
    """Where a VERP address may be: the envelope sender SES used, then the headers."""
    common = mail.get("commonHeaders")
    given = [text_field(mail, name, "mail") for name in ("returnPath", "source")]
    if isinstance(common, dict):
        given.append(text_field(common, "returnPath", "commonHeaders"))
    given.append(_ses_headers(mail).get("return-path"))
    return [optional_address(value) for value in given]


# --- Postmark ------------------------------------------------------------------------

POSTMARK_KINDS = {
    "HardBounce": BounceKind.HARD,
    "BadEmailAddress": BounceKind.HARD,
    "ManuallyDeactivated": BounceKind.HARD,
    "SoftBounce": BounceKind.SOFT,
    "Transient": BounceKind.SOFT,
    "DnsError": BounceKind.SOFT,
    "Blocked": BounceKind.SOFT,
    "DMARCPolicy": BounceKind.SOFT,
    "SpamNotification": BounceKind.SOFT,
    "VirusNotification": BounceKind.SOFT,
    "SpamComplaint": BounceKind.COMPLAINT,
}


def _postmark(data: Any) -> list[Report]:
    """One Bounce or SpamComplaint record; auto-responders, subscribe/unsubscribe
    notices, address changes and challenge mails are not bounces."""
    event = json_object(data, "the Postmark webhook")
    if event.get("RecordType") not in ("Bounce", "SpamComplaint"):
        return []
    kind = POSTMARK_KINDS.get(text_field(event, "Type", "Postmark") or "")
    if kind is None:
        return []
    event_id = text_field(event, "ID", "Postmark", required=True) or ""
    details = text_field(event, "Details", "Postmark")
    diagnostic = one_line(details or text_field(event, "Description", "Postmark"))
    address = email_address(text_field(event, "Email", "Postmark", required=True), "Email")
    recipient = FailedRecipient(address, kind, status_code(details), diagnostic)
    complaint = kind is BounceKind.COMPLAINT
    return [
        event_report(
            "postmark",
            event_id,
            [recipient],
            message_id=text_field(event, "MessageID", "Postmark"),
            feedback_type="abuse" if complaint else None,
        )
    ]


# --- SendGrid ------------------------------------------------------------------------

SENDGRID_DROPPED = {
    "bounced address": BounceKind.HARD,
    "spam reporting address": BounceKind.COMPLAINT,
}


def _sendgrid(data: Any) -> list[Report]:
    """An array of events: `bounce` (type bounce is hard, blocked soft), `dropped` for a
    known bounced or complaining address, and `spamreport`. Deferred mail is retried by
    SendGrid, so it is no bounce yet."""
    if not isinstance(data, list):
        raise MalformedEvent("a SendGrid payload must be a JSON array of events")
    reports = []
    for item in data:
        event = json_object(item, "a SendGrid event")
        kind = _sendgrid_kind(event)
        if kind is None:
            continue
        event_id = text_field(event, "sg_event_id", "SendGrid", required=True) or ""
        reason = one_line(text_field(event, "reason", "SendGrid"))
        address = email_address(text_field(event, "email", "SendGrid", required=True), "email")
        status = (
            None
            if kind is BounceKind.COMPLAINT
            else status_code(text_field(event, "status", "SendGrid"), reason)
        )
        reports.append(
            event_report(
                "sendgrid",
                event_id,
                [FailedRecipient(address, kind, status, reason)],
                message_id=text_field(event, "smtp-id", "SendGrid"),
                feedback_type="abuse" if kind is BounceKind.COMPLAINT else None,
            )
        )
    return reports


def _sendgrid_kind(event: Mapping[str, Any]) -> BounceKind | None:
    name = event.get("event")
    if name == "bounce":
        return BounceKind.SOFT if event.get("type") == "blocked" else BounceKind.HARD
    if name == "dropped":
        reason = text_field(event, "reason", "SendGrid") or ""
        return SENDGRID_DROPPED.get(reason.lower())
    if name == "spamreport":
        return BounceKind.COMPLAINT
    return None


# --- Mailgun -------------------------------------------------------------------------


def _mailgun(data: Any) -> list[Report]:
    """{"signature": ..., "event-data": ...}: a `failed` event (permanent is hard;
    temporary is soft, but only once Mailgun has stopped retrying) or `complained`."""
    event = json_object(json_object(data, "the Mailgun webhook").get("event-data"), "event-data")
    name = event.get("event")
    status_info = json_object(event.get("delivery-status") or {}, "delivery-status")
    if name == "failed":
        severity = event.get("severity")
        if severity == "temporary" and status_info.get("retry-seconds"):
            return []  # Mailgun tries again; the last attempt's event counts
        kind = BounceKind.HARD if severity == "permanent" else BounceKind.SOFT
    elif name == "complained":
        kind = BounceKind.COMPLAINT
    else:
        return []
    event_id = text_field(event, "id", "event-data", required=True) or ""
    given = text_field(event, "recipient", "event-data", required=True)
    address = email_address(given, "recipient")
    message = json_object(event.get("message") or {}, "message")
    headers = json_object(message.get("headers") or {}, "message.headers")
    envelope = json_object(event.get("envelope") or {}, "envelope")
    recipient = FailedRecipient(address, kind, *_mailgun_status(status_info, kind))
    return [
        event_report(
            "mailgun",
            event_id,
            [recipient],
            message_id=text_field(headers, "message-id", "message.headers"),
            return_paths=[optional_address(text_field(envelope, "sender", "envelope"))],
            feedback_type="abuse" if kind is BounceKind.COMPLAINT else None,
        )
    ]


def _mailgun_status(info: Mapping[str, Any], kind: BounceKind) -> tuple[str | None, str | None]:
    if kind is BounceKind.COMPLAINT:
        return None, None
    what = "delivery-status"
    code = text_field(info, "code", what)
    message = text_field(info, "message", what)
    description = text_field(info, "description", what)
    diagnostic = one_line(code, message, description)
    return status_code(text_field(info, "enhanced-code", what), message, description), diagnostic


# --- our own format --------------------------------------------------------------------

GENERIC_KINDS = {"hard": BounceKind.HARD, "soft": BounceKind.SOFT}


def _generic(data: Any) -> list[Report]:
    """README-webhooks.md documents it: one event object or an array of them."""
    events = data if isinstance(data, list) else [data]
    reports = []
    for item in events:
        event = json_object(item, "an event")
        kind_name = event.get("type")
        if kind_name not in ("bounce", "complaint"):
            continue
        event_id = text_field(event, "id", "event", required=True) or ""
        address = email_address(text_field(event, "email", "event", required=True), "email")
        diagnostic = one_line(text_field(event, "diagnostic", "event"))
        status = text_field(event, "status", "event")
        if status is not None and not ENHANCED_STATUS.fullmatch(status):
            raise MalformedEvent("status must be an enhanced status code like 5.1.1")
        kind = _generic_kind(event, kind_name, status, diagnostic)
        reports.append(
            event_report(
                "generic",
                event_id,
                [FailedRecipient(address, kind, status, diagnostic)],
                message_id=text_field(event, "message_id", "event"),
                return_paths=[optional_address(text_field(event, "return_path", "event"))],
                feedback_type="abuse" if kind is BounceKind.COMPLAINT else None,
            )
        )
    return reports


def _generic_kind(
    event: Mapping[str, Any], kind_name: str, status: str | None, diagnostic: str | None
) -> BounceKind:
    if kind_name == "complaint":
        return BounceKind.COMPLAINT
    given = event.get("bounce_type")
    if given is None:
        return classify(status, diagnostic)
    if not isinstance(given, str) or given not in GENERIC_KINDS:
        raise MalformedEvent('bounce_type must be "hard" or "soft"')
    return GENERIC_KINDS[given]


READERS: dict[str, Callable[[Any], list[Report]]] = {
    "ses": _ses,
    "postmark": _postmark,
    "sendgrid": _sendgrid,
    "mailgun": _mailgun,
    "generic": _generic,
}
