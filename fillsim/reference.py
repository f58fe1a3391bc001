"""Pure-Python reference engine: the fill rules written for reading, not for speed.

``fillsim._engine`` implements the same class in Cython; the test suite holds the two to
identical output. Prices are integer ticks, times int64 ns, quantities floats in the feed's
units. Float steps are written in the same order as the C code (and as hftbacktest's), and
the helpers below give Python IEEE semantics where it would raise instead (0/0, pow and log
of negatives), so both engines compute bit-identical queue positions.

Exchange-side clock: market rows are applied at ``exch_ts``; a request arrives at
``sent + entry latency`` and is handled after every market row with ``exch_ts <=`` its arrival
(hftbacktest's order: exchange data before exchange order receipt on equal timestamps).
Every report reaches us at ``exch_ts + response latency``.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np

from .codes import INVALID_MAX, INVALID_MIN, NO_TS, WHOLE_SIDE, OrderStatus, ReportKind
from .ticks import MAX_LADDER, MAX_LOTS, MAX_TICK
from .types import (
    BUY,
    BUY_EVENT,
    CANCEL,
    DEPTH_CLEAR_EVENT,
    DEPTH_EVENT,
    DEPTH_SNAPSHOT_EVENT,
    EXCH_EVENT,
    FILL_DTYPE,
    LOCAL_EVENT,
    FOK,
    GTX,
    IOC,
    MARKET,
    MODIFY,
    SELL,
    SELL_EVENT,
    SUBMIT,
    TRADE_EVENT,
)

__all__ = ["Engine"]

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_RESPONSE_STREAM = 0x632BE59BD9B4E019  # offsets the response RNG stream from the entry one
_TWO_POW_M53 = 1.0 / 9007199254740992.0
_PENDING, _NEW, _PARTIAL, _FILLED = (OrderStatus.PENDING, OrderStatus.NEW,
                                     OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED)
_CANCELED, _EXPIRED, _REJECTED = OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.REJECTED


# ---- C float semantics -------------------------------------------------------------------

def _round(x: float) -> int:
    """C ``round``: halves away from zero (Python's ``round`` goes to even)."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def _fmin(a: float, b: float) -> float:
    """C ``fmin`` / Rust ``f64::min``: a NaN argument loses."""
    if math.isnan(a):
        return b
    if math.isnan(b):
        return a
    return min(b, a)  # b on a tie, as C's ``a if a < b else b``


def _div(a: float, b: float) -> float:
    if b != 0.0:
        return a / b
    if a == 0.0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _pow(x: float, n: float) -> float:
    try:
        return math.pow(x, n)
    except ValueError:
        return math.nan
    except OverflowError:
        return math.inf


def _log(x: float) -> float:
    if x > 0.0:
        return math.log(x)
    return -math.inf if x == 0.0 else math.nan


# ---- latency ------------------------------------------------------------------------------

class _Latency:
    """One seeded latency stream (splitmix64); the C engine draws the same numbers."""

    __slots__ = ("kind", "mean", "sigma", "state", "table")

    def __init__(self, mean, kind, sigma, seed, table):
        self.mean, self.kind, self.sigma, self.table = mean, kind, sigma, table
        self.state = seed & _MASK64

    def _next(self) -> int:
        self.state = (self.state + _GOLDEN) & _MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return z ^ (z >> 31)

    def _normal(self) -> float:
        u1 = float((self._next() >> 11) + 1) * _TWO_POW_M53
        u2 = float(self._next() >> 11) * _TWO_POW_M53
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)

    def draw(self) -> int:
        if self.kind == 0:
            return self.mean
        if self.kind == 3:
            return self.table[self._next() % len(self.table)]
        z = self._normal()
        if self.kind == 1:
            x = self.mean + self.sigma * z
        else:
            x = self.mean * math.exp(self.sigma * z - 0.5 * self.sigma * self.sigma)
        return math.floor(x) if x > 0.0 else 0


# ---- state ---------------------------------------------------------------------------------

class _Order:
    __slots__ = (
        "book",
        "cum_trade",
        "front",
        "inflight",
        "leaves",
        "ord_type",
        "order_id",
        "qty",
        "released",
        "side",
        "status",
        "tick",
        "tif",
    )

    def __init__(self, order_id, book, side, tick, qty, tif, ord_type):
        self.order_id, self.book, self.side, self.tick = order_id, book, side, tick
        self.qty = self.leaves = qty
        self.tif, self.ord_type = tif, ord_type
        self.status = _PENDING
        self.front = 0.0  # queue ahead of us at our price
        self.cum_trade = 0.0  # traded at our price since the last depth row (prob models)
        self.inflight = 0  # requests naming this order not yet arrived (slot reuse waits on it)
        self.released = 0  # 1: the caller is done with it; 2: its slot is on the free list


