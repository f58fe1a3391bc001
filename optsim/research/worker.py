"""What a Dask worker runs for one Monte Carlo or sweep run.

The market data is read once per worker process and kept (keyed by path, size and mtime), so
a worker pays for loading a stream once, not once per run; a run's illiquidity transform is
applied to a copy.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from .data import MarketData, load_data
from .run import run_backtest
from .scenarios import thin

__all__ = ["RunFailed", "RunTask", "ThinnedData", "execute"]

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


class RunFailed(Exception):
    """A run's error as one line (any exception a backtest raises, made safe to ship back)."""


class ThinnedData(MarketData):
    """``data`` as a thinner market would have printed it (``scenarios.thin``), instrument by
    instrument as the run reads them; instrument ``k`` pulls quotes from its own seed."""

    def __init__(self, data: MarketData, liquidity: float, seed: int):
        super().__init__(data.source, data.instruments, data.manifest)
        self._base, self._liquidity, self._seed = data, liquidity, seed
        self._thin_snaps: dict[str, np.ndarray | None] = {}

    def events(self, name: str) -> np.ndarray:
        if name not in self._arrays:
            k = self.names.index(name)
            seed = int(np.random.SeedSequence(self._seed, spawn_key=(k,)).generate_state(1)[0])
            self._arrays[name] = thin(self._base.events(name), self._liquidity, seed,
                                      self.instrument(name).lot_size)
        return self._arrays[name]

    def snapshot(self, name: str) -> np.ndarray | None:
        if name not in self._thin_snaps:
            snap = self._base.snapshot(name)
            self._thin_snaps[name] = None if snap is None else thin(
                snap, self._liquidity, 0, self.instrument(name).lot_size, pull=False)
        return self._thin_snaps[name]

    def select(self, names) -> MarketData:
        return ThinnedData(self._base.select(names), self._liquidity, self._seed)


def scenario_data(data: MarketData, task: RunTask) -> MarketData:
    return ThinnedData(data, task.liquidity, task.thin_seed) if task.liquidity else data


def execute(task: RunTask) -> dict:
    """Run one backtest; return its summary and how long the run itself took (``wall_s``: the
    scenario's transform of the stream and the backtest, not loading the data or scheduling)."""
    data = cached_data(task.data)
    start = time.perf_counter()
    try:
        summary = run_backtest(scenario_data(data, task), task.strategy, task.params, config=task.config,
                               seed=task.seed)
    except Exception as exc:  # the strategy's or the input's: one picklable line back to the client
        raise RunFailed(f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]) from None
    return {"summary": summary, "wall_s": time.perf_counter() - start, "pid": os.getpid(), "ended": time.time()}
