"""Fan independent runs out over Dask distributed: a local cluster by default, or an existing
scheduler given its address. Same tasks, same results either way.

A task that raises is retried once (``retries=1``); a worker lost under a task counts as one
failure too (the local scheduler allows one). After that the run is reported as failed with
its error and the others carry on.
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
    with dask.config.set({"distributed.scheduler.allowed-failures": 1,
                          "distributed.worker.daemon": False}):
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                          host="127.0.0.1", silence_logs=logging.ERROR) as cluster, \
                Client(cluster) as client:
            yield client


def describe(exc: BaseException) -> str:
    """One line for the runs table: the exception's type and message."""
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"[:500]


def fan_out(client: Client, fn: Callable, tasks: Iterable, *, key: Callable[[object], str],
            on_done: Callable[[object, object | None, str | None], None]) -> None:
    """Run ``fn(task)`` for every task and call ``on_done(task, result, error)`` as each finishes,
    in completion order. Interrupting (Ctrl-C) cancels what has not run yet."""
    futures = {}
    for task in tasks:
        futures[client.submit(fn, task, key=key(task), pure=False, retries=1)] = task
    pending = as_completed(futures)
    try:
        for fut in pending:
            task = futures.pop(fut)
            if fut.status == "finished":
                on_done(task, fut.result(), None)
            else:
                on_done(task, None, describe(fut.exception()))
            fut.release()
    finally:
        if futures:
            client.cancel(list(futures), force=True)
