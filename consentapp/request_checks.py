"""Checks every form endpoint applies to the raw request."""

from __future__ import annotations

from flask import abort, request

FORM_MIMETYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}


def require_form_body(allow_files: bool = False) -> None:
    """A form POST must come as a form: anything else is a 415, not a guess.

    Forms without a file field (`allow_files` False) refuse uploads with a 400:
    Flask-WTF would hand the file to a text field, whose checks cannot read it.
    """
    if request.method != "POST":
        return
    if request.mimetype not in FORM_MIMETYPES:
        abort(415)
    if request.files and not allow_files:
        abort(400)


MAX_ID = 2**31 - 1


def small_int(raw: str | None, default: int | None = None) -> int | None:
    """A whole number typed by someone: ASCII digits only, at most 2^31-1; else `default`."""
    if not raw or not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        return default
    value = int(raw)
    return value if value <= MAX_ID else default
