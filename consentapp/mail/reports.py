"""Bounce and complaint reports read from mail (RFC 3464 DSNs, RFC 5965 ARF, plain-text bounces)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class BounceKind(enum.StrEnum):
    HARD = "hard"
    SOFT = "soft"
    COMPLAINT = "complaint"


@dataclass(frozen=True, slots=True)
class FailedRecipient:
    address: str
    kind: BounceKind
    status: str | None
    diagnostic: str | None
    original: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    format: str
    recipients: tuple[FailedRecipient, ...]
    report_id: str
    original_message_id: str | None
    return_paths: tuple[str, ...]
    feedback_type: str | None = None
    original_recipient: str | None = None


def parse_report(raw: bytes) -> Report | None:
    raise NotImplementedError


def classify(status: str | None, diagnostic: str | None) -> BounceKind:
    raise NotImplementedError
