"""Recording accepted messages while the next ones go out.

Committing a message's outcome costs about as much as sending it. Done in turn, each
commit would hold up the next SMTP exchange; here a thread of its own commits them on
a connection of its own while the sender goes on, all that are waiting in one
transaction. How far it may fall behind is the duplicate bound: MAIL_PIPELINE_DEPTH
accepted messages may wait for their record at a time, so a worker killed at any moment
leaves at most that many, plus the one on the wire of each connection, to be sent
again. With depth 0 every outcome is committed before the next message starts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime

import sqlalchemy as sa

from consentapp.mail.leases import Outgoing, record_sent

log = logging.getLogger(__name__)

Accepted = tuple[Outgoing, datetime]


class OutcomeWriter:
    """Commits `record_sent` for accepted messages, at most `depth` behind the sender."""

    def __init__(
        self, engine: sa.Engine, depth: int, after_deletion: Callable[[], None] | None = None
    ) -> None:
        self.engine = engine
        self.depth = max(depth, 0)
        # Called once a commit deleted mails (the last ones to erased people).
        self.after_deletion = after_deletion
        self.changed = threading.Condition()
        self.waiting: list[Accepted] = []
        self.writing = 0
        self.closing = False
        self.started = False
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._keep, name="outbox-outcomes", daemon=True)

    def add(self, row: Outgoing, accepted_at: datetime) -> None:
        """Note that the server accepted `row`; returns once at most `depth` accepted
        messages wait for their record. Raises the database's error when a commit failed:
        the sender stops, the unrecorded rows keep their claim until the lease runs out."""
        with self.changed:
            if not self.started:  # under the lock: several connections add at once
                self.started = True
                self.thread.start()
            self.waiting.append((row, accepted_at))
            self.changed.notify_all()
            self._wait_until(lambda: len(self.waiting) + self.writing <= self.depth)

    def flush(self) -> None:
        """Return once every accepted message is recorded (or raise as `add` does)."""
        with self.changed:
            self._wait_until(lambda: not self.waiting and not self.writing)

    def close(self) -> None:
        """Record what waits, then end the thread; raises as `flush` does."""
        with self.changed:
            if not self.started:
                return
        try:
            self.flush()
        finally:
            with self.changed:
                self.closing = True
                self.changed.notify_all()
            self.thread.join()

    def settle(self) -> None:
        """`flush` on the way out of a failed pass: what can still be recorded is."""
        try:
            self.flush()
        except Exception as exc:  # the pass's own error is the one that counts
            log.warning("accepted messages left unrecorded: %s", exc)

    def _wait_until(self, done: Callable[[], bool]) -> None:
        while not done() and self.error is None:
            self.changed.wait()
        if self.error is not None:
            raise self.error

    def _take(self) -> list[Accepted] | None:
        with self.changed:
            while not self.waiting and not self.closing:
                self.changed.wait()
            if not self.waiting:
                return None
            batch, self.waiting = self.waiting, []
            self.writing = len(batch)
            return batch

    def _keep(self) -> None:
        while (batch := self._take()) is not None:
            try:
                self._write(batch)
            except Exception as exc:  # the driver's own errors: the sender stops
                with self.changed:
                    self.error = exc
                    self.writing = 0
                    self.changed.notify_all()
                return
            with self.changed:
                self.writing = 0
                self.changed.notify_all()

    def _write(self, batch: Sequence[Accepted]) -> None:
        with self.engine.begin() as connection:
            deleted = record_sent(connection, batch)
        if deleted and self.after_deletion is not None:
            self.after_deletion()
