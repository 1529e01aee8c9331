"""Reading what comes back: bounce reports, complaints and provider events.

Everything arrives the same way: `receive` stores the report in the inbound queue and
commits, so the bounce server can answer 250, the mailbox poller may delete the
message and a webhook may answer 200 at once; `process_incoming` then reads it and
applies its effects, removing the queued row in the same transaction, so a crash
reads it again and a report is never lost. Reports are idempotent: each bounce row
carries a key of the report and the recipient, and the same report read twice counts
once.

A report is matched to the mail it is about by its VERP address (BOUNCE_DOMAIN set;
a forged one is dropped without any effect), else by the bounced mail's Message-ID
together with its recipient. A provider's event, which is signed, may also be
matched by the recipient's address alone.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import NamedTuple, cast

import sqlalchemy as sa
from flask import current_app

from consentapp.extensions import db
from consentapp.keyring import verp_signature_matches
from consentapp.mail.providers import MalformedEvent, provider_reports
from consentapp.mail.reports import BounceKind, FailedRecipient, Report, parse_report
from consentapp.mail.verp import candidates
from consentapp.models import (
    Bounce,
    BounceType,
    Campaign,
    Contact,
    IncomingReport,
    OutboundEmail,
    utcnow,
)
from consentapp.services.outgoing_webhooks import emit
from consentapp.services.undeliverable import apply_thresholds

log = logging.getLogger(__name__)

MAIL_SOURCES = ("smtp", "mailbox")
PROVIDERS = ("ses", "postmark", "sendgrid", "mailgun", "generic")
SOURCES = (*MAIL_SOURCES, *PROVIDERS)
# A refusal seen during our own SMTP session (see `record_refusal`).
REFUSAL = "delivery"
MAX_READ_ATTEMPTS = 5
DIAGNOSTIC_LENGTH = 1000
_KINDS = {
    BounceKind.HARD: BounceType.HARD,
    BounceKind.SOFT: BounceType.SOFT,
    BounceKind.COMPLAINT: BounceType.COMPLAINT,
}


@dataclass
class Outcome:
    """What reading one report did."""

    recorded: int = 0
    duplicates: int = 0
    marked: list[str] = field(default_factory=list)  # contacts made undeliverable
    dropped: list[str] = field(default_factory=list)  # why parts of it did nothing

    def __str__(self) -> str:
        """One line for the log: what was recorded, and why anything was not."""
        parts = [f"{self.recorded} recorded"]
        if self.duplicates:
            parts.append(f"{self.duplicates} already known")
        if self.marked:
            parts.append(f"{len(self.marked)} address(es) now undeliverable")
        if self.dropped:
            parts.append("dropped: " + "; ".join(self.dropped))
        return ", ".join(parts)

    def drop(self, why: str) -> None:
        self.dropped.append(why)
        log.info("bounce report: %s", why)


def receive(source: str, body: bytes, recipients: Sequence[str] = ()) -> int:
    """Store a report in the inbound queue and commit; returns the queued row's id."""
    if source not in SOURCES:
        raise ValueError(f"unknown report source {source!r}")
    row = IncomingReport(source=source, body=body, recipients=[str(r) for r in recipients])
    db.session.add(row)
    db.session.commit()
    return row.id


def receive_and_process(source: str, body: bytes, recipients: Sequence[str] = ()) -> Outcome | None:
    """Read a report at once, its effects committed in one transaction (the bounce
    server, on arrival); one that cannot be read now is stored in the queue instead and
    read again later. Either way it is safe when this returns."""
    if source not in SOURCES:
        raise ValueError(f"unknown report source {source!r}")
    try:
        outcome = read(source, body, recipients)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("bounce report could not be read now; it is queued for later")
        receive(source, body, recipients)
        return Outcome(dropped=["queued after an error"])
    return outcome


def process_incoming(incoming_id: int) -> Outcome | None:
    """Read one queued report in its own transaction. None when another worker took it
    first; on an unexpected error the report stays queued and is tried again later."""
    queue = cast(sa.Table, IncomingReport.__table__)
    taken = db.session.execute(
        sa.delete(queue)
        .where(queue.c.id == incoming_id)
        .returning(queue.c.source, queue.c.body, queue.c.recipients, queue.c.attempts)
    ).first()
    if taken is None:
        db.session.rollback()
        return None
    source, body, recipients, attempts = taken
    try:
        outcome = read(source, bytes(body), list(recipients or ()))
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        _note_failure(incoming_id, attempts + 1, exc)
        return Outcome(dropped=["error"])
    return outcome


