"""Provider event payloads (Amazon SES, Postmark, SendGrid, Mailgun, our own) as reports."""

from __future__ import annotations

from consentapp.mail.reports import Report


class MalformedEvent(ValueError):
    """A payload that is not what the provider sends."""


def provider_reports(provider: str, body: bytes) -> list[Report]:
    raise MalformedEvent(f"{provider} payloads are not read yet")
