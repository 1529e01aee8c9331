"""What nearly every public page shows and only staff change: the notice in force and
the topics on offer, read once and shared by the requests of a process (P7, P16).

A process sees its own changes at once: a commit that adds or changes a topic or a
notice empties its cache. Another process (a second gunicorn worker, the CLI) or an
operator's SQL is seen within `REFERENCE_CACHE_SECONDS`, when the cache is read again.
Nothing is recorded from the cache: a form page names the notice version it showed in
a hidden field and the ledger keeps that version, and a write that needs the notice in
force reads it in its own transaction (`notices.current_notice`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session

from consentapp.extensions import db
from consentapp.models import PrivacyNotice, Topic, TopicWording
from consentapp.services.notices import NO_NOTICE_PUBLISHED, NoticeMissing

EXTENSION = "consentapp.reference"


@dataclass(frozen=True)
class TopicRef(TopicWording):
    """A topic as pages show it: the same names as the model, read-only."""

    id: int
    slug: str
    label_nl: str
    label_en: str
    description_nl: str
    description_en: str


@dataclass(frozen=True)
class NoticeRef:
    """A published notice version as pages link to it (its text stays in the database)."""

    id: int
    version: int
    language: str
    title: str
    sha256: str


@dataclass(frozen=True)
class Reference:
    """One reading of the reference data; `generation` changes when the data do."""

    topics: tuple[TopicRef, ...]
    notices: tuple[NoticeRef, ...]
    generation: int

    def notice(self, language: str, default: str) -> NoticeRef | None:
        """The notice in force in `language`, else in the default language."""
        by_language = {notice.language: notice for notice in self.notices}
        return by_language.get(language) or by_language.get(default)


class _Cache:
    """A process's reading, with when it was made."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reference: Reference | None = None
        self.read_at = 0.0


def _read(generation: int) -> Reference:
    topics = tuple(
        TopicRef(
            row.id, row.slug, row.label_nl, row.label_en, row.description_nl, row.description_en
        )
        for row in db.session.execute(
            sa.select(
                Topic.id,
                Topic.slug,
                Topic.label_nl,
                Topic.label_en,
                Topic.description_nl,
                Topic.description_en,
            )
            .where(Topic.active.is_(True))
            .order_by(Topic.position, Topic.id)
        )
    )
    latest = sa.select(sa.func.max(PrivacyNotice.version)).scalar_subquery()
    notices = tuple(
        NoticeRef(row.id, row.version, row.language, row.title, row.sha256)
        for row in db.session.execute(
            sa.select(
                PrivacyNotice.id,
                PrivacyNotice.version,
                PrivacyNotice.language,
                PrivacyNotice.title,
                PrivacyNotice.sha256,
            )
            .where(PrivacyNotice.version == latest)
            .order_by(PrivacyNotice.language)
        )
    )
    return Reference(topics, notices, generation)


def reference() -> Reference:
    """The reference data, read again when older than `REFERENCE_CACHE_SECONDS`."""
    cache: _Cache = current_app.extensions[EXTENSION]
    now = time.monotonic()
    current = cache.reference
    if current is not None and now - cache.read_at < current_app.config["REFERENCE_CACHE_SECONDS"]:
        return current
    with cache.lock:
        previous = cache.reference
        fresh = _read(previous.generation if previous else 0)
        if previous is not None and (fresh.topics, fresh.notices) != (
            previous.topics,
            previous.notices,
        ):
            fresh = Reference(fresh.topics, fresh.notices, previous.generation + 1)
        cache.reference, cache.read_at = fresh, now
        return fresh


def forget(app: Flask) -> None:
    """Read the reference data again at the next request (a topic or notice changed)."""
    cache: _Cache | None = app.extensions.get(EXTENSION)
    if cache is not None:
        with cache.lock:
            cache.read_at = 0.0


def _watched(instance: object) -> bool:
    return isinstance(instance, (Topic, PrivacyNotice))


def _note_flush(session: Session, context: Any) -> None:
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(_watched(instance) for instance in changed):
        session.info["reference_changed"] = True


def _note_bulk(state: Any) -> None:
    if (state.is_update or state.is_delete) and any(
        mapper.class_ in (Topic, PrivacyNotice) for mapper in state.all_mappers
    ):
        state.session.info["reference_changed"] = True


def _after_commit(session: Session) -> None:
    if session.info.pop("reference_changed", False) and has_app_context():
        forget(current_app._get_current_object())  # type: ignore[attr-defined]


def _after_rollback(session: Session) -> None:
    session.info.pop("reference_changed", None)


def init_app(app: Flask) -> None:
    """Give the app its cache; a commit that changes topics or notices empties it."""
    app.extensions[EXTENSION] = _Cache()
    if not sa.event.contains(Session, "after_flush", _note_flush):
        sa.event.listen(Session, "after_flush", _note_flush)
        sa.event.listen(Session, "do_orm_execute", _note_bulk)
        sa.event.listen(Session, "after_commit", _after_commit)
        sa.event.listen(Session, "after_rollback", _after_rollback)


def offered_topics() -> tuple[TopicRef, ...]:
    """The topics people can choose, in display order."""
    return reference().topics


def notice_in_force(language: str) -> NoticeRef:
    """The notice version pages link to, in `language` where it exists."""
    notice = reference().notice(language, current_app.config["BABEL_DEFAULT_LOCALE"])
    if notice is None:
        raise NoticeMissing(NO_NOTICE_PUBLISHED)
    return notice
