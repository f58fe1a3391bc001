"""Fan independent runs out over Dask distributed: a local cluster by default, or an existing
scheduler given its address. Same tasks, same results either way.

A run that raises, or whose worker dies under it, is submitted once more; after a second failure
it is reported as failed with its error and the others carry on. Short runs travel in batches
(``batch_size``) so scheduling costs a few percent of a run; a run that raises inside a batch fails
alone. No more tasks are in flight than the cluster has threads, so a worker that dies takes down
only the batch it was running, never a queued bystander. (The local cluster reports a lost worker at once; an external scheduler first
applies its own ``distributed.scheduler.allowed-failures``.)
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from contextlib import contextmanager

import dask
from distributed import Client, LocalCluster, as_completed

__all__ = ["batch_size", "connect", "fan_out", "run_batch"]


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
                          # one task per worker thread, none queued behind it: a worker that dies takes no bystander
                          "distributed.scheduler.worker-saturation": 1.0}):
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


def fan_out(client: Client, fn: Callable, tasks: Iterable, *, key: Callable[[object], str],
            on_done: Callable[[object, object | None, str | None], None]) -> None:
    """Run ``fn(task)`` for every task and call ``on_done(task, result, error)`` as each finishes,
    in completion order. Interrupting (Ctrl-C) cancels what is in flight."""
    waiting = list(tasks)[::-1]  # popped from the end: first in, first sent
    retries: list = []  # tasks whose first attempt failed: each goes again, alone
    flight: dict = {}  # future -> (tasks, attempt)
    done = as_completed()

    def submit(batch: list, attempt: int) -> None:
        fut = client.submit(run_batch, fn, batch, key=f"{key(batch[0])}-{attempt}", pure=False)
        flight[fut] = (batch, attempt)
        done.add(fut)

    def top_up() -> None:
        slots = max(1, sum(client.nthreads().values()))  # one task per worker thread; workers may come and go
        while len(flight) < slots and (retries or waiting):
            if retries:
                submit([retries.pop()], 1)
                continue
            size = batch_size(len(waiting), slots)
            submit([waiting.pop() for _ in range(min(size, len(waiting)))], 0)

    try:
        top_up()
        for fut in done:
            batch, attempt = flight.pop(fut)
            if fut.status == "finished":
                outcomes = fut.result()
            else:  # the worker died under the batch: every run in it gets its one retry
                outcomes = [(False, describe(fut.exception()))] * len(batch)
            fut.release()
            if attempt == 0:
                retries.extend(task for task, (ok, _) in zip(batch, outcomes) if not ok)
            top_up()  # the worker's next runs leave before these are recorded (a row is fsynced)
            for task, (ok, value) in zip(batch, outcomes):
                if ok:
                    on_done(task, value, None)
                elif attempt:
                    on_done(task, None, value)
    finally:
        if flight:
            client.cancel(list(flight), force=True)
