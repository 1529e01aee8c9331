"""Publishing and finding versions of the privacy notice (P16)."""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from flask import current_app, render_template

from consentapp.extensions import db
from consentapp.models import PrivacyNotice, text_sha256
from consentapp.request_checks import small_int
from consentapp.services.notice_purposes import notice_purposes

NO_NOTICE_PUBLISHED = "no privacy notice is published; run `flask --app wsgi seed`"


class NoticeMissing(LookupError):
    """No privacy notice has been published yet: run `flask --app wsgi seed`."""


def latest_version() -> int | None:
    """The number of the newest published version, if any."""
    value = db.session.scalar(sa.select(sa.func.max(PrivacyNotice.version)))
    return int(value) if value is not None else None


def find_notice(version: int, language: str) -> PrivacyNotice | None:
    """Version `version` in `language`, falling back to the default language."""
    default = current_app.config["BABEL_DEFAULT_LOCALE"]
    rows = db.session.scalars(
        sa.select(PrivacyNotice).where(
            PrivacyNotice.version == version, PrivacyNotice.language.in_([language, default])
        )
    ).all()
    by_language = {row.language: row for row in rows}
    return by_language.get(language) or by_language.get(default)


def notice_shown(raw_version: str | None, language: str) -> PrivacyNotice | None:
    """The version a form page linked to (its hidden field), if it names a real one."""
    version = small_int(raw_version)
    return find_notice(version, language) if version is not None else None


def current_notice(language: str) -> PrivacyNotice:
    """The notice in force, in `language` where it exists."""
    version = latest_version()
    notice = find_notice(version, language) if version is not None else None
    if notice is None:
        raise NoticeMissing(NO_NOTICE_PUBLISHED)
    return notice


def all_versions(language: str) -> list[PrivacyNotice]:
    """Every published version, newest first, one row per version."""
    versions = db.session.scalars(
        sa.select(PrivacyNotice.version).distinct().order_by(PrivacyNotice.version.desc())
    ).all()
    notices = (find_notice(version, language) for version in versions)
    return [notice for notice in notices if notice is not None]


def normalise_notice_text(text: str) -> str:
    """One form for every source (browsers send CRLF): LF line ends, one final newline."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip() + "\n"


def publish_notice(
    texts: Mapping[str, tuple[str, str]], *, purposes_changed: bool = False
) -> list[PrivacyNotice]:
    """Publish a new version: `texts` maps language to (title, Markdown text);
    `purposes_changed` marks one that changes what data serve (subscribers are then
    offered to be asked again).

    The text is the whole document as shown, its title heading included.

    Published rows are never edited; the fingerprint is the SHA-256 of the text.
    The caller commits.
    """
    version = (latest_version() or 0) + 1
    rows = [
        PrivacyNotice(
            version=version,
            language=language,
            title=title,
            text=text,
            sha256=text_sha256(text),
            purposes_changed=purposes_changed,
        )
        for language, (title, text) in texts.items()
    ]
    db.session.add_all(rows)
    return rows


def render_notice_template(language: str) -> tuple[str, str]:
    """Our notice template in `language`, filled with the company's details and, per
    purpose, the legal basis, retention and recipients from the record of processing."""
    text = render_template(
        f"notices/privacy.{language}.md",
        org_name=current_app.config["ORG_NAME"],
        org_address=current_app.config["ORG_ADDRESS"],
        org_email=current_app.config["ORG_EMAIL"],
        base_url=current_app.config["BASE_URL"],
        purposes=notice_purposes(language),
    ).strip()
    return notice_title(text), text + "\n"


def notice_title(text: str) -> str:
    """A notice's title is its first line, a Markdown heading: `# Title`."""
    return text.partition("\n")[0].lstrip("# ").strip()