def _note_failure(incoming_id: int, attempts: int, exc: Exception) -> None:
    if attempts >= MAX_READ_ATTEMPTS:
        log.error("bounce report %d dropped after %d attempts: %s", incoming_id, attempts, exc)
        db.session.execute(sa.delete(IncomingReport).where(IncomingReport.id == incoming_id))
    else:
        log.exception("bounce report %d could not be read (attempt %d)", incoming_id, attempts)
        db.session.execute(
            sa.update(IncomingReport)
            .where(IncomingReport.id == incoming_id)
            .values(
                attempts=attempts,
                last_error=f"{type(exc).__name__}: {exc}"[:DIAGNOSTIC_LENGTH],
                next_attempt_at=utcnow() + timedelta(minutes=2**attempts),
            )
        )
    db.session.commit()


def process_queue(limit: int = 500) -> int:
    """The periodic job: read the queued reports that are due. Returns how many."""
    ids = list(
        db.session.scalars(
            sa.select(IncomingReport.id)
            .where(IncomingReport.next_attempt_at <= utcnow())
            .order_by(IncomingReport.id)
            .limit(limit)
        )
    )
    db.session.rollback()
    done = 0
    for incoming_id in ids:
        if process_incoming(incoming_id) is not None:
            done += 1
    return done


def read(source: str, body: bytes, recipients: Sequence[str]) -> Outcome:
    """Apply one report's effects in the current transaction. No commit."""
    outcome = Outcome()
    if source in MAIL_SOURCES:
        report = parse_report(body)
        if report is None:
            outcome.drop("not a bounce or complaint")
            return outcome
        reports = [report]
    else:
        try:
            reports = provider_reports(source, body)
        except MalformedEvent as exc:
            outcome.drop(f"unreadable {source} payload: {exc}")
            return outcome
    for report in reports:
        apply_report(report, source, recipients, outcome)
    return outcome


def _bare(address: str) -> str:
    return address.strip().strip("<>").lower()


def _same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and _bare(a or "") == _bare(b or "")


class SentMail(NamedTuple):
    """What matching needs of an outbox row (not its bodies)."""

    id: int
    to_address: str
    contact_id: int | None
    campaign_id: int | None
    message_id: str


_SENT_MAIL = sa.select(
    OutboundEmail.id,
    OutboundEmail.to_address,
    OutboundEmail.contact_id,
    OutboundEmail.campaign_id,
    OutboundEmail.message_id,
)


def _sent_mail(condition: sa.ColumnElement[bool]) -> SentMail | None:
    found = db.session.execute(_SENT_MAIL.where(condition)).first()
    return SentMail(*found) if found is not None else None


class Match(NamedTuple):
    """The mail a report is about, and how we know."""

    row: SentMail | None
    by_verp: bool = False
    forged: bool = False


def _mail_named(report: Report, envelope: Sequence[str]) -> Match:
    """The outbox row the report names: by a VERP address whose signature fits the row
    it names, else by the bounced Message-ID. A `b+` address at BOUNCE_DOMAIN that fits
    no row is forged (or names a mail no longer kept): the report then names no one."""
    domain = current_app.config["BOUNCE_DOMAIN"]
    found = candidates([*envelope, *report.return_paths], domain) if domain else []
    for verp in found:
        row = _sent_mail(OutboundEmail.id == verp.outbox_id) if verp.outbox_id else None
        if (
            row
            and verp.signature
            and verp_signature_matches(row.id, row.message_id, verp.signature)
        ):
            return Match(row, by_verp=True)
    if found:
        return Match(None, forged=True)
    if report.original_message_id:
        message_id = f"<{report.original_message_id.strip('<>')}>"
        return Match(_sent_mail(OutboundEmail.message_id == message_id))
    return Match(None)


def apply_report(report: Report, source: str, envelope: Sequence[str], outcome: Outcome) -> None:
    """Record each failed recipient of `report` against the contact it names. No commit."""
    match = _mail_named(report, envelope)
    if match.forged:
        log.warning("bounce report with a forged VERP address dropped (%s)", source)
        outcome.drop("forged VERP address")
        return
    row = match.row
    recipients = report.recipients
    if row is not None and match.by_verp:
        # The VERP address names the mail, so the report is about its one recipient
        # (forwarding may have changed the address it names), and counts once.
        ours = [r for r in recipients if _same(r.address, row.to_address)]
        recipients = tuple((ours or list(recipients))[:1])
    if row is not None and not recipients and report.format == "arf":
        # A complaint whose recipient the provider redacted: the mail it names (by VERP
        # address or by its unguessable Message-ID) says who complained.
        recipients = (FailedRecipient(row.to_address, BounceKind.COMPLAINT, None, None),)
    for recipient in recipients:
        contact = _contact_for(report, recipient, match, source, outcome)
        if contact is not None:
            _record(contact, recipient, report, source, row, outcome)
    if not recipients:
        outcome.drop("no recipient named")


