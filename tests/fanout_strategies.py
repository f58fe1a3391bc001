"""Two small strategies for the Monte Carlo and sweep tests (``tests.fanout_strategies:NAME``).

``quote_touch`` joins the touch on both sides and re-quotes every ``interval_ns`` (its queue
position decides its fills); ``take`` crosses the spread with IOC orders of ``qty`` on
alternate sides (what the book shows decides its fills). ``boom`` raises when ``fail`` is true.
"""
from __future__ import annotations


def quote_touch(bt, interval_ns: int = 1_000_000, qty: float = 1):
    while bt.elapse(interval_ns):
        bt.cancel_all()
        if bt.best_bid == bt.best_bid and bt.best_ask == bt.best_ask:  # both sides shown (not NaN)
            bt.buy(bt.best_bid, qty, tif="GTX")
            bt.sell(bt.best_ask, qty, tif="GTX")


def take(bt, interval_ns: int = 1_000_000, qty: float = 20):
    side = 1
    while bt.elapse(interval_ns):
        if side > 0 and bt.best_ask == bt.best_ask:
            bt.buy(bt.best_ask, qty, tif="IOC")
        elif side < 0 and bt.best_bid == bt.best_bid:
            bt.sell(bt.best_bid, qty, tif="IOC")
        side = -side


def boom(bt, interval_ns: int = 1_000_000, fail: bool = False):
    while bt.elapse(interval_ns):
        if fail:
            raise RuntimeError("boom")
