"""CSV import of contacts, with the consent evidence each row rests on (P1).

Import policy: rows are checked one by one; good rows are committed together in one
transaction, bad rows are skipped and reported with their line numbers and reasons,
suppressed and undeliverable addresses are skipped and reported. A file with no good row commits
nothing. An import never creates a confirmed newsletter consent without evidence:
newsletter topics follow `subscriptions.subscribe_with_evidence`.
"""

from __future__ import annotations

import csv
import io
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _

from consentapp.extensions import db
from consentapp.models import (
    ConsentAction,
    ConsentChannel,
    ConsentPurpose,
    Contact,
    StaffUser,
    Topic,
)
from consentapp.services import audit, notices
from consentapp.services.consent import ConsentSource, record_consent
from consentapp.services.contact_details import (
    InvalidDetail,
    check_single_line,
    check_text,
    normalise_email,
    normalise_phone,
)
from consentapp.services.contacts import find_contact
from consentapp.services.subscriptions import subscribe_with_evidence
from consentapp.services.suppression import is_suppressed
from consentapp.services.topics import topics_by_slug

IMPORT_FIELDS = ("email", *Contact.DETAIL_FIELDS, "language")
IMPORT_CHANNELS = (
    ConsentChannel.AGREEMENT,
    ConsentChannel.EMAIL,
    ConsentChannel.PHONE,
    ConsentChannel.WEB_FORM,
)
# How a file may name the channel (letters only, lower case), in Dutch or English.
CHANNEL_WORDS: dict[str, str] = {
    word: channel
    for channel, words in (
        (ConsentChannel.AGREEMENT, "agreement signedagreement contract overeenkomst"),
        (ConsentChannel.AGREEMENT, "ondertekendeovereenkomst"),
        (ConsentChannel.EMAIL, "email mail"),
        (ConsentChannel.PHONE, "phone telephone telefoon telefonisch"),
        (ConsentChannel.WEB_FORM, "webform websiteform website websiteformulier formulier"),
        (ConsentChannel.WEB_FORM, "webformulier formulieropdewebsite"),
    )
    for word in words.split()
}
UPLOAD_NAME = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class ImportFileError(ValueError):
    """The file as a whole cannot be read; `str()` says why, for the person uploading."""


@dataclass(frozen=True)
class UploadedCsv:
    """A parsed upload: its column names and rows (lists of cells)."""

    name: str
    columns: list[str]
    rows: list[tuple[int, list[str]]]


def _uploads_dir() -> Path:
    path = Path(current_app.instance_path) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def parse_csv(data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Decode (UTF-8, with or without BOM), detect the delimiter, split header and rows.

    Each row keeps the line number it starts on in the file, so reports point at the
    right line even after blank lines or quoted line breaks.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            _("The file is not UTF-8 text. Save it as 'CSV UTF-8' and upload it again.")
        ) from exc
    if "\x00" in text:
        raise ImportFileError(_("The file contains binary data; upload a CSV text file."))
    if not text.strip():
        raise ImportFileError(_("The file is empty."))
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text[:8192], delimiters=",;\t"
        )
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    table: list[tuple[int, list[str]]] = []
    try:
        start = 1
        for row in reader:
            if any(cell.strip() for cell in row):
                table.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ImportFileError(
            _("The file is not valid CSV: %(problem)s.", problem=str(exc))
        ) from exc
    if len(table) < 2:
        raise ImportFileError(_("The file needs a header line and at least one row."))
    columns = [cell.strip() for cell in table[0][1]]
    if len(set(columns)) != len(columns) or not all(columns):
        raise ImportFileError(_("Every column needs a name of its own in the first line."))
    return columns, table[1:]


