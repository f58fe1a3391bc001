"""Per-run seeds derived from one master seed, so a run's draws depend on its index alone.

A run's seed sequence is the master's child keyed by the run's replicate index
(``SeedSequence(master, spawn_key=(index,))``, what ``SeedSequence(master).spawn`` hands out
in order), so results do not depend on which worker ran what, in which order, or how many
workers there were.
"""
from __future__ import annotations

import numpy as np

__all__ = ["run_rng", "run_seed"]


def _child(master: int, index: int) -> np.random.SeedSequence:
    if master < 0 or index < 0:
        raise ValueError("seeds and run indices are non-negative integers")
    return np.random.SeedSequence(master, spawn_key=(index,))


def run_seed(master: int, index: int) -> int:
    """The run's own integer seed (63 bits): the backtest's seed and the latency jitter's."""
    return int(_child(master, index).generate_state(2, np.uint32).view(np.uint64)[0] >> 1)


def run_rng(master: int, index: int) -> np.random.Generator:
    """The generator the run's scenario is drawn from (independent of ``run_seed``'s stream)."""
    return np.random.default_rng(_child(master, index).spawn(1)[0])
