"""The record of processing activities (GDPR art. 30), pre-filled for this company."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import sqlalchemy as sa

from consentapp.extensions import db
from consentapp.models import ProcessingActivity, StaffUser
from consentapp.services import audit
from consentapp.services.csv_cells import csv_line

SECURITY = (
    "Access only for staff accounts with roles; argon2 password hashes, optional second "
    "factor, lockout after failed logins; every access to personal data in a hash-chained "
    "audit log; HTTPS, strict security headers; only strictly necessary cookies."
)

DEFAULT_ACTIVITIES = [
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
    },
]


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
    activity: ProcessingActivity, fields: Mapping[str, str], actor: StaffUser
) -> None:
    """An admin edits an entry (audited with the fields changed). Commits."""
    changed = []
    for name in ProcessingActivity.FIELDS:
        if name in fields and getattr(activity, name) != fields[name].strip():
            setattr(activity, name, fields[name].strip())
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
    for activity in activities():
        lines += [f"## {activity.name}", ""]
        for field, label in labels.items():
            lines += [f"**{label}.** {getattr(activity, field)}", ""]
    return "\n".join(lines)


def register_csv() -> Iterator[str]:
    """The register as CSV, one line per activity."""
    yield csv_line(ProcessingActivity.FIELDS)
    for activity in activities():
        yield csv_line(activity.as_dict().values())
