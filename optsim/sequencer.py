"""One thread that applies every change to the desk's state, committing them in groups.

The order path must be serial (risk sees every accepted order before it checks the next), and
every answer must follow its commit. Serialising with a lock made waitress's threads convoy on it:
SQLite releases the GIL while committing, the others run up to the lock and stall, and the
committer then waits for the GIL while still holding the lock. Here the request threads hand
their job to this thread and wait. It takes every job queued while it was busy, runs each in its
own savepoint (a job that raises undoes only its own writes and raises in its caller), and commits
the group once: one commit per group instead of one per order, and no lock to convoy on.
The jobs' in-memory changes follow their writes through the ``Journal``: undone with a job that
raised, or with the whole group when its commit fails; kept only once the commit succeeded.
"""
from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from .journal import Journal
from .store import Store

MAX_GROUP = 64  # jobs in one transaction at most, so a burst still answers its first orders promptly


class _Job:
    __slots__ = ("fn", "done", "result", "error")

    def __init__(self, fn: Callable[[sqlite3.Connection], Any]):
        self.fn, self.done = fn, threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class Sequencer:
    def __init__(self, store: Store, journal: Journal | None = None, name: str = "order-desk"):
        self.store = store
        self.journal = journal or Journal()
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def run(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run ``fn(db)`` on the sequencer thread; return its result once its group is committed."""
        if threading.current_thread() is self._thread:  # a job calling back into the desk: already in order
            return fn(self.store.conn())
        job = _Job(fn)
        self._jobs.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result

    def close(self) -> None:
        """Finish the queued jobs, then stop the thread."""
        self._jobs.put(None)
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        db = self.store.conn()
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
            self._run_group(db, group)

    def _run_group(self, db: sqlite3.Connection, group: list[_Job]) -> None:
        journal = self.journal
        try:
            db.execute("BEGIN IMMEDIATE")
            journal.begin()
            for job in group:
                mark = journal.mark()
                db.execute("SAVEPOINT job")
                try:
                    job.result = job.fn(db)
                    db.execute("RELEASE job")
                except BaseException as exc:  # the caller gets it; the group goes on without its writes
                    job.error = exc
                    if not db.in_transaction:  # SQLite rolled back the whole group itself (disk full, I/O error)
                        raise
                    journal.rollback(mark)
                    db.execute("ROLLBACK TO job")
                    db.execute("RELEASE job")
            db.execute("COMMIT")
            journal.commit()
        except Exception as exc:  # the group's commit failed: none of it is stored, so no one is answered OK
            journal.abort()
            try:
                if db.in_transaction:
                    db.execute("ROLLBACK")
            except sqlite3.Error:  # a full or failing disk can refuse even this; the connection resets on next BEGIN
                pass
            for job in group:
                job.error = job.error or exc
        finally:
            for job in group:
                job.done.set()
