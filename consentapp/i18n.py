"""Language choice: `?lang=` switches and is remembered, Accept-Language otherwise."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, request, session, url_for
from flask_babel import get_locale


def supported_languages() -> tuple[str, ...]:
    """The languages the site speaks, default first."""
    languages: tuple[str, ...] = current_app.config["LANGUAGES"]
    return languages


def select_locale() -> str:
    """Pick the language for this request (Flask-Babel's locale selector)."""
    languages = supported_languages()
    chosen = session.get("lang")
    if chosen in languages:
        return str(chosen)
    best = request.accept_languages.best_match(languages)
    return best or languages[0]


def current_language() -> str:
    """The two-letter code of the language this response is rendered in."""
    return str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])


def remember_language() -> None:
    """Store `?lang=xx` in the session so later pages keep it."""
    wanted = request.args.get("lang", "").strip().lower()
    if wanted and wanted in supported_languages() and session.get("lang") != wanted:
        session["lang"] = wanted


def switch_language_url(language: str) -> str:
    """The current page in another language, as a path on this site.

    The visitor's query comes along (search terms, filters), except names starting
    with `_`: `url_for` reads `_external`, `_scheme`, `_anchor`... as instructions, so
    `?_external=1` with a forged Host would make the link point at another site. Query
    names never replace the page's own path arguments.
    """
    if request.endpoint is None or request.endpoint == "static":
        return url_for("public.home", lang=language)
    view_args = request.view_args or {}
    args: dict[str, Any] = {
        name: values
        for name, values in request.args.lists()
        if not name.startswith("_") and name != "lang" and name not in view_args
    }
    args.update(view_args)
    args["lang"] = language
    return url_for(request.endpoint, **args)


def init_app(app: Flask) -> None:
    """Register the language hook and the template helpers."""
    app.before_request(remember_language)
    app.jinja_env.globals.update(
        current_language=current_language,
        switch_language_url=switch_language_url,
        supported_languages=supported_languages,
    )