class _Book:
    """One instrument's exchange book, kept the way hftbacktest's HashMapMarketDepth keeps it."""

    __slots__ = ("ask", "ask_span", "best_ask", "best_bid", "bid", "bid_span", "high_ask", "low_bid",
                 "resting")

    def __init__(self):
        self.bid: dict[int, float] = {}
        self.ask: dict[int, float] = {}
        self.bid_span, self.ask_span = [0, 0], [0, 0]  # the C engine's ladder per side: [base, size]
        self.best_bid, self.best_ask = INVALID_MIN, INVALID_MAX
        self.low_bid, self.high_ask = INVALID_MAX, INVALID_MIN
        self.resting: list[int] = []  # our live order slots, in arrival order


def _reach(span, tick, qty):
    """Follow the C engine's ladder of one side ([base, size], grown as _set_level grows it) and
    raise its error when a level would make it span more than MAX_LADDER ticks."""
    base, size = span
    if qty == 0.0 or 0 <= tick - base < size:
        return
    lo, hi = (tick, tick) if size == 0 else (min(tick, base), max(tick, base + size - 1))
    width = hi - lo + 1
    if width > MAX_LADDER:
        raise ValueError(f"price range of {width} ticks on one side is too wide for the book")
    size = min(max(width * 2, 1024), MAX_LADDER)
    span[:] = [lo - (size - width) // 2, size]


def _check_row(i, ev, px, qty, tick_size, lot_size):
    """A clear row's size is unused and a non-finite price on it clears the whole side
    (hftbacktest); every other row needs a usable price and size."""
    if ev & 0xFF == DEPTH_CLEAR_EVENT:
        ok = not math.isfinite(px) or abs(px / tick_size) < MAX_TICK
    else:
        ok = abs(px / tick_size) < MAX_TICK and 0.0 <= qty and qty / lot_size < MAX_LOTS
    if not ok:
        raise ValueError(f"event row {i}: price {px!r} or size {qty!r} is unusable "
                         "(sizes: >= 0, under 2**53 lots)")


def _row_tick(px, tick_size):
    """A checked row's price in ticks; WHOLE_SIDE for a clear row without a finite price."""
    return _round(px / tick_size) if math.isfinite(px) else WHOLE_SIDE


def _level_below(levels, start, end):
    """Highest tick in [end, start) with quantity, else INVALID_MIN."""
    for t in range(start - 1, end - 1, -1):
        if levels.get(t, 0.0) > 0.0:
            return t
    return INVALID_MIN


def _level_above(levels, start, end):
    """Lowest tick in (start, end] with quantity, else INVALID_MAX."""
    for t in range(start + 1, end + 1):
        if levels.get(t, 0.0) > 0.0:
            return t
    return INVALID_MAX


class Engine:
    """The exchange simulator: books, our orders, requests in flight, reports on their way back.

    Constructed from ``Config.engine_params()``. The online face queues market rows and
    requests, and ``advance(ts)`` applies them in time order; ``replay`` runs a whole stream.
    """

    def __init__(self, tick_size, lot_size, entry_ns, response_ns, queue_kind, queue_n,
                 partial_fills, jitter_kind, jitter_sigma, jitter_seed, table_entry,
                 table_response):
        self.tick_size, self.lot_size = tick_size, lot_size
        self.queue_kind, self.queue_n, self.partial = queue_kind, queue_n, bool(partial_fills)
        self.entry = _Latency(entry_ns, jitter_kind, jitter_sigma, jitter_seed, tuple(table_entry))
        self.response = _Latency(response_ns, jitter_kind, jitter_sigma,
                                 jitter_seed + _RESPONSE_STREAM, tuple(table_response))
        self.books: list[_Book] = []
        self.orders: list[_Order] = []
        self.lbooks: list[_Book] = []  # the local feed's view of each book (backtests)
        self.free_slots: list[int] = []  # released order slots, reused by submit
        self.market = deque()  # (exch_ts, book, type, side, tick, qty) not yet applied
        self.requests = deque()  # (arrival_ts, kind, slot, order_id, prev_slot, tick, qty)
        self.reports = deque()  # report tuples not yet delivered, in local_ts order
        self.last_market_ts = self.last_arrival = self.last_local = NO_TS

    # ---- online face -----------------------------------------------------------------------

    def add_book(self) -> int:
        self.books.append(_Book())
        self.lbooks.append(_Book())
        return len(self.books) - 1

    def market_event(self, ts, book, ev_type, side, tick, qty):
        """Queue a market row; a row older than the last one queued is applied at that time."""
        self.last_market_ts = ts = max(ts, self.last_market_ts)
        self.market.append((ts, book, ev_type, side, tick, qty))

    def submit(self, ts, order_id, book, side, tick, qty, tif, ord_type, prev_slot) -> int:
        """Send a new order; returns its slot. ``prev_slot``: the last order with this id, or -1."""
        order = _Order(order_id, book, side, tick, qty, tif, ord_type)
        if self.free_slots:
            slot = self.free_slots.pop()
            self.orders[slot] = order
        else:
            self.orders.append(order)
            slot = len(self.orders) - 1
        self._send(ts, SUBMIT, slot, order_id, prev_slot, tick, qty)
        return slot

    def cancel(self, ts, slot, order_id):
        self._send(ts, CANCEL, slot, order_id, -1, 0, 0.0)

    def modify(self, ts, slot, order_id, tick, qty):
        self._send(ts, MODIFY, slot, order_id, -1, tick, qty)

    def advance(self, ts) -> list:
        """Apply everything up to ``ts``; return the reports that have reached us by then.

        Market rows queued later with an older time are applied at ``ts``: the past is done.
        """
        self._run_until(ts)
        self.last_market_ts = max(self.last_market_ts, ts)
        return self.delivered(ts)

    def delivered(self, ts) -> list:
        """Pop the reports that have reached us by ``ts`` (nothing more is applied)."""
        out = []
        while self.reports and self.reports[0][10] <= ts:
            out.append(self.reports.popleft())
        return out

    def order_info(self, slot):
        """(status, tick, qty, leaves, queue ahead) of one order."""
        o = self.orders[slot]
        return int(o.status), o.tick, o.qty, o.leaves, o.front

    def touch(self, book):
        b = self.books[book]
        return b.best_bid, b.bid.get(b.best_bid, 0.0), b.best_ask, b.ask.get(b.best_ask, 0.0)

    def apply_snapshot(self, book, sides, ticks, qtys, local=False):
        """Replace a book (the local feed's if ``local``) by snapshot levels (side +1 bid, -1 ask)."""
        b = self.lbooks[book] if local else self.books[book]
        b.bid.clear()
        b.ask.clear()
        b.best_bid, b.best_ask = INVALID_MIN, INVALID_MAX
        b.low_bid, b.high_ask = INVALID_MAX, INVALID_MIN
        for side, tick, qty in zip(sides, ticks, qtys):
            side, tick, qty = int(side), int(tick), float(qty)
            if side == BUY:
                b.best_bid, b.low_bid = max(b.best_bid, tick), min(b.low_bid, tick)
                _reach(b.bid_span, tick, qty)
                b.bid[tick] = qty
            elif side == SELL:
                b.best_ask, b.high_ask = min(b.best_ask, tick), max(b.high_ask, tick)
                _reach(b.ask_span, tick, qty)
                b.ask[tick] = qty

    # ---- backtest face: one stream per book, the exchange and the local feed side by side --

    def attach(self, book, events):
        """Give ``book`` its stream (an EVENT_DTYPE array) for ``step``."""
        self.stream, self.stream_book = events, book
        self.cursors = (0, 0)
        self.stream_end = INVALID_MAX  # set by end_stream: until then every request counts

    def rows_left(self) -> bool:
        """Whether the attached stream has rows not yet applied (exchange or feed)."""
        return self.cursors[0] < len(self.stream) or self.cursors[1] < len(self.stream)

    def end_stream(self, until):
        """Every stream of the backtest is over at ``until``: from now on the exchange applies
        only the requests sent so far (those arriving by the later of ``until`` and the last
        arrival), so a strategy that keeps sending cannot keep the backtest alive."""
        self.stream_end = max(until, self.last_arrival)

    def step(self, until):
        """Advance the attached stream's book to ``until``; False once rows and replies are done
        (replies that reach us by ``until`` count as done; after ``end_stream`` only the
        requests sent before it count, and later ones are never applied).

        The exchange side applies rows with ``exch_ts <= until`` and the requests that arrive
        by then (a request before a row only if it arrives strictly earlier, as ``replay``);
        the local side applies the feed's rows with ``local_ts <= until`` to the local book.
        Reports are collected with ``advance(until)`` afterwards.
        """
        events, book = self.stream, self.stream_book
        exch_pos, local_pos = self.cursors
        tick_size, n = self.tick_size, len(events)
        lb = self.lbooks[book]
        while exch_pos < n:
            ev, ts, _, px, qty = events[exch_pos].tolist()[:5]
            if not ev & EXCH_EVENT:
                exch_pos += 1
                continue
            if ts > until:
                break
            _check_row(exch_pos, ev, px, qty, tick_size, self.lot_size)
            while self.requests and self.requests[0][0] < ts:
                self._arrive(self.requests.popleft())
            side = BUY if ev & BUY_EVENT else (SELL if ev & SELL_EVENT else 0)
            self._apply_market(ts, book, ev & 0xFF, side, _row_tick(px, tick_size), qty)
            exch_pos += 1
        while local_pos < n:
            ev, _, ts, px, qty = events[local_pos].tolist()[:5]
            if not ev & LOCAL_EVENT:
                local_pos += 1
                continue
            if ts > until:
                break
            _check_row(local_pos, ev, px, qty, tick_size, self.lot_size)
            side = BUY if ev & BUY_EVENT else (SELL if ev & SELL_EVENT else 0)
            self._local_market(lb, ev & 0xFF, side, _row_tick(px, tick_size), qty)
            local_pos += 1
        self.cursors = (exch_pos, local_pos)
        self._run_until(min(until, self.stream_end))
        return (exch_pos < n or local_pos < n
                or bool(self.requests and self.requests[0][0] <= self.stream_end)
                or bool(self.reports and self.reports[-1][10] > until))

    def _local_market(self, b, ev_type, side, tick, qty):
        """A feed row on the local book: depth and clears only (trades move no level here)."""
        if ev_type == DEPTH_EVENT or ev_type == DEPTH_SNAPSHOT_EVENT:
            if side == BUY:
                self._set_bid(b, tick, qty)
            elif side == SELL:
                self._set_ask(b, tick, qty)
        elif ev_type == DEPTH_CLEAR_EVENT:
            self._clear(b, side, tick)

    def local_touch(self, book):
        """(best bid tick, its qty, best ask tick, its qty) of the local feed's book."""
        b = self.lbooks[book]
        return b.best_bid, b.bid.get(b.best_bid, 0.0), b.best_ask, b.ask.get(b.best_ask, 0.0)

    def local_depth(self, book, side, levels):
        """Up to ``levels`` (tick, qty) of one side of the local book, best first."""
        b = self.lbooks[book]
        if side == BUY and b.best_bid != INVALID_MIN:
            ticks, levels_of = range(b.best_bid, b.low_bid - 1, -1), b.bid
        elif side == SELL and b.best_ask != INVALID_MAX:
            ticks, levels_of = range(b.best_ask, b.high_ask + 1), b.ask
        else:
            return []
        out = []
        for t in ticks:
            if len(out) >= levels:
                break
            q = levels_of.get(t, 0.0)
            if q > 0.0:
                out.append((t, q))
        return out

    def release(self, slot):
        """The caller is done with a finished order: its slot is reused once no request names it."""
        if slot < 0:
            return
        self.orders[slot].released = 1
        self._free_slot(slot)

    def _free_slot(self, slot):
        o = self.orders[slot]
        if o.released == 1 and o.inflight == 0 and o.status >= _FILLED:
            o.released = 2
            self.free_slots.append(slot)

    # ---- replay face -----------------------------------------------------------------------

    def replay(self, events, act_ts, act_kind, act_slot, act_oid, act_prev, act_side, act_tick,
               act_qty, act_tif, act_type):
        """Run one instrument's stream (book 0) with the actions sorted by send time.

        Returns every fill as a FILL_DTYPE array, in the order they happened.
        """
        if not self.books:
            self.add_book()
        tick_size = self.tick_size
        n_act = len(act_ts)
        j = 0
        for i, row in enumerate(events.tolist()):
            ev = row[0]
            if not ev & EXCH_EVENT:
                continue
            ts, px, qty = row[1], row[3], row[4]
            _check_row(i, ev, px, qty, tick_size, self.lot_size)
            while j < n_act or self.requests:
                if not self.requests:
                    self._send_action(j, act_ts, act_kind, act_slot, act_oid, act_prev, act_side,
                                      act_tick, act_qty, act_tif, act_type)
                    j += 1
                if self.requests[0][0] >= ts:
                    break
                self._arrive(self.requests.popleft())
            side = BUY if ev & BUY_EVENT else (SELL if ev & SELL_EVENT else 0)
            self._apply_market(ts, 0, ev & 0xFF, side, _row_tick(px, tick_size), qty)
        while j < n_act:
            self._send_action(j, act_ts, act_kind, act_slot, act_oid, act_prev, act_side,
                              act_tick, act_qty, act_tif, act_type)
            j += 1
        while self.requests:
            self._arrive(self.requests.popleft())
        fills = [r for r in self.reports if r[0] == ReportKind.FILL]
        out = np.zeros(len(fills), dtype=FILL_DTYPE)
        for i, r in enumerate(fills):
            out[i] = (r[1], r[3], r[4] * tick_size, r[5] * tick_size, r[6], r[9], r[10], r[8])
        return out

    def _send_action(self, j, act_ts, act_kind, act_slot, act_oid, act_prev, act_side, act_tick,
                     act_qty, act_tif, act_type):
        kind, ts = int(act_kind[j]), int(act_ts[j])
        if kind == SUBMIT:
            self.submit(ts, int(act_oid[j]), 0, int(act_side[j]), int(act_tick[j]),
                        float(act_qty[j]), int(act_tif[j]), int(act_type[j]), int(act_prev[j]))
        else:
            self._send(ts, kind, int(act_slot[j]), int(act_oid[j]), -1, int(act_tick[j]),
                       float(act_qty[j]))

    # ---- the clock -------------------------------------------------------------------------

    def _send(self, ts, kind, slot, order_id, prev_slot, tick, qty):
        """A request leaves us at ``ts``; it never overtakes the one sent before it."""
        arrival = max(min(ts + self.entry.draw(), INVALID_MAX), self.last_arrival)  # C's _later
        self.last_arrival = arrival
        if slot >= 0:
            self.orders[slot].inflight += 1
        self.requests.append((arrival, kind, slot, order_id, prev_slot, tick, qty))

    def _run_until(self, ts):
        market, requests = self.market, self.requests
        while True:
            m_ts = market[0][0] if market else None
            r_ts = requests[0][0] if requests else None
            if m_ts is not None and m_ts <= ts and (r_ts is None or m_ts <= r_ts):
                self._apply_market(*market.popleft())
            elif r_ts is not None and r_ts <= ts:
                self._arrive(requests.popleft())
            else:
                return

    def _report(self, kind, o, order_id, tick, exec_tick, exec_qty, leaves, maker, ts):
        local = max(min(ts + self.response.draw(), INVALID_MAX), self.last_local)
        self.last_local = local
        book, side = (o.book, o.side) if o is not None else (-1, 0)
        self.reports.append((int(kind), order_id, book, side, tick, exec_tick, exec_qty, leaves,
                             maker, ts, local))

    # ---- market rows -----------------------------------------------------------------------

    def _apply_market(self, ts, book, ev_type, side, tick, qty):
        b = self.books[book]
        if ev_type == DEPTH_EVENT or ev_type == DEPTH_SNAPSHOT_EVENT:
            if side == BUY:
                self._bid_depth(b, tick, qty, ts)
            elif side == SELL:
                self._ask_depth(b, tick, qty, ts)
        elif ev_type == TRADE_EVENT:
            if side != 0:
                self._trade(b, side, tick, qty, ts)
        elif ev_type == DEPTH_CLEAR_EVENT:
            self._clear(b, side, tick)

    def _bid_depth(self, b, tick, qty, ts):
        prev_best = b.best_bid
        prev_qty = self._set_bid(b, tick, qty)
        self._depth_changed(b, BUY, tick, prev_qty, qty)
        if b.best_bid > prev_best:
            self._crossed(b, SELL, prev_best, b.best_bid, ts)

    def _set_bid(self, b, tick, qty):
        """A bid level's new total, keeping best/low as HashMapMarketDepth does; the old total."""
        prev_qty = b.bid.get(tick, 0.0)
        if _round(qty / self.lot_size) > 0:
            _reach(b.bid_span, tick, qty)
            b.bid[tick] = qty
            if tick > b.best_bid:
                b.best_bid = tick
                if b.best_bid >= b.best_ask:
                    b.best_ask = _level_above(b.ask, b.best_bid, b.high_ask)
            b.low_bid = min(b.low_bid, tick)
        else:
            b.bid.pop(tick, None)
            if tick == b.best_bid:
                b.best_bid = _level_below(b.bid, b.best_bid, b.low_bid)
                if b.best_bid == INVALID_MIN:
                    b.low_bid = INVALID_MAX
        return prev_qty

    def _ask_depth(self, b, tick, qty, ts):
        prev_best = b.best_ask
        prev_qty = self._set_ask(b, tick, qty)
        self._depth_changed(b, SELL, tick, prev_qty, qty)
        if b.best_ask < prev_best:
            self._crossed(b, BUY, prev_best, b.best_ask, ts)

    def _set_ask(self, b, tick, qty):
        """An ask level's new total (the mirror of _set_bid); the old total."""
        prev_qty = b.ask.get(tick, 0.0)
        if _round(qty / self.lot_size) > 0:
            _reach(b.ask_span, tick, qty)
            b.ask[tick] = qty
            if tick < b.best_ask:
                b.best_ask = tick
                if b.best_bid >= b.best_ask:
                    b.best_bid = _level_below(b.bid, b.best_ask, b.low_bid)
            b.high_ask = max(b.high_ask, tick)
        else:
            b.ask.pop(tick, None)
            if tick == b.best_ask:
                b.best_ask = _level_above(b.ask, b.best_ask, b.high_ask)
                if b.best_ask == INVALID_MAX:
                    b.high_ask = INVALID_MIN
        return prev_qty

    def _clear(self, b, side, upto):
        """A clear row, as hftbacktest's HashMapMarketDepth applies it.

        Bids from ``upto`` up to the best bid go (asks from the best ask up to ``upto``); levels
        beyond the best (stale after a crossing) stay. The new best is looked for from one tick
        further than hftbacktest's scan starts (``upto - 2`` for bids, ``upto + 2`` for asks),
        so a level right next to ``upto`` is skipped until a depth row moves the best again.
        ``upto`` WHOLE_SIDE (a non-finite price) empties the side; side 0 empties the book.
        """
        if side == BUY:
            if upto == WHOLE_SIDE:
                b.bid.clear()
            elif b.best_bid != INVALID_MIN:
                for t in [t for t in b.bid if upto <= t <= b.best_bid]:
                    del b.bid[t]
            below = [t for t, q in b.bid.items() if b.low_bid <= t <= upto - 2 and q > 0.0]
            b.best_bid = max(below) if below else INVALID_MIN
            if b.best_bid == INVALID_MIN:
                b.low_bid = INVALID_MAX
        elif side == SELL:
            if upto == WHOLE_SIDE:
                b.ask.clear()
            elif b.best_ask != INVALID_MAX:
                for t in [t for t in b.ask if b.best_ask <= t <= upto]:
                    del b.ask[t]
            above = [t for t, q in b.ask.items() if upto + 2 <= t <= b.high_ask and q > 0.0]
            b.best_ask = min(above) if above else INVALID_MAX
            if b.best_ask == INVALID_MAX:
                b.high_ask = INVALID_MIN
        else:
            b.bid.clear()
            b.ask.clear()
            b.best_bid, b.best_ask = INVALID_MIN, INVALID_MAX
            b.low_bid, b.high_ask = INVALID_MAX, INVALID_MIN

    def _depth_changed(self, b, side, tick, prev_qty, new_qty):
        for slot in b.resting:
            o = self.orders[slot]
            if o.side == side and o.tick == tick:
                self._queue_depth(o, prev_qty, new_qty)

    def _crossed(self, b, side, prev, best, ts):
        """The opposite best moved from ``prev`` onto or through resting orders of ``side``: they
        fill whole. As hftbacktest, only orders between the two bests count (all of them when
        the side was empty or the move is wider than our order count)."""
        if side == SELL:
            scan_all = prev == INVALID_MIN or len(b.resting) < best - prev
            lo, hi = prev + 1, best
        else:
            scan_all = prev == INVALID_MAX or len(b.resting) < prev - best
            lo, hi = best, prev - 1
        for slot in b.resting:
            o = self.orders[slot]
            if o.side != side:
                continue
            if scan_all and (o.tick <= best if side == SELL else o.tick >= best) or (
                    not scan_all and lo <= o.tick <= hi):
                self._fill(o, o.tick, o.leaves, True, ts)
        self._drop_done(b)

    def _trade(self, b, aggressor, tick, qty, ts):
        """A print at ``tick``: orders it went through fill whole, orders at it advance in queue.

        As hftbacktest, only orders priced between the print and the opposite best are looked
        at (all of them when that side is empty or the span is wider than our order count);
        an order a clear left at or through the opposite best waits for a depth row.
        """
        side = -aggressor
        if side == BUY:
            lo, hi = tick, b.best_ask - 1
            scan_all = b.best_ask == INVALID_MAX or len(b.resting) < b.best_ask - tick
        else:
            lo, hi = b.best_bid + 1, tick
            scan_all = b.best_bid == INVALID_MIN or len(b.resting) < tick - b.best_bid
        for slot in b.resting:
            o = self.orders[slot]
            if o.side != side or not (scan_all or lo <= o.tick <= hi):
                continue
            if o.tick == tick:
                self._queue_trade(o, qty)
                excess = self._queue_excess(o)
                if excess > 0.0:
                    if not self.partial or excess >= o.leaves:
                        self._fill(o, o.tick, o.leaves, True, ts)
                    else:
                        self._fill(o, o.tick, excess, True, ts)
                        if o.status == _PARTIAL:
                            o.front = 0.0  # the excess went to us: nobody is ahead any more
            elif (o.tick < tick) if side == SELL else (o.tick > tick):
                self._fill(o, o.tick, o.leaves, True, ts)
        self._drop_done(b)

    def _drop_done(self, b):
        orders = self.orders
        b.resting = [s for s in b.resting if orders[s].status in (_NEW, _PARTIAL)]

    # ---- queue models ----------------------------------------------------------------------

    def _queue_trade(self, o, qty):
        o.front -= qty
        if self.queue_kind != 0:
            o.cum_trade += qty

    def _queue_depth(self, o, prev_qty, new_qty):
        if self.queue_kind == 0:
            o.front = _fmin(o.front, new_qty)
            return
        chg = prev_qty - new_qty
        chg -= o.cum_trade  # trades already moved us; do not count them twice
        o.cum_trade = 0.0
        if chg < 0.0:
            o.front = _fmin(o.front, new_qty)
            return
        front = o.front
        back = prev_qty - front
        p = self._prob(front, back)
        if math.isinf(p):
            p = 1.0
        est = front - (1.0 - p) * chg + _fmin(back - p * chg, 0.0)
        o.front = _fmin(est, new_qty)

    def _prob(self, front, back):
        """Probability that a decrease happened behind us."""
        kind, n = self.queue_kind, self.queue_n
        if kind == 1:
            fb = _pow(back, n)
            return _div(fb, fb + _pow(front, n))
        if kind == 2:
            return _div(_pow(back, n), _pow(back + front, n))
        if kind == 3:
            return 1.0 - _pow(_div(front, front + back), n)
        if kind == 4:
            fb = _log(1.0 + back)
            return _div(fb, fb + _log(1.0 + front))
        return _div(_log(1.0 + back), _log(1.0 + back + front))

    def _queue_excess(self, o):
        """Quantity traded beyond the queue ahead of us, in whole lots (0 if none)."""
        lot = self.lot_size
        whole = _round(-o.front / lot)
        return whole * lot if whole > 0 else 0.0

    # ---- orders at the exchange ------------------------------------------------------------

    def _fill(self, o, exec_tick, exec_qty, maker, ts):
        """Execute ``exec_qty``; an execution that leaves less than half a lot closes the order."""
        rest = o.leaves - exec_qty
        if _round(rest / self.lot_size) <= 0:
            exec_qty, rest = o.leaves, 0.0
            o.status = _FILLED
        else:
            o.status = _PARTIAL
        o.leaves = rest
        self._report(ReportKind.FILL, o, o.order_id, o.tick, exec_tick, exec_qty, rest, maker, ts)

    def _end(self, o, status, kind, ts):
        o.status = status
        self._report(kind, o, o.order_id, o.tick, 0, 0.0, o.leaves, False, ts)

    def _arrive(self, req):
        slot = req[2]
        if slot < 0:
            self._handle(req)
            return
        self.orders[slot].inflight -= 1
        self._handle(req)
        self._free_slot(slot)

    def _handle(self, req):
        ts, kind, slot, order_id, prev_slot, tick, qty = req
        if kind == SUBMIT:
            o = self.orders[slot]
            if prev_slot >= 0 and self.orders[prev_slot].status in (_NEW, _PARTIAL):
                self._end(o, _REJECTED, ReportKind.REJECTED, ts)
            else:
                self._accept(o, slot, ts, True)
            return
        o = self.orders[slot] if slot >= 0 else None
        live = o is not None and o.status in (_NEW, _PARTIAL)
        if kind == CANCEL:
            if live:
                self.books[o.book].resting.remove(slot)
                self._end(o, _CANCELED, ReportKind.CANCELED, ts)
            else:
                self._report(ReportKind.CANCEL_REJECTED, o, order_id, 0, 0, 0.0, 0.0, False, ts)
        elif kind == MODIFY:
            if live:
                self._modify(o, slot, tick, qty, ts)
            else:
                self._report(ReportKind.MODIFY_REJECTED, o, order_id, 0, 0, 0.0, 0.0, False, ts)

    def _modify(self, o, slot, tick, qty, ts):
        """New price and total size; the queue place is kept unless the price moves or size grows."""
        b = self.books[o.book]
        filled = o.qty - o.leaves
        leaves = qty - filled
        if _round(leaves / self.lot_size) <= 0:
            b.resting.remove(slot)
            self._end(o, _CANCELED, ReportKind.CANCELED, ts)
            return
        requeue = tick != o.tick or qty > o.qty
        o.tick, o.qty, o.leaves = tick, qty, leaves
        if self._marketable(b, o):
            b.resting.remove(slot)
            self._accept(o, slot, ts, False)
            return
        if requeue:
            b.resting.remove(slot)
            self._rest(b, o, slot)
        self._report(ReportKind.MODIFIED, o, o.order_id, o.tick, 0, 0.0, o.leaves, False, ts)

    def _marketable(self, b, o):
        return o.tick >= b.best_ask if o.side == BUY else o.tick <= b.best_bid

    def _accept(self, o, slot, ts, new):
        """A new (or repriced) order meets the book: it takes, rests, or expires."""
        b = self.books[o.book]
        opposite = b.best_ask if o.side == BUY else b.best_bid
        if o.ord_type == MARKET:
            if opposite in (INVALID_MAX, INVALID_MIN):
                self._end(o, _EXPIRED, ReportKind.EXPIRED, ts)
                return
        elif not self._marketable(b, o):
            if o.tif == IOC or o.tif == FOK:
                self._end(o, _EXPIRED, ReportKind.EXPIRED, ts)
                return
            o.status = _NEW if o.leaves == o.qty else _PARTIAL
            self._rest(b, o, slot)
            kind = ReportKind.ACK if new else ReportKind.MODIFIED
            self._report(kind, o, o.order_id, o.tick, 0, 0.0, o.leaves, False, ts)
            return
        if o.tif == GTX or (self.partial and o.tif == FOK and not self._fok_fits(b, o)):
            self._end(o, _EXPIRED, ReportKind.EXPIRED, ts)
            return
        o.status = _NEW if o.leaves == o.qty else _PARTIAL
        kind = ReportKind.ACK if new else ReportKind.MODIFIED
        self._report(kind, o, o.order_id, o.tick, 0, 0.0, o.leaves, False, ts)
        self._take(b, o, ts)
        if o.status in (_NEW, _PARTIAL):
            if o.ord_type == MARKET or o.tif == IOC or o.tif == FOK:
                self._end(o, _EXPIRED, ReportKind.EXPIRED, ts)
            else:
                self._rest(b, o, slot)

    def _rest(self, b, o, slot):
        levels = b.bid if o.side == BUY else b.ask
        o.front = levels.get(o.tick, 0.0)
        o.cum_trade = 0.0
        b.resting.append(slot)

    def _fok_fits(self, b, o):
        """Is there displayed size for the whole order within its limit?"""
        total, lot = 0.0, self.lot_size
        for t, q in self._levels_to_take(b, o):
            total += q
        return _round(total / lot) >= _round(o.leaves / lot)

    def _levels_to_take(self, b, o):
        if o.side == BUY:
            last = b.high_ask if o.ord_type == MARKET else min(o.tick, b.high_ask)
            ticks = range(b.best_ask, last + 1)
            levels = b.ask
        else:
            last = b.low_bid if o.ord_type == MARKET else max(o.tick, b.low_bid)
            ticks = range(b.best_bid, last - 1, -1)
            levels = b.bid
        for t in ticks:
            q = levels.get(t, 0.0)
            if q > 0.0:
                yield t, q

    def _take(self, b, o, ts):
        """Trade on arrival: whole at the touch (hftbacktest), or walking displayed levels."""
        if not self.partial:
            self._fill(o, b.best_ask if o.side == BUY else b.best_bid, o.leaves, False, ts)
            return
        for t, q in self._levels_to_take(b, o):
            self._fill(o, t, min(q, o.leaves), False, ts)
            if o.status == _FILLED:
                return