def store_upload(data: bytes) -> UploadedCsv:
    """Check and keep an upload for the mapping step."""
    limit = current_app.config["IMPORT_MAX_BYTES"]
    if len(data) > limit:
        raise ImportFileError(
            _("The file is too large: at most %(size)s MB.", size=limit // (1024 * 1024) or 1)
        )
    columns, rows = parse_csv(data)
    name = secrets.token_urlsafe(18)
    (_uploads_dir() / f"{name}.csv").write_bytes(data)
    return UploadedCsv(name=name, columns=columns, rows=rows)


def load_upload(name: str) -> UploadedCsv:
    """An upload kept by `store_upload`."""
    path = _uploads_dir() / f"{name}.csv"
    if not UPLOAD_NAME.match(name) or not path.is_file():
        raise ImportFileError(_("This upload is no longer available; upload the file again."))
    columns, rows = parse_csv(path.read_bytes())
    return UploadedCsv(name=name, columns=columns, rows=rows)


UPLOAD_LIFETIME_SECONDS = 24 * 3600


def discard_old_uploads(now: float | None = None) -> int:
    """Uploads never imported hold personal data: they go after a day. Returns how many."""
    limit = (now or time.time()) - UPLOAD_LIFETIME_SECONDS
    removed = 0
    for path in _uploads_dir().glob("*.csv"):
        if path.stat().st_mtime < limit:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def discard_upload(name: str) -> None:
    """Remove a kept upload (it holds personal data)."""
    if UPLOAD_NAME.match(name):
        (_uploads_dir() / f"{name}.csv").unlink(missing_ok=True)


@dataclass(frozen=True)
class ImportMapping:
    """Which column (by name) holds each field, and the consent the rows rest on."""

    columns: dict[str, str]
    channel_column: str = ""
    channel: str = ""
    evidence_column: str = ""
    evidence: str = ""
    topics: tuple[str, ...] = ()
    send_confirmation: bool = True
    agreement_covers_newsletters: bool = False


@dataclass(frozen=True)
class BadRow:
    """A row left out: its line in the file, the field (code), the value and why."""

    line: int
    field: str
    value: str
    reason: str


@dataclass
class ImportReport:
    """What an import did, row by row where something went wrong."""

    created: int = 0
    existing: int = 0
    confirmed: int = 0
    requested: int = 0
    suppressed: list[int] = field(default_factory=list)
    undeliverable: list[int] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.created + self.existing


class RowProblem(ValueError):
    """Why one row cannot be imported: the field, the value it had and the reason."""

    def __init__(self, name: str, value: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.value, self.reason = name, value, reason

    def at(self, line: int) -> BadRow:
        return BadRow(line, self.field, self.value, self.reason)


def _cell(row: list[str], columns: list[str], name: str) -> str:
    if not name or name not in columns:  # a refused choice still gets its preview
        return ""
    index = columns.index(name)
    return row[index].strip() if index < len(row) else ""


def detail_values(row: list[str], upload: UploadedCsv, mapping: ImportMapping) -> dict[str, str]:
    """The contact's own fields of a row, checked and in their stored form."""
    values = {f: _cell(row, upload.columns, mapping.columns.get(f, "")) for f in IMPORT_FIELDS}
    raw = dict(values)
    try:
        values["email"] = normalise_email(values["email"])
    except InvalidDetail as exc:
        raise RowProblem("email", raw["email"], str(exc.message)) from exc
    for name, limit in Contact.DETAIL_LENGTHS.items():
        if len(values[name]) > limit:
            reason = _("Longer than %(limit)s characters.", limit=limit)
            raise RowProblem(name, raw[name], reason)
    checks: list[tuple[str, Callable[[str], str]]] = [
        ("name", check_single_line),
        ("company", check_single_line),
        ("address", check_text),
        *((n, normalise_phone) for n in Contact.PHONE_FIELDS),
    ]
    for name, check in checks:
        try:
            values[name] = check(values[name])
        except InvalidDetail as exc:
            raise RowProblem(name, raw[name], str(exc.message)) from exc
    language = values["language"].lower() or "nl"
    if language not in current_app.config["LANGUAGES"]:
        raise RowProblem("language", raw["language"], _("Use nl or en."))
    values["language"] = language
    return values


def _row_values(row: list[str], upload: UploadedCsv, mapping: ImportMapping) -> dict[str, str]:
    values = detail_values(row, upload, mapping)
    values.update(consent_values(row, upload, mapping))
    return values


def consent_values(row: list[str], upload: UploadedCsv, mapping: ImportMapping) -> dict[str, str]:
    given = _cell(row, upload.columns, mapping.channel_column)
    channel = CHANNEL_WORDS.get(re.sub(r"[^a-z]", "", (given or mapping.channel).casefold()), "")
    if not channel:
        reason = _(
            "Not a consent channel: write signed agreement, e-mail, phone or website form "
            "(in Dutch or English)."
        )
        if not given:
            reason = _("No consent channel.")
        raise RowProblem("channel", given, reason)
    evidence = _cell(row, upload.columns, mapping.evidence_column) or mapping.evidence.strip()
    if not evidence:
        raise RowProblem("evidence", "", _("No consent evidence."))
    if len(evidence) > 300:
        raise RowProblem("evidence", evidence, _("Longer than %(limit)s characters.", limit=300))
    return {"channel": channel, "evidence": evidence}


def check_mapping(upload: UploadedCsv, mapping: ImportMapping) -> None:
    """The mapping names existing columns and says where e-mail, channel, evidence come from."""
    named = [*mapping.columns.values(), mapping.channel_column, mapping.evidence_column]
    for column in named:
        if column and column not in upload.columns:
            raise ImportFileError(_("There is no column %(name)s in the file.", name=column))
    if not mapping.columns.get("email"):
        raise ImportFileError(_("Choose the column that holds the e-mail address."))
    if not mapping.channel_column and mapping.channel not in IMPORT_CHANNELS:
        raise ImportFileError(_("Choose a consent channel: a column, or one for every row."))
    if not mapping.evidence_column and not mapping.evidence.strip():
        raise ImportFileError(_("Give the consent evidence: a column, or one for every row."))
    topics_by_slug(mapping.topics)


def _skip_list(email: str, report: ImportReport) -> list[int] | None:
    """Where a row for `email` is listed when it must be left alone: an erased or
    objected address (suppressed), or a contact whose mail comes back (undeliverable:
    only the person's own confirmed sign-up lifts that, never a file). None: import it."""
    if is_suppressed(email):
        return report.suppressed
    contact = find_contact(email)
    if contact is not None and contact.undeliverable_at is not None:
        return report.undeliverable
    return None


def run_import(upload: UploadedCsv, mapping: ImportMapping, actor: StaffUser) -> ImportReport:
    """Import the good rows in one transaction; report the rest. Commits."""
    check_mapping(upload, mapping)
    topics = topics_by_slug(mapping.topics)
    report = ImportReport()
    seen: dict[str, int] = {}
    for line, row in upload.rows:
        try:
            values = _row_values(row, upload, mapping)
        except RowProblem as problem:
            report.bad.append(problem.at(line))
            continue
        email = values["email"]
        if email in seen:
            reason = _("The same address as line %(line)s.", line=seen[email])
            report.bad.append(BadRow(line, "email", email, reason))
            continue
        seen[email] = line
        skipped = _skip_list(email, report)
        if skipped is not None:
            skipped.append(line)
            continue
        _import_row(values, topics, mapping, report)
    audit.record(
        "contacts.import",
        details={
            "rows": len(upload.rows),
            "created": report.created,
            "existing": report.existing,
            "confirmed": report.confirmed,
            "requested": report.requested,
            "suppressed": len(report.suppressed),
            "undeliverable": len(report.undeliverable),
            "bad": len(report.bad),
            "topics": list(mapping.topics),
        },
        actor=actor,
    )
    db.session.commit()
    return report


def _import_row(
    values: dict[str, str], topics: list[Topic], mapping: ImportMapping, report: ImportReport
) -> None:
    contact = find_contact(values["email"])
    if contact is None:
        contact = Contact(
            email=values["email"],
            name=values["name"],
            company=values["company"],
            address=values["address"],
            phone=values["phone"],
            fax=values["fax"],
            language=values["language"],
            source_channel=values["channel"],
        )
        db.session.add(contact)
        db.session.flush()
        report.created += 1
    else:
        report.existing += 1  # an import never overwrites stored details
    notice = notices.current_notice(contact.language)
    record_consent(
        contact=contact,
        purpose=ConsentPurpose.CONTACT,
        action=ConsentAction.GIVEN,
        channel=values["channel"],
        notice=notice,
        evidence=values["evidence"],
        details={"via": "import"},
    )
    outcome = subscribe_with_evidence(
        contact,
        topics,
        ConsentSource(
            values["channel"], notice, evidence=values["evidence"], details={"via": "import"}
        ),
        agreement_covers_newsletters=mapping.agreement_covers_newsletters,
        send_mail=mapping.send_confirmation,
    )
    if outcome.confirmed_at_once:
        report.confirmed += 1
    elif outcome.pending:
        report.requested += 1
