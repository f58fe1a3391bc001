"""A passive market maker: one bid and one ask at or inside the touch, skewed by inventory.

Every ``interval_ns`` of market time it works out where to quote: ``inside`` ticks inside
the touch (0 joins it, never crossing the spread), both prices shifted down by ``skew`` ticks
per contract held long (up when short), so inventory leans toward flat. A side whose order
already rests at the target price keeps it (and its queue place); otherwise it is cancelled
and replaced with a post-only (GTX) order. An order with a request in flight is left alone
until the answer arrives (hftbacktest's rule), so quotes never pile up. No side quotes a size
that could take the position beyond ``max_position`` contracts either way, counting what is
already working.
"""
from __future__ import annotations

import math

__all__ = ["market_maker"]

_INVALID_MIN, _INVALID_MAX = -(2**63), 2**63 - 1  # an empty side's best tick


def market_maker(bt, *, interval_ns: int = 100_000_000, qty: float = 1, inside: int = 0,
                 skew: float = 0.0, max_position: float = 10, asset: int = 0) -> None:
    """Quote ``qty`` a side on ``bt.asset(asset)`` until the data ends.

    Parameters
    ----------
    interval_ns : market time between decisions.
    qty : size of each quote (whole lots).
    inside : ticks inside the touch (0 = join the best bid/ask); capped so bid < ask.
    skew : ticks the quotes move against the position, per contract held.
    max_position : the position limit, in contracts, on either side.
    asset : which asset of the backtest to quote.
    """
    if interval_ns <= 0 or qty <= 0 or inside < 0 or max_position < 0:
        raise ValueError("interval_ns and qty must be positive, inside and max_position >= 0")
    view = bt.asset(asset)
    tick = view.tick_size
    while bt.elapse(interval_ns):
        bid, ask = view.best_bid_tick, view.best_ask_tick
        if bid == _INVALID_MIN or ask == _INVALID_MAX:
            view.cancel_all()
            continue
        pos = view.position
        shift = math.floor(skew * pos + 0.5)
        # passive only: inside the touch and after the skew, a quote never reaches the far side
        bid_tick = min(min(bid + inside, ask - 1) - shift, ask - 1)
        ask_tick = max(max(ask - inside, bid + 1) - shift, bid + 1)
        keep_bid = keep_ask = False
        work_bid = work_ask = 0.0
        for order in view.orders.values():
            if not order.live or order.pending == "cancel":
                continue  # done, or on its way out
            buy = order.side == 1
            if order.pending is not None or (order.price_tick == (bid_tick if buy else ask_tick)
                                             and not (keep_bid if buy else keep_ask)):
                # at the target (or a request in flight: left be until it is answered)
                if buy:
                    keep_bid, work_bid = True, work_bid + order.leaves
                else:
                    keep_ask, work_ask = True, work_ask + order.leaves
            else:
                bt.cancel(order.id)
        if not keep_bid and max_position - pos - work_bid >= qty:
            view.buy(bid_tick * tick, qty, tif="GTX")
        if not keep_ask and max_position + pos - work_ask >= qty:
            view.sell(ask_tick * tick, qty, tif="GTX")
