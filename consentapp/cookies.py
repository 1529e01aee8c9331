"""Every cookie the site sets (P15). The cookie page is rendered from this list, and a
test checks that no response sets a cookie missing from it."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class CookieInfo:
    """One cookie: its name, why it is strictly necessary, how long it lives."""

    name: str
    purpose: LazyString
    lifetime: LazyString


def site_cookies(session_cookie_name: str) -> list[CookieInfo]:
    """The cookies the site may set; all are strictly necessary, none tracks."""
    return [
        CookieInfo(
            name=session_cookie_name,
            purpose=_l(
                "Keeps the security token that protects our forms against forgery, "
                "the language you chose and, for staff, the login. Set when you open a "
                "form or switch language."
            ),
            lifetime=_l("Until you close your browser"),
        ),
    ]
