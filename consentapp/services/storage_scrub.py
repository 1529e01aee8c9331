"""After an erasure, the database files themselves keep no erased bytes (P10).

Deleting a row does not remove its bytes from disk. SQLite: every connection runs
with `secure_delete` (deleted content is overwritten with zeros; see
`extensions.tune_sqlite`), and once a commit that erased personal data is done, the
contact search's trigram table is merged into one segment if contacts were touched
(FTS5 in SQLite 3.40 only marks an entry deleted; the merge drops it, see
`contact_search.merge_index`), then the write-ahead log, which still holds the old
page images, is checkpointed and truncated. PostgreSQL: deleted and updated rows stay
in the table files as dead tuples until VACUUM; once such a commit is done the tables
it touched are vacuumed, in a thread of their own so that the request or the delivery
pass does not wait.

Deleting mail rows marks the outbox for this on its own: the app deletes mails only
when a person's data goes (an erasure, the last mail to an erased person, an
unconfirmed sign-up purged).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import ORMExecuteState, Session

from consentapp.extensions import db
from consentapp.models import OutboundEmail
from consentapp.services.contact_search import merge_index

log = logging.getLogger(__name__)

SCRUB_KEY = "consentapp.scrub_tables"
_vacuums: list[threading.Thread] = []
_vacuums_lock = threading.Lock()


def scrub_after_commit(tables: Iterable[str]) -> None:
    """Have the storage of `tables` scrubbed once the current transaction commits."""
    db.session.info.setdefault(SCRUB_KEY, set()).update(tables)


@sa.event.listens_for(Session, "do_orm_execute")
def _mails_deleted(state: ORMExecuteState) -> None:
    table = getattr(state.statement, "table", None)
    if state.is_delete and getattr(table, "name", None) == OutboundEmail.__tablename__:
        state.session.info.setdefault(SCRUB_KEY, set()).add(OutboundEmail.__tablename__)


@sa.event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous_transaction: Any) -> None:
    session.info.pop(SCRUB_KEY, None)


@sa.event.listens_for(Session, "after_commit")
def _scrub(session: Session) -> None:
    tables: set[str] | None = session.info.pop(SCRUB_KEY, None)
    if not tables:
        return
    engine = session.get_bind()
    scrub_storage(engine if isinstance(engine, sa.Engine) else engine.engine, tables)


def scrub_storage(engine: sa.Engine, tables: Iterable[str]) -> None:
    """Scrub the storage of `tables` now (after a commit on a connection of its own)."""
    if engine.dialect.name == "sqlite":
        if "contacts" in tables:
            with engine.begin() as connection:
                merge_index(connection)
        checkpoint(engine)
    elif engine.dialect.name == "postgresql":
        thread = threading.Thread(
            target=vacuum, args=(engine, sorted(tables)), name="vacuum-after-erasure"
        )
        with _vacuums_lock:
            _vacuums[:] = [t for t in _vacuums if t.is_alive()]
            _vacuums.append(thread)
        thread.start()


def checkpoint(engine: sa.Engine) -> bool:
    """SQLite: copy the write-ahead log into the database file and truncate it.

    A reader that still holds an older snapshot (in another process) keeps frames
    alive; then the log is truncated at the next erasure or automatic checkpoint.
    """
    with engine.connect() as connection:
        busy, _, _ = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    if busy:
        log.warning("write-ahead log not truncated after an erasure: a reader was busy")
    return not busy


def vacuum(engine: sa.Engine, tables: list[str]) -> None:
    """PostgreSQL: VACUUM the tables (outside any transaction, as VACUUM must run).

    Without the right to (not the tables' owner), PostgreSQL skips them with a warning;
    an error is logged and the erasure stands: autovacuum gets there later.
    """
    # A connection of its own, closed here: the app's pool may be disposed meanwhile.
    own = sa.create_engine(engine.url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with own.connect() as connection:
            quote = connection.dialect.identifier_preparer.quote
            for table in tables:
                connection.exec_driver_sql(f"VACUUM {quote(table)}")
    except sa.exc.DBAPIError as exc:
        log.warning("VACUUM after an erasure failed: %s", str(exc).splitlines()[0])
    finally:
        own.dispose()


def wait_for_vacuums(timeout: float = 60.0) -> None:
    """Wait until the vacuums started so far are done (for tests and scripts)."""
    with _vacuums_lock:
        pending = list(_vacuums)
    for thread in pending:
        thread.join(timeout)
