"""Checks every form endpoint applies to the raw request, and what a view returns."""

from __future__ import annotations

from collections.abc import Callable, Collection

from flask import abort, request
from werkzeug.wrappers import Response as BaseResponse

# What a view may return: a page, a redirect or other response, or a page with its status.
View = str | BaseResponse | tuple[str, int]

FORM_MIMETYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}
# RFC 8058 one-click unsubscribes: mail providers may post an empty body, or any form.
ONE_CLICK_MIMETYPES = {"", *FORM_MIMETYPES}


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


def form_body_check(
    with_files: Collection[str] = (), one_click: Collection[str] = ()
) -> Callable[[], None]:
    """A blueprint's `before_request`: every POST to it must come as a form.

    Endpoints in `with_files` may carry uploads; those in `one_click` are RFC 8058
    targets that take any form (files too) or an empty body, and refuse the rest (415).
    """

    def check_form_body() -> None:
        if request.method != "POST":
            return
        if request.endpoint in one_click:
            if request.mimetype not in ONE_CLICK_MIMETYPES:
                abort(415)
            return
        require_form_body(allow_files=request.endpoint in with_files)

    return check_form_body


MAX_ID = 2**31 - 1


def small_int(raw: str | None, default: int | None = None) -> int | None:
    """A whole number typed by someone: ASCII digits only, at most 2^31-1; else `default`."""
    if not raw or not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        return default
    value = int(raw)
    return value if value <= MAX_ID else default