def _contact_for(
    report: Report, recipient: FailedRecipient, match: Match, source: str, outcome: Outcome
) -> Contact | None:
    row = match.row
    if row is not None:
        named = (recipient.address, recipient.original, report.original_recipient)
        if not match.by_verp and not any(_same(address, row.to_address) for address in named):
            outcome.drop("recipient does not match the mail")
            return None
        return _contact_of_mail(row, outcome)
    if source in MAIL_SOURCES:
        # An unsigned mail naming no mail of ours could be anyone's forgery.
        outcome.drop("mail not known")
        return None
    return _contact_by_address(recipient.address, outcome)


def _contact_of_mail(row: SentMail, outcome: Outcome) -> Contact | None:
    """The contact whose current address the mail went to, locked for this report (a
    mail to another address, a new address being verified or the staff's copy of an
    inquiry, says nothing of the contact's own mailbox)."""
    if row.contact_id is None:
        return _contact_by_address(row.to_address, outcome)
    contact = db.session.get(Contact, row.contact_id, with_for_update=True)
    if contact is None or not _same(contact.email, row.to_address):
        outcome.drop("mail was not to the contact's address")
        return None
    return contact


def _contact_by_address(address: str, outcome: Outcome) -> Contact | None:
    contact = db.session.scalar(
        sa.select(Contact).where(Contact.email == _bare(address)).with_for_update()
    )
    if contact is None:
        outcome.drop("no contact with that address")
    return contact


def report_key(report_id: str, address: str) -> str:
    """Names a report and one recipient in it: the same report read twice counts once."""
    text = f"{report_id}\n{address.strip().lower()}"
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


def _record(
    contact: Contact,
    recipient: FailedRecipient,
    report: Report,
    source: str,
    row: SentMail | None,
    outcome: Outcome,
) -> None:
    key = report_key(report.report_id, recipient.address)
    if db.session.scalar(sa.select(Bounce.id).where(Bounce.report_key == key)) is not None:
        outcome.duplicates += 1
        return
    bounce = Bounce(
        contact_id=contact.id,
        kind=_KINDS[recipient.kind],
        source=source,
        status=(recipient.status or "")[:16] or None,
        diagnostic=(recipient.diagnostic or "")[:DIAGNOSTIC_LENGTH] or None,
        campaign_id=row.campaign_id if row else None,
        outbox_id=row.id if row else None,
        report_key=key,
    )
    add_bounce(contact, bounce, outcome)


def add_bounce(contact: Contact, bounce: Bounce, outcome: Outcome) -> None:
    """Keep `bounce` and apply what it triggers. No commit."""
    db.session.add(bounce)
    event = "complaint.recorded" if bounce.kind == BounceType.COMPLAINT else "bounce.recorded"
    emit(event, subject_id=contact.public_id, data={"kind": bounce.kind, "source": bounce.source})
    campaign = None
    if bounce.kind == BounceType.COMPLAINT and bounce.campaign_id is not None:
        # Named in the withdrawal's ledger row.
        campaign = db.session.scalar(
            sa.select(Campaign.public_id).where(Campaign.id == bounce.campaign_id)
        )
    outcome.recorded += 1
    if apply_thresholds(contact, bounce, campaign):
        outcome.marked.append(contact.public_id)


def record_refusal(
    contact_id: int | None,
    to_address: str,
    outbox_id: int,
    campaign_id: int | None,
    kind: BounceType,
    status: str | None,
    diagnostic: str,
) -> Outcome:
    """A refusal during our own SMTP session: a 5xx is a hard bounce at once, a 4xx a
    soft one once the last retry failed. No commit (the delivery pass commits)."""
    outcome = Outcome()
    contact = db.session.get(Contact, contact_id, with_for_update=True) if contact_id else None
    if contact is None or not _same(contact.email, to_address):
        # A mail to another address (a new one being verified, the staff's copy of an
        # inquiry) says nothing of the contact's own mailbox.
        return outcome
    bounce = Bounce(
        contact_id=contact.id,
        kind=kind,
        source=REFUSAL,
        status=status,
        diagnostic=diagnostic[:DIAGNOSTIC_LENGTH],
        campaign_id=campaign_id,
        outbox_id=outbox_id,
        report_key=report_key(f"refusal:{outbox_id}", contact.email or ""),
    )
    if db.session.scalar(sa.select(Bounce.id).where(Bounce.report_key == bounce.report_key)):
        outcome.duplicates += 1
        return outcome
    add_bounce(contact, bounce, outcome)
    return outcome
