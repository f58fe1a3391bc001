"""The in-memory side of a transaction: what to undo if the writes roll back, what to do once they commit.

The desk changes memory (working orders, exposure, tallies, the venue's book) while it writes the
database, because the next order in the same group must see the last one. If the database then
rolls that work back (a job that raised, a group whose commit failed: a full disk), memory must
roll back with it, or the desk counts orders the database does not have. Each change registers its
inverse here; the sequencer undoes a failed job's changes back to that job's mark, or the whole
group's, and forgets them once the group is committed. Effects nobody reads inside the group
(Prometheus counters, which cannot go down) wait for the commit instead.

Outside a transaction (start-up restore) there is nothing to roll back to: undo entries are not
kept and after-commit actions run at once.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

Mark = tuple[int, int]


class Journal:
    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []
        self._after: list[Callable[[], None]] = []
        self.open = False
        self._undoing = False  # an undo that calls a journaled method must not register anything

    def begin(self) -> None:
        self._undo.clear(), self._after.clear()
        self.open = True

    def undo(self, fn: Callable[[], None]) -> None:
        """Register the inverse of a change just made to memory."""
        if self.open and not self._undoing:
            self._undo.append(fn)

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once the current transaction commits (now, outside one)."""
        if self._undoing:
            return
        if self.open:
            self._after.append(fn)
        else:
            fn()

    def mark(self) -> Mark:
        return len(self._undo), len(self._after)

    def rollback(self, mark: Mark = (0, 0)) -> None:
        """Undo, newest first, every change registered since ``mark``; drop their after-commit actions."""
        undo, self._undo[mark[0]:] = self._undo[mark[0]:], []
        del self._after[mark[1]:]
        self._undoing = True
        try:
            for fn in reversed(undo):
                try:
                    fn()
                except Exception:  # one failed undo must not stop the others
                    log.exception("undo of an in-memory change failed")
        finally:
            self._undoing = False

    def commit(self) -> None:
        """The transaction is durable: run the after-commit actions and forget the undo entries."""
        after = self._after[:]
        self._undo.clear(), self._after.clear()
        self.open = False
        for fn in after:
            try:
                fn()
            except Exception:
                log.exception("after-commit action failed")

    def abort(self) -> None:
        """The whole transaction rolled back: undo everything it changed in memory."""
        self.rollback()
        self.open = False
