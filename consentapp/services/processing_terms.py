"""The fixed vocabulary of the record of processing: the legal bases of GDPR art. 6(1)
and the categories of recipients. The register stores only the keys; the notice and the
staff pages take their words from here, so every language names the same thing.

The recipients are our defaults, stated here once: the operator runs the site at a
hosting provider and sends mail through a relay, both processors under art. 28.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class LegalBasis:
    """A lawful basis for processing and the article that grants it."""

    key: str
    label: LazyString
    article: str

    def text(self) -> str:
        """The basis with its article, in the current language."""
        return f"{self.label} ({self.article})"


@dataclass(frozen=True)
class RecipientKind:
    """A category of recipients; a processor acts only on our instructions."""

    key: str
    label: LazyString
    processor: bool


LEGAL_BASES = {
    basis.key: basis
    for basis in (
        LegalBasis("consent", _l("Consent"), _l("art. 6(1)(a) GDPR")),
        LegalBasis("contract", _l("Contract"), _l("art. 6(1)(b) GDPR")),
        LegalBasis("legal_obligation", _l("Legal obligation"), _l("art. 6(1)(c) GDPR")),
        LegalBasis("vital_interests", _l("Vital interests"), _l("art. 6(1)(d) GDPR")),
        LegalBasis("public_task", _l("Public task"), _l("art. 6(1)(e) GDPR")),
        LegalBasis("legitimate_interest", _l("Legitimate interest"), _l("art. 6(1)(f) GDPR")),
    )
}

RECIPIENT_KINDS = {
    kind.key: kind
    for kind in (
        RecipientKind(
            "hosting", _l("our hosting provider, which runs this site and its database"), True
        ),
        RecipientKind("mail_relay", _l("the mail relay that delivers our e-mail"), True),
        RecipientKind("accountant", _l("our accountant"), False),
        RecipientKind(
            "partners", _l("a partner working with us on your service, only what it needs"), False
        ),
        RecipientKind("authorities", _l("public authorities, when the law requires it"), False),
    )
}


def bases_text(keys: list[str]) -> list[str]:
    """The named bases, each with its article, in the current language; unknown keys are
    left out (the form accepts only known ones)."""
    return [LEGAL_BASES[key].text() for key in keys if key in LEGAL_BASES]


def recipients_text(keys: list[str]) -> list[str]:
    """The named recipient categories in the current language, processors marked."""
    return [
        _("%(recipient)s (processor)", recipient=kind.label) if kind.processor else str(kind.label)
        for kind in (RECIPIENT_KINDS[key] for key in keys if key in RECIPIENT_KINDS)
    ]
