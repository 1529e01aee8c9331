"""Checks every form endpoint applies to the raw request, and what a view returns."""

from __future__ import annotations

from collections.abc import Callable, Collection
from urllib.parse import urlsplit

from flask import abort, current_app, redirect, request
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


# --- forms posted from the company's own site (EMBED_ORIGINS) ----------------------

MAX_REDIRECT_LENGTH = 2000


def url_origin(url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) URL, lower-cased, default port left out; else None."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), parts.hostname
    if scheme not in ("http", "https") or not host:
        return None
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


def embed_origins() -> list[str]:
    """The origins in `EMBED_ORIGINS`, in their order, normalised as `url_origin` does."""
    listed = (url_origin(raw) for raw in current_app.config.get("EMBED_ORIGINS") or [])
    return list(dict.fromkeys(origin for origin in listed if origin))


def listed_origins() -> set[str]:
    """The same, for looking up."""
    return set(embed_origins())


def request_origin() -> str | None:
    """Where a request says it comes from: its `Origin`, or when absent its `Referer`'s."""
    raw = request.headers.get("Origin")
    if raw is None:
        raw = request.headers.get("Referer")
    return url_origin(raw) if raw else None


def from_listed_origin() -> bool:
    """The one rule: a POST whose origin is in `EMBED_ORIGINS` may come without our
    cookie and CSRF token (the company's own site posts its own HTML form). Any other
    POST must carry a valid token, as before."""
    if request.method != "POST":
        return False
    origin = request_origin()
    return origin is not None and origin in listed_origins()


def form_meta() -> dict[str, bool]:
    """The `meta` a public form is built with: no CSRF token for a listed origin."""
    return {"csrf": False} if from_listed_origin() else {}


def listed_redirect(field: str) -> str | None:
    """A form's `success_url` or `failure_url`, rebuilt from its parts, when the post came
    from a listed origin and the target is on one too; else None (never an open redirect)."""
    target = request.form.get(field, "") if from_listed_origin() else ""
    if not target or len(target) > MAX_REDIRECT_LENGTH or not target.isprintable():
        return None
    origin = url_origin(target)
    if origin is None or origin not in listed_origins() or " " in target:
        return None
    parts = urlsplit(target.strip())
    return origin + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def answer_or_redirect(field: str, answer: View) -> View:
    """`answer`, or a 303 to the form's listed `success_url` / `failure_url` instead."""
    target = listed_redirect(field)
    return redirect(target, 303) if target else answer
