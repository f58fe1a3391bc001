"""The writer's connection as the sequencer's jobs see it: new orders' rows are held and written together.

Python's sqlite3 lets go of the GIL for every statement, and the writer then waits to get it back behind
whichever request thread took it: at saturation an order's five statements (its savepoint and release,
the client-id lookup, the order and its legs) spent ~650 of the ~1,000 µs an order held the writer's
turn waiting, against ~120 µs of their own work. So an order's inserts are held (``hold``) and written
for the whole group in one ``executemany`` per statement when the group ends, or earlier, at the first
other statement, so every read still sees every write. A job in a group gets its savepoint only when it
runs a statement of its own; a plain order runs none, and when a job fails its held rows are dropped.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence


class GroupWriter:
    """Stands in for the writer's ``sqlite3.Connection`` (``execute``, ``executemany``, ``in_transaction``)."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db
        self._held: list[tuple[str, Sequence]] = []  # (statement, parameters), oldest first
        self._own = 0  # how many of the held rows the current job holds (the newest ones)
        self._grouped = False  # the current job shares its transaction, so its writes need a savepoint
        self._savepoint = False  # the current job's savepoint is open

    # ------------------------------------------------------------------ what jobs call
    def hold(self, sql: str, params: Sequence) -> None:
        """Run ``sql`` later: an independent insert, written with the others of its statement in one go."""
        self._held.append((sql, params))
        self._own += 1

    def execute(self, sql: str, params: Sequence = ()) -> sqlite3.Cursor:
        self._write_held()
        return self.db.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence]) -> sqlite3.Cursor:
        self._write_held()
        return self.db.executemany(sql, rows)

    @property
    def in_transaction(self) -> bool:
        return self.db.in_transaction

    # ------------------------------------------------------------------ what the sequencer calls
    def start_job(self, grouped: bool) -> None:
        self._own, self._grouped, self._savepoint = 0, grouped, False

    def end_job(self, failed: bool) -> None:
        """Keep the job's writes, or drop them: its held rows, and what its savepoint covers."""
        if failed:
            del self._held[len(self._held) - self._own:]
            if self._savepoint:
                self.db.execute("ROLLBACK TO job")
        if self._savepoint:
            self.db.execute("RELEASE job")
        self._own, self._savepoint = 0, False

    def finish(self) -> None:
        """Write what the group still holds, before its commit."""
        self._write(self._held)
        self._held, self._own = [], 0

    def discard(self) -> None:
        """The transaction rolled back: nothing held is written."""
        self._held, self._own, self._savepoint = [], 0, False

    # ------------------------------------------------------------------ internals
    def _write_held(self) -> None:
        """Before any other statement: earlier jobs' rows, then this job's savepoint, then its own rows."""
        if self._grouped and not self._savepoint:
            split = len(self._held) - self._own
            self._write(self._held[:split])
            self.db.execute("SAVEPOINT job")
            self._savepoint = True
            self._write(self._held[split:])
        else:
            self._write(self._held)
        self._held, self._own = [], 0

    def _write(self, held: list[tuple[str, Sequence]]) -> None:
        """One ``executemany`` per statement, in the order each was first held."""
        if not held:
            return
        by_sql: dict[str, list[Sequence]] = {}
        for sql, params in held:
            by_sql.setdefault(sql, []).append(params)
        for sql, rows in by_sql.items():
            self.db.executemany(sql, rows)
