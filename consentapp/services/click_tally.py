"""Link clicks added up in the process and written in batches.

A click is one more on its (link, day) counter. Writing each one in its own
transaction puts a commit, and on SQLite a wait for the one writer, on every request of
`/r/<token>`. Instead each process keeps the clicks it answered in memory, keyed by
link and day (so a click at 23:59 stays on its day), and a thread of its own writes
them every `CLICK_FLUSH_SECONDS` in one transaction: one upsert per (link, day) in
`link_click_days`, the counter raised by the number of clicks, with the link's total
and the campaign's day (what the report reads), in a fixed order so that two processes
writing the same rows on PostgreSQL never wait on each other crosswise.

What it costs: a click is in the report up to `CLICK_FLUSH_SECONDS` after it was
answered. A process that stops normally (gunicorn's SIGTERM, a restart, the end of
`make run`) writes what it holds on the way out; one that is killed (SIGKILL, the out
of memory killer, gunicorn's timeout) loses the clicks of its last interval. A write
that fails (database away, locked) keeps the clicks for the next one. These are
anonymous counters: no personal record waits here (a consenting reader's own click
is written in the request, see `campaign_links.record_personal`).

`CLICK_FLUSH_SECONDS=0` counts each click in its own request, as before, for
operators who would rather have every click written before its answer.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import Counter
from datetime import date

import sqlalchemy as sa
from flask import Flask, current_app

from consentapp.extensions import db
from consentapp.models import CampaignClickDay, CampaignLink, LinkClickDay
from consentapp.services.dialects import dialect_insert

log = logging.getLogger(__name__)
EXTENSION = "click_tally"
_MADE = threading.Lock()  # one tally per app, however many threads click at first


def _build_upserts(dialect_name: str) -> tuple[sa.Executable, sa.Executable]:
    """The day-count upsert of `LinkClickDay` and of `CampaignClickDay`: the row made,
    or its counter raised by the number of clicks."""
    built = []
    for model, key in ((LinkClickDay, "link_id"), (CampaignClickDay, "campaign_id")):
        insert = dialect_insert(model, dialect_name).values(
            {key: sa.bindparam(key), "day": sa.bindparam("day"), "clicks": sa.bindparam("clicks")}
        )
        upsert: sa.Executable = insert.on_conflict_do_update(
            index_elements=[getattr(model, key), model.day],
            set_={"clicks": model.clicks + insert.excluded.clicks},
        )
        built.append(upsert)
    return built[0], built[1]


# Built once per database kind: a write runs the compiled statements with its values.
_UPSERTS = {name: _build_upserts(name) for name in ("sqlite", "postgresql")}
_RAISE_LINK = (
    sa.update(CampaignLink)
    .where(CampaignLink.id == sa.bindparam("link"))
    .values(clicks=CampaignLink.clicks + sa.bindparam("clicks"))
)


def _campaigns_of(connection: sa.Connection, links: set[int]) -> dict[int, int]:
    """Each link's campaign, for the links that still exist."""
    found = sa.select(CampaignLink.id, CampaignLink.campaign_id).where(CampaignLink.id.in_(links))
    return {link: campaign for link, campaign in connection.execute(found)}


def add_clicks(rows: dict[tuple[int, date], int]) -> None:
    """Raise each (link, day) counter by its number, with the link's total and its
    campaign's day, on the session's connection (Core, not the ORM path). Each table in
    turn, sorted by key, so concurrent writers lock rows in one order. Clicks on a link
    deleted meanwhile (its campaign removed from the database) are dropped: no write
    fails on them for ever. No commit."""
    connection = db.session.connection()
    link_upsert, campaign_upsert = _UPSERTS[
        "postgresql" if connection.dialect.name == "postgresql" else "sqlite"
    ]
    campaign_of = _campaigns_of(connection, {link for link, _ in rows})
    kept = sorted((key, clicks) for key, clicks in rows.items() if key[0] in campaign_of)
    if not kept:
        return
    per_link: Counter[int] = Counter()
    per_campaign_day: Counter[tuple[int, date]] = Counter()
    for (link, day), clicks in kept:
        per_link[link] += clicks
        per_campaign_day[(campaign_of[link], day)] += clicks
    connection.execute(link_upsert, [{"link_id": k, "day": d, "clicks": n} for (k, d), n in kept])
    connection.execute(_RAISE_LINK, [{"link": k, "clicks": n} for k, n in sorted(per_link.items())])
    connection.execute(
        campaign_upsert,
        [
            {"campaign_id": c, "day": d, "clicks": n}
            for (c, d), n in sorted(per_campaign_day.items())
        ],
    )


class ClickTally:
    """The clicks one process answered and has not written yet, and the thread that
    writes them. Safe for threaded servers; started again in a forked child."""

    def __init__(self, app: Flask, interval: float) -> None:
        self.app = app
        self.interval = interval
        self._reset()
        os.register_at_fork(after_in_child=self._reset)
        atexit.register(self.flush)

    def _reset(self) -> None:
        # A child forked from a process holding clicks must not write them a second time.
        self.pending: Counter[tuple[int, date]] = Counter()
        self.lock = threading.Lock()  # guards `pending`
        self.writing = threading.Lock()  # one write at a time: the last one waits for it
        self.thread: threading.Thread | None = None

    def add(self, link_id: int, day: date) -> None:
        with self.lock:
            self.pending[(link_id, day)] += 1
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name=EXTENSION, daemon=True)
                self.thread.start()

    def held(self) -> int:
        """Clicks counted here and not yet written."""
        with self.lock:
            return sum(self.pending.values())

    def flush(self) -> int:
        """Write what is held (waiting for a write under way); the number of clicks
        written. On failure the clicks stay for the next write."""
        with self.writing:
            with self.lock:
                taken, self.pending = self.pending, Counter()
            if not taken:
                return 0
            try:
                with self.app.app_context():
                    add_clicks(dict(taken))
                    db.session.commit()
            except Exception:
                log.exception("Writing %d link clicks failed; kept for the next try", len(taken))
                with self.lock:
                    self.pending.update(taken)
                return 0
            return sum(taken.values())

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            self.flush()


def tally() -> ClickTally | None:
    """This app's tally, made at the first click; None when clicks are written in the
    request (`CLICK_FLUSH_SECONDS=0`)."""
    app = current_app
    found: ClickTally | None = app.extensions.get(EXTENSION)
    if found is None:
        interval = float(app.config["CLICK_FLUSH_SECONDS"])
        if interval <= 0:
            return None
        with _MADE:
            found = app.extensions.get(EXTENSION)
            if found is None:
                found = app.extensions[EXTENSION] = ClickTally(
                    app._get_current_object(),  # type: ignore[attr-defined]
                    interval,
                )
    return found
