"""Public pages that are the same for every visitor, rendered once per language.

The home page and the unsubscribe answer are the same for everyone who sees them in
one language, but for the form's CSRF token. A rendering is kept with the token cut
out, and each request gets its own token put back in: the visitor's session and its
cookie are made exactly as a fresh rendering makes them.

A page is taken from the cache only when nothing about the request could change it:
no query string (`?lang=` and search terms change the links), no message waiting to be
flashed, no staff member logged in. The cache of an app is emptied whenever the notice
or the topics change (`services.reference`); it holds one entry per page, method, language
and mount point, so it cannot grow with the traffic.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, g, request, session
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from consentapp.i18n import current_language
from consentapp.services.reference import reference

EXTENSION = "consentapp.page_cache"
PLACEHOLDER = "\x00csrf-token\x00"


def _cacheable() -> bool:
    return (
        not request.args
        and "_flashes" not in session
        and "_user_id" not in session
        and current_app.config["PAGE_CACHE"]
    )


def shared_page(render: Callable[[], str], *variant: str) -> str:
    """`render()`, or its earlier result for the same page, method, language and `variant`."""
    if not _cacheable():
        return render()
    pages: dict[tuple[object, ...], str] = current_app.extensions.setdefault(EXTENSION, {})
    generation = reference().generation
    key = (
        generation,
        request.method,
        request.endpoint,
        request.script_root,
        current_language(),
        *variant,
    )
    page = pages.get(key)
    if page is None:
        page = render()
        # The signed token the rendering put in its form, if it has one (Flask-WTF
        # keeps it on `g` for the request); a page without a form makes no session.
        token = g.get(current_app.config["WTF_CSRF_FIELD_NAME"])
        if token:
            page = page.replace(token, PLACEHOLDER)
        if len(pages) > 64 or any(old[0] != generation for old in pages):
            pages.clear()
        pages[key] = page
    if PLACEHOLDER in page:
        page = page.replace(PLACEHOLDER, generate_csrf())
    # As a rendering does: Flask-Login marks the session as not fresh when it first
    # looks, so the session (and its cookie) end the same either way.
    current_user._get_current_object()
    return page
