"""Prices to integer ticks at the edge, rounding halves away from zero as C and hftbacktest do."""
import math

import numpy as np

__all__ = ["MAX_TICK", "to_tick", "to_ticks"]

#: Largest |tick| accepted: beyond 2**52 a float price no longer names a unique tick.
MAX_TICK = 2**52


def to_tick(px: float, tick_size: float) -> int:
    """One price to ticks. Raises ValueError for a non-finite or absurdly large price."""
    x = float(px) / tick_size
    if not math.isfinite(x) or abs(x) >= MAX_TICK:
        raise ValueError(f"price {px!r} is not a usable price at tick size {tick_size}")
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def to_ticks(px, tick_size: float) -> np.ndarray:
    """Many prices to ticks (int64). Raises ValueError for a non-finite or absurdly large price."""
    x = np.asarray(px, dtype=np.float64) / tick_size
    if x.size and not (np.isfinite(x).all() and np.abs(x).max() < MAX_TICK):
        raise ValueError("prices must be finite and within 2**52 ticks")
    return np.where(x >= 0, np.floor(x + 0.5), -np.floor(-x + 0.5)).astype(np.int64)
