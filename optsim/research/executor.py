"""Fan independent runs out over Dask distributed: a local cluster by default, or an existing
scheduler given its address. Same tasks, same results either way.

A run that raises, or whose worker dies under it, is submitted once more; after a second failure
it is reported as failed with its error and the others carry on. No more runs are in flight than
the cluster has threads, so a worker that dies takes down only the run it was running, never a
queued bystander. (The local cluster reports a lost worker at once; an external scheduler first
applies its own ``distributed.scheduler.allowed-failures``.)
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from contextlib import contextmanager

import dask
from distributed import Client, LocalCluster, as_completed

__all__ = ["RunError", "connect", "fan_out"]


class RunError(Exception):
    """A run that failed twice; ``str()`` is the error line recorded for it."""


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


def fan_out(client: Client, fn: Callable, tasks: Iterable, *, key: Callable[[object], str],
            on_done: Callable[[object, object | None, str | None], None]) -> None:
    """Run ``fn(task)`` for every task and call ``on_done(task, result, error)`` as each finishes,
    in completion order. Interrupting (Ctrl-C) cancels what is in flight."""
    waiting = iter(tasks)
    flight: dict = {}  # future -> (task, attempt)
    done = as_completed()

    def submit(task, attempt: int) -> None:
        fut = client.submit(fn, task, key=f"{key(task)}-{attempt}", pure=False)
        flight[fut] = (task, attempt)
        done.add(fut)

    def top_up() -> None:
        slots = max(1, sum(client.nthreads().values()))  # one run per worker thread; workers may come and go
        while len(flight) < slots:
            task = next(waiting, None)
            if task is None:
                return
            submit(task, 0)

    try:
        top_up()
        for fut in done:
            task, attempt = flight.pop(fut)
            finished = fut.status == "finished"
            result, error = (fut.result(), None) if finished else (None, fut.exception())
            fut.release()
            if not finished and attempt == 0:
                submit(task, 1)
            top_up()  # the worker's next run leaves before this one is recorded (a row is fsynced)
            if finished:
                on_done(task, result, None)
            elif attempt:
                on_done(task, None, describe(error))
    finally:
        if flight:
            client.cancel(list(flight), force=True)
