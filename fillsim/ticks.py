"""Prices to integer ticks at the edge, rounding halves away from zero as C and hftbacktest do,
and the size limit every input quantity is held to."""
import math

import numpy as np

from .types import BUY, BUY_EVENT, SELL, SELL_EVENT

__all__ = ["MAX_LADDER", "MAX_LOTS", "MAX_TICK", "snapshot_levels", "to_tick", "to_ticks"]

#: Largest |tick| accepted: beyond 2**52 a float price no longer names a unique tick.
MAX_TICK = 2**52
#: Sizes must be under 2**53 lots: beyond that a float size no longer names a whole lot count
#: (and the C engine's lot counts would leave int64).
MAX_LOTS = 2**53
#: Widest price range one side of a book may span, in ticks: the C engine keeps each side as an
#: array by tick (1 GiB at this width); a level that would widen it further is a ValueError.
MAX_LADDER = 2**27


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


def snapshot_levels(snap, tick_size: float, lot_size: float):
    """A snapshot's rows as (sides int8: +1 bid, -1 ask, 0 neither; ticks; sizes).

    Raises ValueError naming the first row with a non-finite or absurd price, or a size that is
    not finite, is negative or is 2**53 lots or more (the check event rows get).
    """
    qty = np.asarray(snap["qty"], dtype=np.float64)
    bad = ~((qty >= 0.0) & (qty / lot_size < MAX_LOTS))
    x = np.asarray(snap["px"], dtype=np.float64) / tick_size
    bad |= ~(np.abs(x) < MAX_TICK)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"snapshot row {i}: price {float(snap['px'][i])!r} or size {float(qty[i])!r} "
                         "is unusable (sizes: >= 0, under 2**53 lots)")
    ev = snap["ev"]
    sides = np.where(ev & BUY_EVENT, BUY, np.where(ev & SELL_EVENT, SELL, 0)).astype(np.int8)
    return sides, to_ticks(snap["px"], tick_size), np.ascontiguousarray(qty)
