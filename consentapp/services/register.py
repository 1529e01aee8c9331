"""The record of processing activities (GDPR art. 30), pre-filled for this company."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from flask_babel import force_locale

from consentapp.extensions import db
from consentapp.models import ProcessingActivity, StaffUser
from consentapp.services import audit
from consentapp.services.csv_cells import csv_line
from consentapp.services.processing_terms import bases_text, recipients_text

SECURITY = (
    "Access only for staff accounts with roles; argon2 password hashes, optional second "
    "factor, lockout after failed logins; every access to personal data in a hash-chained "
    "audit log; HTTPS, strict security headers; only strictly necessary cookies."
)

DEFAULT_ACTIVITIES: list[dict[str, Any]] = [
    {
        "name": "Questions and customer contact",
        "purposes": "Answering questions sent through the contact form, by e-mail or phone; "
        "delivering the services the customer uses (software, hardware, Office 365, domain "
        "names, hosting).",
        "legal_basis": "Consent given with the message (art. 6.1.a); contract (art. 6.1.b).",
        "data_categories": "Name, e-mail address, company or office, address, phone, fax; "
        "the messages sent. No special categories.",
        "subject_categories": "Prospects, customers and their contact persons.",
        "recipients": "Qualified staff. Partners only the contact details a cooperation needs, "
        "recorded in the disclosure register.",
        "transfers": "None outside the European Economic Area.",
        "retention": "Until erasure is asked for; unconfirmed newsletter sign-ups 30 days.",
        "security": SECURITY,
        "bases": "consent contract",
        "recipient_kinds": "hosting mail_relay partners",
        "outside_eea": False,
    },
    {
        "name": "Newsletters",
        "purposes": "Informing subscribers about product updates, service news and company news.",
        "legal_basis": "Consent by double opt-in, recorded with the privacy-notice version shown "
        "(art. 6.1.a).",
        "data_categories": "E-mail address, name, chosen topics, language, consent records.",
        "subject_categories": "Subscribers.",
        "recipients": "Qualified staff; the mail server that delivers the newsletters.",
        "transfers": "None outside the European Economic Area.",
        "retention": "Until the person unsubscribes or asks for erasure; consent records are "
        "kept as proof without client data after erasure.",
        "security": SECURITY,
        "bases": "consent",
        "recipient_kinds": "hosting mail_relay",
        "outside_eea": False,
    },
    {
        "name": "Personal newsletter statistics",
        "purposes": "Only for subscribers who opted in: counting which links in our "
        "newsletters each of them clicks, to learn what interests them.",
        "legal_basis": "Separate consent, asked apart from the newsletter itself and "
        "recorded with the privacy-notice version shown (art. 6.1.a).",
        "data_categories": "E-mail address, the newsletters sent, the links clicked and when.",
        "subject_categories": "Subscribers who opted in to personal statistics.",
        "recipients": "Qualified staff; the hosting provider that stores the data.",
        "transfers": "None outside the European Economic Area.",
        "retention": "Until the person withdraws this consent, unsubscribes or asks for "
        "erasure; the personal click records are then erased.",
        "security": SECURITY,
        "bases": "consent",
        "recipient_kinds": "hosting",
        "outside_eea": False,
    },
    {
        "name": "Invoicing and accounting",
        "purposes": "Invoicing and keeping the books the law requires.",
        "legal_basis": "Legal obligation (art. 6.1.c).",
        "data_categories": "Name, company, address of customers.",
        "subject_categories": "Customers.",
        "recipients": "Qualified staff; the accountant; tax authorities when the law requires.",
        "transfers": "None outside the European Economic Area.",
        "retention": "Accounting books 7 years, tax documents 10 years (Belgian law), also "
        "after an erasure request (legal hold).",
        "security": SECURITY,
        "bases": "legal_obligation",
        "recipient_kinds": "hosting accountant authorities",
        "outside_eea": False,
    },
    {
        "name": "Data-subject requests and disclosures",
        "purposes": "Handling requests to see, correct or erase data, objections; recording "
        "disclosures to partners and authorities.",
        "legal_basis": "Legal obligation (art. 6.1.c, art. 12-21 and 30 GDPR).",
        "data_categories": "E-mail address while the request is open; a keyed hash afterwards; "
        "the identity check done.",
        "subject_categories": "People who make a request; people whose data was disclosed.",
        "recipients": "Qualified staff; authorities with a legal basis (recorded).",
        "transfers": "None outside the European Economic Area.",
        "retention": "The record of the request, without the address, for proof.",
        "security": SECURITY,
        "bases": "legal_obligation",
        "recipient_kinds": "hosting mail_relay authorities",
        "outside_eea": False,
    },
]


SECURITY_NL = (
    "Toegang alleen voor medewerkersaccounts met rollen; argon2-wachtwoordhashes, optionele "
    "tweede factor, blokkering na mislukte aanmeldingen; elke inzage in persoonsgegevens in "
    "een audit-log met hashketen; HTTPS, strikte beveiligingsheaders; alleen strikt "
    "noodzakelijke cookies."
)

# The pre-filled activities in Dutch, field by field in the order of DEFAULT_ACTIVITIES.
DUTCH_ACTIVITIES = [
    {
        "name": "Vragen en klantencontact",
        "purposes": "Vragen beantwoorden die via het contactformulier, per e-mail of telefoon "
        "binnenkomen; de diensten leveren die de klant afneemt (software, hardware, Office 365, "
        "domeinnamen, hosting).",
        "legal_basis": "Toestemming gegeven bij het bericht (art. 6.1.a); overeenkomst "
        "(art. 6.1.b).",
        "data_categories": "Naam, e-mailadres, bedrijf of kantoor, adres, telefoon, fax; de "
        "verstuurde berichten. Geen bijzondere categorieën.",
        "subject_categories": "Prospecten, klanten en hun contactpersonen.",
        "recipients": "Bevoegde medewerkers. Partners alleen de contactgegevens die een "
        "samenwerking nodig heeft, vastgelegd in het register van verstrekkingen.",
        "transfers": "Geen buiten de Europese Economische Ruimte.",
        "retention": "Tot om wissing gevraagd wordt; onbevestigde nieuwsbriefinschrijvingen "
        "30 dagen.",
        "security": SECURITY_NL,
    },
    {
        "name": "Nieuwsbrieven",
        "purposes": "Abonnees informeren over productupdates, nieuws over onze diensten en "
        "bedrijfsnieuws.",
        "legal_basis": "Toestemming via dubbele opt-in, vastgelegd met de getoonde versie van "
        "de privacyverklaring (art. 6.1.a).",
        "data_categories": "E-mailadres, naam, gekozen onderwerpen, taal, toestemmingsgegevens.",
        "subject_categories": "Abonnees.",
        "recipients": "Bevoegde medewerkers; de mailserver die de nieuwsbrieven aflevert.",
        "transfers": "Geen buiten de Europese Economische Ruimte.",
        "retention": "Tot de persoon zich uitschrijft of om wissing vraagt; "
        "toestemmingsgegevens worden na wissing zonder klantgegevens als bewijs bewaard.",
        "security": SECURITY_NL,
    },
    {
        "name": "Persoonlijke nieuwsbriefstatistieken",
        "purposes": "Alleen voor abonnees die ervoor kozen: bijhouden op welke links in onze "
        "nieuwsbrieven elk van hen klikt, om te zien wat hen interesseert.",
        "legal_basis": "Afzonderlijke toestemming, los van de nieuwsbrief zelf gevraagd en "
        "vastgelegd met de getoonde versie van de privacyverklaring (art. 6.1.a).",
        "data_categories": "E-mailadres, de verstuurde nieuwsbrieven, de aangeklikte links en "
        "wanneer.",
        "subject_categories": "Abonnees die voor persoonlijke statistieken kozen.",
        "recipients": "Bevoegde medewerkers; de hostingprovider die de gegevens opslaat.",
        "transfers": "Geen buiten de Europese Economische Ruimte.",
        "retention": "Tot de persoon deze toestemming intrekt, zich uitschrijft of om wissing "
        "vraagt; de persoonlijke klikgegevens worden dan gewist.",
        "security": SECURITY_NL,
    },
    {
        "name": "Facturatie en boekhouding",
        "purposes": "Factureren en de boekhouding voeren die de wet vraagt.",
        "legal_basis": "Wettelijke verplichting (art. 6.1.c).",
        "data_categories": "Naam, bedrijf, adres van klanten.",
        "subject_categories": "Klanten.",
        "recipients": "Bevoegde medewerkers; de boekhouder; de belastingdienst wanneer de wet "
        "dat vraagt.",
        "transfers": "Geen buiten de Europese Economische Ruimte.",
        "retention": "Boekhouding 7 jaar, fiscale documenten 10 jaar (Belgisch recht), ook na "
        "een verzoek tot wissing (wettelijke bewaarplicht).",
        "security": SECURITY_NL,
    },
    {
        "name": "Verzoeken van betrokkenen en verstrekkingen",
        "purposes": "Verzoeken om gegevens in te zien, te verbeteren of te wissen en bezwaren "
        "behandelen; verstrekkingen aan partners en overheden vastleggen.",
        "legal_basis": "Wettelijke verplichting (art. 6.1.c, art. 12-21 en 30 AVG).",
        "data_categories": "E-mailadres zolang het verzoek loopt; daarna een gesleutelde hash; "
        "de uitgevoerde identiteitscontrole.",
        "subject_categories": "Mensen die een verzoek doen; mensen van wie gegevens verstrekt "
        "werden.",
        "recipients": "Bevoegde medewerkers; overheden met een wettelijke grondslag (vastgelegd).",
        "transfers": "Geen buiten de Europese Economische Ruimte.",
        "retention": "Het dossier van het verzoek, zonder het adres, als bewijs.",
        "security": SECURITY_NL,
    },
]

# Each pre-filled English text with its Dutch version: shown in the page's language
# until an admin changes the text.
TRANSLATIONS: dict[str, dict[str, str]] = {
    "nl": {
        english: DUTCH_ACTIVITIES[position][name]
        for position, activity in enumerate(DEFAULT_ACTIVITIES)
        for name, english in activity.items()
        if name in ProcessingActivity.FIELDS
    }
}


def in_language(text: str, language: str) -> str:
    """A register text in `language` when it is a pre-filled one; an admin's own as written."""
    return TRANSLATIONS.get(language, {}).get(text, text)


