"""Render a mail from its `templates/email/NAME.txt` + `NAME.html` pair."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import render_template
from flask_babel import LazyString, force_locale


@dataclass(frozen=True)
class RenderedMail:
    """A mail's subject and both bodies, in one language."""

    subject: str
    text: str
    html: str


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
