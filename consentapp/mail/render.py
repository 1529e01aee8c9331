"""Render a mail from its `templates/email/NAME.txt` + `NAME.html` pair."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app, render_template
from flask_babel import LazyString, force_locale
from markupsafe import escape


@dataclass(frozen=True)
class RenderedMail:
    """A mail's subject and both bodies, in one language."""

    subject: str
    text: str
    html: str


def edition_language(language: str) -> str:
    """The language a mail goes out in for someone who reads `language`: that one when
    we write in it, else the default."""
    if language in current_app.config["LANGUAGES"]:
        return language
    return str(current_app.config["BABEL_DEFAULT_LOCALE"])


def render_mail(
    template: str, language: str, subject: LazyString | str, **context: Any
) -> RenderedMail:
    """Render subject and both bodies in `language` (not the request's language)."""
    with force_locale(language):
        return RenderedMail(
            subject=str(subject),
            text=render_template(f"email/{template}.txt", language=language, **context),
            html=render_template(f"email/{template}.html", language=language, **context),
        )


def fill_in(mail: RenderedMail, values: dict[str, str], marker: str) -> RenderedMail:
    """The mail with each stand-in text replaced by its value (HTML-escaped in the HTML
    part): one render serves many recipients whose mails differ only in those values.

    `marker` is a random part of every stand-in: if it is still in the mail (a template
    changed a stand-in, so it was not found), the mail is refused rather than sent with
    a link that leads nowhere.
    """
    text, html = mail.text, mail.html
    for stand_in, value in values.items():
        text = text.replace(stand_in, value)
        html = html.replace(stand_in, str(escape(value)))
    if marker in text or marker in html:
        raise ValueError("a stand-in was left in the mail")
    return RenderedMail(subject=mail.subject, text=text, html=html)
