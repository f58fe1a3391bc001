"""What a Dask worker runs for one Monte Carlo or sweep run.

The market data is read once per worker process and kept (keyed by path, size and mtime), so
a worker pays for loading a stream once, not once per run; a run's illiquidity transform is
applied to a copy.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from fillsim import Config

from .replay_run import MarketData, load_data, run_backtest
from .scenarios import thin

__all__ = ["RunTask", "execute"]

_cache: dict[tuple, MarketData] = {}


@dataclass(frozen=True)
class RunTask:
    """Everything one run needs, small enough to ship per task (the data travels as a path)."""

    run_id: str  # "<point>-<rep>", zero-padded, so the runs table sorts by it
    point: int  # index of the grid point (0 for a plain Monte Carlo)
    rep: int  # replicate index: the key of the run's seed
    seed: int  # run_seed(master, rep)
    data: str  # path of the market data, as the workers see it
    strategy: str
    params: dict = field(default_factory=dict)  # strategy parameters
    config: dict = field(default_factory=dict)  # fillsim Config fields for this run
    liquidity: float = 0.0  # illiquidity intensity; 0 = the stream as recorded
    thin_seed: int = 0


def cached_data(path: str) -> MarketData:
    """The data at ``path``, read once per process (re-read when the file changes)."""
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    data = _cache.get(key)
    if data is None:
        _cache.clear()  # one stream at a time: a worker's memory holds one copy
        data = _cache[key] = load_data(path)
    return data


def scenario_data(data: MarketData, task: RunTask) -> MarketData:
    if not task.liquidity:
        return data
    lot = Config.coerce(task.config).lot_size
    snap = None if data.snapshot is None else thin(data.snapshot, task.liquidity, 0, lot, pull=False)
    return MarketData(thin(data.events, task.liquidity, task.thin_seed, lot), snap)


def execute(task: RunTask) -> dict:
    """Run one backtest; return its summary and how long the run itself took (``wall_s``: the
    scenario's transform of the stream and the backtest, not loading the data or scheduling)."""
    data = cached_data(task.data)
    start = time.perf_counter()
    summary = run_backtest(scenario_data(data, task), task.strategy, task.params, config=task.config,
                           seed=task.seed)
    return {"summary": summary, "wall_s": time.perf_counter() - start, "pid": os.getpid()}
