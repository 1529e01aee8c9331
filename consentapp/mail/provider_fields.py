"""Reading provider JSON defensively, for consentapp/mail/providers.py: a field of the
wrong type, a missing address or id is a `MalformedEvent`, never a crash."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from email.utils import parseaddr
from typing import Any

from consentapp.mail.reports import FailedRecipient, Report

MAX_DIAGNOSTIC = 1000
ENHANCED_STATUS = re.compile(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])")


class MalformedEvent(ValueError):
    """The payload is not what this provider sends (or not JSON at all)."""


def json_object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise MalformedEvent(f"{what} must be a JSON object")
    return value


def text_field(data: Mapping[str, Any], name: str, what: str, required: bool = False) -> str | None:
    """A string (or number) field; None when absent or empty, unless `required`."""
    value = data.get(name)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if value is not None and not isinstance(value, str):
        raise MalformedEvent(f"{what}.{name} must be text")
    if required and not (value and value.strip()):
        raise MalformedEvent(f"{what}.{name} is missing")
    return value.strip() if value and value.strip() else None


def email_address(value: str | None, what: str) -> str:
    """A bare address from "a@b" or "Name <a@b>"; anything else is malformed."""
    _, address = parseaddr(value or "")
    if "@" not in address or any(c.isspace() for c in address) or len(address) > 320:
        raise MalformedEvent(f"{what} is not an e-mail address")  # the value is personal data
    return address


def optional_address(value: str | None) -> str | None:
    _, address = parseaddr(value or "")
    return address if "@" in address and not any(c.isspace() for c in address) else None


def one_line(*parts: str | None) -> str | None:
    """Diagnostic text as one line, whitespace collapsed, at most 1000 characters."""
    text = " ".join(" ".join(part.split()) for part in parts if part and part.strip())
    return text[:MAX_DIAGNOSTIC] or None


def status_code(given: str | None, *texts: str | None) -> str | None:
    """The enhanced status code given, else one found in the text, else None."""
    for candidate in (given, *texts):
        match = ENHANCED_STATUS.search(candidate or "")
        if match:
            return match.group(1)
    return None


def bare_id(value: str | None) -> str | None:
    bare = (value or "").strip().strip("<>").strip()
    return bare[:500] or None


def dedupe(values: Iterable[str | None]) -> tuple[str, ...]:
    seen: list[str] = []
    for value in values:
        if value and value not in seen:
            seen.append(value)
    return tuple(seen)


def event_report(
    provider: str,
    event_id: str,
    recipients: Iterable[FailedRecipient],
    message_id: str | None = None,
    return_paths: Iterable[str | None] = (),
    feedback_type: str | None = None,
) -> Report:
    failed = tuple(recipients)
    return Report(
        format=provider,
        recipients=failed,
        report_id=f"{provider}:{event_id}",
        original_message_id=bare_id(message_id),
        return_paths=dedupe(return_paths),
        feedback_type=feedback_type,
        original_recipient=failed[0].address if feedback_type and failed else None,
    )
