"""The mapping step of an import: which column holds which field, guessed from the
header, and a preview of the first rows as they will be imported.

Files come from spreadsheets kept in Dutch or English, written by hand: "E-mail",
"e-mailadres", "Email", "Naam", "Bedrijf", "Telefoon nr." all name a field. The guess
is only the mapping form's starting point; staff can change every choice.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from consentapp.services.csv_import import (
    BadRow,
    ImportMapping,
    RowProblem,
    UploadedCsv,
    consent_values,
    detail_values,
)

# Header names per field, in their compared form (see `header_key`).
HEADER_NAMES: dict[str, tuple[str, ...]] = {
    "email": ("email", "emailadres", "emailaddress", "mail", "mailadres", "emailadresse"),
    "name": ("naam", "name", "volledigenaam", "fullname", "contactpersoon", "contact"),
    "company": (
        "bedrijf",
        "company",
        "firma",
        "organisatie",
        "organization",
        "organisation",
        "bedrijfsnaam",
        "companyname",
        "kantoor",
        "office",
    ),
    "address": ("adres", "address", "postadres", "postaladdress", "straat", "street"),
    "phone": (
        "telefoon",
        "phone",
        "tel",
        "telefoonnummer",
        "phonenumber",
        "telephone",
        "telefoonnr",
        "gsm",
        "mobiel",
        "mobile",
    ),
    "fax": ("fax", "faxnummer", "faxnumber", "faxnr"),
    "language": ("taal", "language", "lang", "voorkeurtaal", "preferredlanguage"),
    "channel_column": ("kanaal", "channel", "toestemmingskanaal", "consentchannel"),
    "evidence_column": ("bewijs", "evidence", "toestemmingsbewijs", "consentevidence"),
}

_NOT_LETTERS = re.compile(r"[^a-z0-9]+")


def header_key(header: str) -> str:
    """A header as compared: accents, case, spaces, dashes, dots and the like left out."""
    decomposed = unicodedata.normalize("NFKD", header)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _NOT_LETTERS.sub("", plain.casefold())


def guess_columns(columns: list[str]) -> dict[str, str]:
    """For each field, the first column whose header names it ("" when none does); a
    column is given to one field only."""
    keys = {column: header_key(column) for column in columns}
    guessed: dict[str, str] = {}
    taken: set[str] = set()
    for name, known in HEADER_NAMES.items():
        found = next((c for c in columns if c not in taken and keys[c] in known), "")
        guessed[name] = found
        if found:
            taken.add(found)
    return guessed


PREVIEW_ROWS = 5


@dataclass(frozen=True)
class PreviewRow:
    """A row as the import will take it: its values, or the problem that leaves it out."""

    line: int
    values: dict[str, str]
    problem: BadRow | None = None


def preview(upload: UploadedCsv, mapping: ImportMapping) -> list[PreviewRow]:
    """The first rows as they will be imported with `mapping`. The consent channel and
    evidence are shown once chosen; until then only the contact's fields are checked."""
    consent_chosen = bool(mapping.channel_column or mapping.channel) and bool(
        mapping.evidence_column or mapping.evidence.strip()
    )
    rows = []
    for line, row in upload.rows[:PREVIEW_ROWS]:
        try:
            values = detail_values(row, upload, mapping) if mapping.columns.get("email") else {}
            if consent_chosen:
                values.update(consent_values(row, upload, mapping))
        except RowProblem as problem:
            rows.append(PreviewRow(line, {}, problem.at(line)))
        else:
            rows.append(PreviewRow(line, values))
    return rows
