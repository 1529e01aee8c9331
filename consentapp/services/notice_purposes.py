"""The part of the privacy notice generated from the record of processing (GDPR art.
13(1)(c)-(f)): each purpose with its legal basis, retention, recipients and whether the
data leaves the EEA. Both languages read the same entries in the same order, so the
Dutch and the English notice cannot name different purposes or bases."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import force_locale

from consentapp.services import register
from consentapp.services.processing_terms import bases_text, recipients_text


@dataclass(frozen=True)
class NoticePurpose:
    """One activity of the register, in the words of one language."""

    name: str
    purposes: str
    bases: list[str]
    retention: str
    recipients: list[str]
    outside_eea: bool
    transfers: str


def notice_purposes(language: str) -> list[NoticePurpose]:
    """Every activity of the register, in its order, worded in `language`."""
    with force_locale(language):
        return [
            NoticePurpose(
                name=register.in_language(activity.name, language),
                purposes=register.in_language(activity.purposes, language),
                bases=bases_text(activity.basis_keys),
                retention=register.in_language(activity.retention, language),
                recipients=recipients_text(activity.recipient_keys),
                outside_eea=activity.outside_eea,
                transfers=register.in_language(activity.transfers, language),
            )
            for activity in register.activities()
        ]
