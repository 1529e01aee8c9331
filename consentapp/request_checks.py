"""Checks every form endpoint applies to the raw request."""

from __future__ import annotations

from flask import abort, request

FORM_MIMETYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}


def require_form_body() -> None:
    """A form POST must come as a form: anything else is a 415, not a guess."""
    if request.method == "POST" and request.mimetype not in FORM_MIMETYPES:
        abort(415)