def seed_register() -> int:
    """Add the pre-filled activities when the register is empty; returns how many."""
    if db.session.scalar(sa.select(sa.func.count(ProcessingActivity.id))):
        return 0
    for position, fields in enumerate(DEFAULT_ACTIVITIES):
        db.session.add(ProcessingActivity(position=position, **fields))
    return len(DEFAULT_ACTIVITIES)


def activities() -> list[ProcessingActivity]:
    """The register in its order."""
    return list(
        db.session.scalars(sa.select(ProcessingActivity).order_by(ProcessingActivity.position))
    )


def update_activity(
    activity: ProcessingActivity, fields: Mapping[str, str | bool], actor: StaffUser
) -> None:
    """An admin edits an entry (audited with the fields changed). Commits."""
    changed = []
    for name in ProcessingActivity.FIELDS + ProcessingActivity.CHOSEN:
        if name not in fields:
            continue
        value = fields[name]
        value = value.strip() if isinstance(value, str) else value
        if getattr(activity, name) != value:
            setattr(activity, name, value)
            changed.append(name)
    if changed:
        audit.record(
            "register.edit",
            target_type="register",
            target_id=str(activity.id),
            details={"fields": changed},
            actor=actor,
        )
        db.session.commit()


def register_markdown(org_name: str) -> str:
    """The register as a Markdown document."""
    labels = {
        "purposes": "Purposes",
        "legal_basis": "Legal basis",
        "data_categories": "Categories of data",
        "subject_categories": "Categories of people",
        "recipients": "Recipients",
        "transfers": "Transfers outside the EEA",
        "retention": "Retention",
        "security": "Security measures",
    }
    lines = [f"# Record of processing activities: {org_name}", ""]
    with force_locale("en"):
        for activity in activities():
            lines += [f"## {activity.name}", ""]
            for field, label in labels.items():
                lines += [f"**{label}.** {getattr(activity, field)}", ""]
            bases = "; ".join(bases_text(activity.basis_keys))
            recipients = "; ".join(recipients_text(activity.recipient_keys))
            lines += [
                f"**Legal bases.** {bases}",
                "",
                f"**Recipients by category.** {recipients}",
                "",
                f"**Leaves the EEA.** {'yes' if activity.outside_eea else 'no'}",
                "",
            ]
    return "\n".join(lines)


def register_csv() -> Iterator[str]:
    """The register as CSV, one line per activity."""
    yield csv_line(ProcessingActivity.FIELDS + ProcessingActivity.CHOSEN)
    for activity in activities():
        yield csv_line(activity.as_dict().values())
