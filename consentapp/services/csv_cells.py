"""The one way the app writes CSV: every cell goes through `safe_cell`.

A spreadsheet opening a CSV runs a cell that starts with `=`, `+`, `-` or `@` (and
some also after a tab or carriage return) as a formula, and such a formula can
start programs (`=cmd|' /C calc'!A0`). Anyone can type text into the contact form,
so every CSV the app produces (staff contact export, the person's own copy, the
disclosures register, the record of processing) writes its rows here.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable

# Cells starting with these are formulas to a spreadsheet: neutralised.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# What stays as it is although it starts with + or -: an E.164 phone number and a
# plain number (-12, -3.5, -3,5). Neither can run; a spreadsheet shows it as a number.
HARMLESS = re.compile(r"^(\+[0-9]{4,15}|-[0-9]+([.,][0-9]+)?)$")


def safe_cell(value: object) -> str:
    """A cell a spreadsheet shows as text, never runs: a leading `'` for a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_START) and not HARMLESS.match(text):
        return "'" + text
    return text


def csv_line(values: Iterable[object]) -> str:
    """One CSV line (with its line end), every cell made safe."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow([safe_cell(value) for value in values])
    return buffer.getvalue()
