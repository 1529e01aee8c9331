"""Every cookie the site sets (P15). The cookie page is rendered from this list, and a
test checks that no response sets a cookie missing from it."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
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


class SessionCookie(SecureCookieSessionInterface):
    """Flask's signed cookie session, without its work on requests that have none.

    A request without the cookie gets an empty session at once (Flask would build its
    signing serializer first), and an empty session nobody changed is not saved (Flask
    would read every cookie setting first). What reaches the browser is the same: the
    `Vary: Cookie` of a session that was read, and no cookie for an empty one.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not session and not session.modified:
            if session.accessed:
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)
