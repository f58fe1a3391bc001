"""One writer at a time applies every change to the desk's state, committing queued changes in groups.

The order path must be serial (risk sees every accepted order before it checks the next), and
every answer must follow its commit. Serialising with a lock made waitress's threads convoy on it:
SQLite releases the GIL while committing, the others run up to the lock and stall, and the
committer then waits for the GIL while still holding the lock. So changes that arrive together are
handed to one sequencer thread, which takes every job queued while it was busy, runs each so that
a job that raises undoes only its own writes and raises in its caller (its held rows are dropped, and
a savepoint covers any statement it ran: ``GroupWriter``), and commits the group once: one commit per
group instead of one per order, and no lock to convoy on.

A change that arrives alone, with the writer idle and nothing queued, runs on its caller's thread
(flat combining): handing it over would cost two thread wake-ups, each a scheduler time slice on a
busy machine, for no grouping gain. Whoever holds the writer's turn uses the same connection, so a
job sees the same database state (temp tables included) wherever it runs.
The jobs' in-memory changes follow their writes through the ``Journal``: undone with a job that
raised, or with the whole group when its commit fails; kept only once the commit succeeded.
"""
from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from .group_writer import GroupWriter
from .journal import Journal
from .store import Store

MAX_GROUP = 64  # jobs in one transaction at most, so a burst still answers its first orders promptly


class _Job:
    __slots__ = ("fn", "done", "result", "error")

    def __init__(self, fn: Callable[[sqlite3.Connection], Any]):
        self.fn = fn
        # held from when the job queues until its group is committed: a bare lock, the cheapest handoff there is
        # (an Event is a Condition in Python code); a job run alone is never waited on and gets none
        self.done: threading.Lock | None = None
        self.result: Any = None
        self.error: BaseException | None = None


class Sequencer:
    def __init__(self, store: Store, journal: Journal | None = None, name: str = "order-desk"):
        self.store = store
        self.journal = journal or Journal()
        self._db = store.connect(writer=True)
        self._writer = GroupWriter(self._db)  # what jobs write through: holds new orders' rows for the group
        self._turn = threading.Lock()  # held by whoever is applying changes: the sequencer thread or a lone caller
        self._owner: int | None = None  # that thread's ident, so a job calling back into the desk runs inline
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def run(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``fn(db)`` as the one writer; return its result once it is committed."""
        if self._owner == threading.get_ident():  # a job calling back into the desk: already in order
            return fn(self._writer)
        job = _Job(fn)
        if not (self._jobs.empty() and self._run_alone(job)):
            job.done = threading.Lock()
            job.done.acquire()
            self._jobs.put(job)
            job.done.acquire()  # until the writer releases it
        if job.error is not None:
            raise job.error
        return job.result

    def close(self) -> None:
        """Finish the queued jobs, then stop the thread."""
        self._jobs.put(None)
        self._thread.join(timeout=10)

    def _run_alone(self, job: _Job) -> bool:
        """Run ``job`` on this thread if the writer is idle and no one is queued; False if it must queue."""
        if not self._turn.acquire(blocking=False):
            return False
        try:
            if not self._jobs.empty():  # others queued meanwhile: they go first, grouped, on the sequencer
                return False
            self._apply([job])
            return True
        finally:
            self._turn.release()

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            group = [job]
            while len(group) < MAX_GROUP:
                try:
                    nxt = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._jobs.put(None)  # stop after this group
                    break
                group.append(nxt)
            with self._turn:
                self._apply(group)

    def _apply(self, group: list[_Job]) -> None:
        """Run the group in one transaction; a job in a group that writes gets its own savepoint (``GroupWriter``)."""
        db, writer, journal, grouped = self._db, self._writer, self.journal, len(group) > 1
        self._owner = threading.get_ident()
        self.store.lend(writer)
        try:
            db.execute("BEGIN IMMEDIATE")
            journal.begin()
            for job in group:
                mark = journal.mark()
                writer.start_job(grouped)
                try:
                    job.result = job.fn(writer)
                    writer.end_job(failed=False)
                except BaseException as exc:  # the caller gets it; the group goes on without its writes
                    job.error = exc
                    if not grouped or not db.in_transaction:  # alone, or SQLite rolled back the group itself (disk full)
                        raise
                    journal.rollback(mark)
                    writer.end_job(failed=True)
            writer.finish()
            db.execute("COMMIT")
            journal.commit()
        except BaseException as exc:  # the transaction failed: none of it is stored, so no one is answered OK
            writer.discard()
            journal.abort()
            try:
                if db.in_transaction:
                    db.execute("ROLLBACK")
            except sqlite3.Error:  # a full or failing disk can refuse even this; the connection resets on next BEGIN
                pass
            for job in group:
                job.error = job.error or exc
        finally:
            self._owner = None
            self.store.lend(None)
            for job in group:
                if job.done is not None:
                    job.done.release()
