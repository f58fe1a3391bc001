"""Fan independent runs out over Dask distributed: a local cluster by default, or an existing
scheduler given its address. Same tasks, same results either way.

A run that raises, or whose worker dies under it, is submitted once more; after a second failure
it is reported as failed with its error and the others carry on. Short runs travel in batches
(``batch_size``) so scheduling costs a few percent of a run; a run that raises inside a batch fails
alone, and a worker that dies takes down only the batch it was running (see ``fan_out``).
"""
from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import contextmanager

import dask
from distributed import Client, Future, LocalCluster, wait
from distributed.scheduler import KilledWorker

__all__ = ["NoWorkers", "batch_size", "connect", "fan_out", "run_batch"]


@contextmanager
def connect(workers: int | None = None, scheduler: str | None = None):
    """A Client on ``scheduler``, or on a local cluster of ``workers`` single-threaded processes
    (default: the machine's cores). The cluster is closed on exit, an external one is not."""
    if scheduler:
        with Client(scheduler, timeout="10s") as client:
            yield client
        return
    n = workers or os.cpu_count() or 1
    with dask.config.set({"distributed.scheduler.allowed-failures": 0,  # fan_out retries
                          # a worker's nanny restarts it when it dies; the cluster must not also hard-close a
                          # worker that happens to be restarting 15 s after its previous death (the default)
                          "distributed.deploy.lost-worker-timeout": "3650 days"}):
        # no dashboard, and the scheduler's own HTTP endpoint on a free loopback port rather than 8787, so two
        # fan-outs on one machine (two users, a test beside a sweep) do not collide
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                          scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                          host="127.0.0.1", silence_logs=logging.ERROR) as cluster, \
                Client(cluster) as client:
            yield client


def describe(exc: BaseException) -> str:
    """One line for the runs table: the exception's type and message."""
    text = " ".join(str(exc).split()) or "(no message)"
    if type(exc).__name__ == "RunFailed":  # already "Type: message" from the worker
        return text[:500]
    return f"{type(exc).__name__}: {text}"[:500]


MAX_BATCH = 8  # runs in one Dask task at most


def run_batch(fn: Callable, tasks: list) -> list[tuple[bool, object]]:
    """Run each task on this worker: ``(True, result)``, or ``(False, error line)`` for one that raised,
    so a run that fails inside a batch fails alone."""
    out = []
    for task in tasks:
        try:
            out.append((True, fn(task)))
        except Exception as exc:
            out.append((False, describe(exc)))
    return out


def batch_size(remaining: int, slots: int) -> int:
    """Runs for the next task: large while much remains, one by one at the end (guided self-scheduling).

    A Dask task costs the scheduler and this client 20-30 ms however long it runs, so short runs travel
    in batches; batches shrink with the work left, so the workers still finish together.
    """
    return max(1, min(MAX_BATCH, remaining // (2 * slots)))


POLL_S = 0.5  # how often a wait for results also looks for workers that left
GATHER_S = 30.0  # a finished batch's result that cannot be fetched this long was lost with its worker
NO_WORKERS_S = 120.0  # a cluster with no worker this long ends the fan-out


class NoWorkers(ConnectionError):
    """The cluster has had no worker for ``NO_WORKERS_S``; the runs finished so far are kept."""


def _lost(worker: str) -> str:
    return f"KilledWorker: worker {worker} died or left while running this run"


def _outcomes(fut: Future, size: int, worker: str) -> tuple[list[tuple[bool, object]], bool]:
    """What became of a batch's runs, and whether its worker can take more: a batch whose worker died (or
    took the result with it) fails whole, and that worker gets nothing until it is seen alive again."""
    if fut.status == "finished":
        try:
            return fut.result(timeout=GATHER_S), True
        except Exception:  # the worker died between finishing and handing the result over
            return [(False, _lost(worker))] * size, False
    if fut.status == "error":
        exc = fut.exception()
        return [(False, _lost(worker) if isinstance(exc, KilledWorker) else describe(exc))] * size, False
    return [(False, _lost(worker))] * size, False


def fan_out(client: Client, fn: Callable, tasks: Iterable, *, key: Callable[[object], str],
            on_done: Callable[[object, object | None, str | None], None]) -> None:
    """Run ``fn(task)`` for every task and call ``on_done(task, result, error)`` as each finishes,
    in completion order. Interrupting (Ctrl-C) cancels what is in flight.

    Each batch is pinned to a worker thread that holds nothing else of ours, and a worker gets its next
    batch only after its last result is fetched: so a run that kills its worker takes down only its own
    batch, never a bystander queued behind it or a finished result not yet collected. A batch whose worker
    leaves is failed here rather than left to the scheduler, which would wait for that worker forever.
    """
    waiting = list(tasks)[::-1]  # popped from the end: first in, first sent
    retries: list = []  # tasks whose first attempt failed: each goes again, alone
    flight: dict[Future, tuple[list, int, str]] = {}  # future -> (tasks, attempt, worker)

    def submit(batch: list, attempt: int, worker: str) -> None:
        fut = client.submit(run_batch, fn, batch, key=f"{key(batch[0])}-{attempt}", pure=False,
                            workers=[worker], allow_other_workers=False)
        flight[fut] = (batch, attempt, worker)

    def top_up(live: dict[str, int]) -> None:
        busy = Counter(worker for _, _, worker in flight.values())
        free = [w for w, threads in sorted(live.items()) for _ in range(threads - busy[w])]
        slots = sum(live.values())
        while free and (retries or waiting):
            if retries:
                submit([retries.pop()], 1, free.pop())
                continue
            size = batch_size(len(waiting), slots)
            submit([waiting.pop() for _ in range(min(size, len(waiting)))], 0, free.pop())

    last_worker_seen = time.monotonic()
    try:
        while waiting or retries or flight:
            live = client.nthreads()  # workers come and go (a nanny restarts one on a new address)
            if live:
                last_worker_seen = time.monotonic()
            elif time.monotonic() - last_worker_seen > NO_WORKERS_S:
                raise NoWorkers(f"the Dask cluster has had no worker for {NO_WORKERS_S:.0f} s")
            ended = [fut for fut, (_, _, worker) in flight.items() if fut.done() or worker not in live]
            outcomes = []
            for fut in ended:  # fetched before the worker gets its next batch
                batch, attempt, worker = flight.pop(fut)
                results, worker_ok = _outcomes(fut, len(batch), worker)
                if not worker_ok:  # it may still be listed for a moment after it died
                    live.pop(worker, None)
                if not fut.done():
                    client.cancel(fut, force=True)
                fut.release()
                outcomes.append((batch, attempt, results))
                if attempt == 0:
                    retries.extend(task for task, (ok, _) in zip(batch, results) if not ok)
            top_up(live)  # the workers' next runs leave before these are recorded (a row is fsynced)
            for batch, attempt, results in outcomes:
                for task, (ok, value) in zip(batch, results):
                    if ok:
                        on_done(task, value, None)
                    elif attempt:
                        on_done(task, None, value)
            if flight and not outcomes:
                try:
                    wait(list(flight), timeout=POLL_S, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    pass
            elif not flight and not outcomes:
                time.sleep(POLL_S)  # no worker free to take the work yet
    finally:
        if flight:
            client.cancel(list(flight), force=True)
