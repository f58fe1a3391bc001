"""Seeded synthetic L2 streams and a re-quoting strategy, for tests, benchmarks and cross-checks.

The stream is one instrument's book: a random walk of the touch, level totals changing, trades
at the touch followed by the depth row of the level they hit. Rows carry EXCH and LOCAL flags
with ``local_ts = exch_ts + feed latency``; timestamps sit on a grid so bursts share a time and
the tie rules get exercised.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .types import (
    ACTION_DTYPE,
    BUY_EVENT,
    CANCEL,
    DEPTH_EVENT,
    DEPTH_SNAPSHOT_EVENT,
    EVENT_DTYPE,
    EXCH_EVENT,
    LOCAL_EVENT,
    SELL_EVENT,
    SUBMIT,
    TRADE_EVENT,
)

__all__ = ["StreamSpec", "requote_actions", "synth_stream"]


@dataclass(frozen=True)
class StreamSpec:
    n_events: int = 10_000
    seed: int = 7
    tick_size: float = 0.01
    start_tick: int = 2000  # initial best bid
    levels: int = 10  # book levels kept per side
    max_qty: int = 40
    mean_trade_qty: float = 6.0
    p_trade: float = 0.06
    p_improve: float = 0.15
    p_remove: float = 0.1
    mean_dt_ns: float = 20_000.0
    ts_quantum_ns: int = 10_000
    feed_latency_ns: int = 50_000
    t0: int = 1_700_000_000_000_000_000


def synth_stream(spec: StreamSpec = StreamSpec()):
    """Return ``(events, snapshot, touches)``.

    ``touches[i]`` is ``(best_bid_tick, best_ask_tick)`` after row ``i``, what a strategy
    watching the feed would see at ``events[i].local_ts``.
    """
    rng = np.random.default_rng(spec.seed)
    n = spec.n_events
    u = rng.random((n, 4))
    sizes = rng.integers(1, spec.max_qty + 1, size=(n, 2))
    trade_qty = rng.geometric(1.0 / spec.mean_trade_qty, size=n)
    gaps = rng.exponential(spec.mean_dt_ns, size=n)
    bids = {spec.start_tick - k: float(rng.integers(1, spec.max_qty + 1)) for k in range(spec.levels)}
    asks = {spec.start_tick + 2 + k: float(rng.integers(1, spec.max_qty + 1))
            for k in range(spec.levels)}
    snapshot = _rows([(EXCH_EVENT | LOCAL_EVENT | BUY_EVENT | DEPTH_SNAPSHOT_EVENT, t, q)
                      for t, q in sorted(bids.items(), reverse=True)]
                     + [(EXCH_EVENT | LOCAL_EVENT | SELL_EVENT | DEPTH_SNAPSHOT_EVENT, t, q)
                        for t, q in sorted(asks.items())], spec, spec.t0 - 1, 0)
    rows, touches, stamps = [], [], []
    t = float(spec.t0)
    flags = EXCH_EVENT | LOCAL_EVENT
    while len(rows) < n:
        i = len(rows)
        t += gaps[i]
        ts = int(t) // spec.ts_quantum_ns * spec.ts_quantum_ns
        best_bid, best_ask = max(bids), min(asks)
        buy = u[i, 1] < 0.5
        book, side_flag = (bids, BUY_EVENT) if buy else (asks, SELL_EVENT)
        best = best_bid if buy else best_ask
        if u[i, 0] < spec.p_trade:
            # the aggressor takes from the other side's touch, then that level's new total prints
            hit, hit_flag = (asks, SELL_EVENT) if buy else (bids, BUY_EVENT)
            hit_tick = best_ask if buy else best_bid
            qty = float(min(trade_qty[i], hit[hit_tick]))
            new = []
            new.append((flags | (BUY_EVENT if buy else SELL_EVENT) | TRADE_EVENT, hit_tick, qty))
            left = hit[hit_tick] - qty
            new.append((flags | hit_flag | DEPTH_EVENT, hit_tick, left))
            _set(hit, hit_tick, left)
            if not hit:  # never leave a side empty: refill one tick further out
                refill = hit_tick + (1 if buy else -1)
                hit[refill] = float(sizes[i, 1])
                new.append((flags | hit_flag | DEPTH_EVENT, refill, hit[refill]))
        elif u[i, 0] < spec.p_trade + spec.p_improve and best_ask - best_bid > 1:
            tick = best + (1 if buy else -1)
            book[tick] = float(sizes[i, 0])
            new = [(flags | side_flag | DEPTH_EVENT, tick, book[tick])]
        else:
            depth = int(u[i, 2] * spec.levels)
            tick = best - depth if buy else best + depth
            qty = 0.0 if (u[i, 3] < spec.p_remove and len(book) > 1) else float(sizes[i, 0])
            _set(book, tick, qty)
            new = [(flags | side_flag | DEPTH_EVENT, tick, qty)]
        _trim(bids, spec.levels, lowest_first=True)
        _trim(asks, spec.levels, lowest_first=False)
        for row in new[: n - len(rows)]:
            rows.append(row)
            stamps.append(ts)
            touches.append((max(bids), min(asks)))
    events = _rows(rows, spec, np.array(stamps, dtype=np.int64), spec.feed_latency_ns)
    return events, snapshot, np.array(touches, dtype=np.int64)


def requote_actions(events, touches, every: int = 100, levels: int = 2, qty: float = 1.0,
                    tick_size: float = 0.01, first_order_id: int = 1):
    """A market maker re-quoting every ``every`` rows: cancel the last quotes, then quote
    ``levels`` prices a side from the touch it sees (GTC limits of ``qty``)."""
    out, live, oid = [], [], first_order_id
    for i in range(every - 1, len(events), every):
        ts = int(events["local_ts"][i])
        for order_id in live:
            out.append((ts, CANCEL, order_id, 0, 0.0, 0.0, 0, 0))
        live = []
        best_bid, best_ask = (int(x) for x in touches[i])
        for k in range(levels):
            for side, tick in ((1, best_bid - k), (-1, best_ask + k)):
                out.append((ts, SUBMIT, oid, side, tick * tick_size, qty, 0, 0))
                live.append(oid)
                oid += 1
    return np.array(out, dtype=ACTION_DTYPE)


def _set(book, tick, qty):
    if qty > 0:
        book[tick] = qty
    else:
        book.pop(tick, None)


def _trim(book, levels, lowest_first):
    """Forget levels beyond the kept depth (the feed stops reporting them)."""
    while len(book) > levels:
        del book[min(book) if lowest_first else max(book)]


def _rows(rows, spec, exch_ts, feed_latency_ns):
    out = np.zeros(len(rows), dtype=EVENT_DTYPE)
    if rows:
        ev, tick, qty = zip(*rows)
        out["ev"] = ev
        out["px"] = np.array(tick, dtype=np.float64) * spec.tick_size
        out["ival"] = tick
        out["qty"] = qty
    out["exch_ts"] = exch_ts
    out["local_ts"] = out["exch_ts"] + feed_latency_ns
    return out
