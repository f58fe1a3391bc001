# cython: language_level=3
"""fillsim's C engine: the rules of ``fillsim.reference``, with the replay loop free of the GIL.

Every method mirrors the reference method of the same name, float steps in the same order, so
the two give bit-identical fills; read the reference for the why of each rule.
"""
from libc.math cimport INFINITY, cos, exp, fabs, floor, isfinite, isinf, log, pow, sqrt
from libc.stdint cimport INT64_MAX, INT64_MIN, int8_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport calloc, free, realloc
from libc.string cimport memcpy

import numpy as np

from .types import FILL_DTYPE

# ---- codes (same values as fillsim.types / fillsim.codes) --------------------------------------
cdef uint64_t EXCH_EVENT = 1ULL << 31
cdef uint64_t LOCAL_EVENT = 1ULL << 30
cdef uint64_t BUY_EVENT = 1ULL << 29
cdef uint64_t SELL_EVENT = 1ULL << 28

cdef enum:
    DEPTH_EVENT = 1
    TRADE_EVENT = 2
    DEPTH_CLEAR_EVENT = 3
    DEPTH_SNAPSHOT_EVENT = 4
    BUY = 1
    SELL = -1
    IOC = 1
    FOK = 2
    GTX = 3
    MARKET = 1
    SUBMIT = 1
    CANCEL = 2
    MODIFY = 3
    R_ACK = 1
    R_FILL = 2
    R_CANCELED = 3
    R_CANCEL_REJECTED = 4
    R_REJECTED = 5
    R_EXPIRED = 6
    R_MODIFIED = 7
    R_MODIFY_REJECTED = 8
    S_PENDING = 0
    S_NEW = 1
    S_PARTIAL = 2
    S_FILLED = 3
    S_CANCELED = 4
    S_EXPIRED = 5
    S_REJECTED = 6

cdef int64_t MAX_LADDER = 1 << 27  # ticks per side (1 GiB of levels), as fillsim.ticks.MAX_LADDER
cdef double MAX_TICK = 4503599627370496.0  # 2**52, as fillsim.ticks.MAX_TICK
cdef double MAX_LOTS = 9007199254740992.0  # 2**53, as fillsim.ticks.MAX_LOTS
cdef int64_t WHOLE_SIDE = INT64_MIN  # a clear row's tick when its price is not finite (codes.WHOLE_SIDE)

cdef uint64_t GOLDEN = 0x9E3779B97F4A7C15ULL
cdef uint64_t RESPONSE_STREAM = 0x632BE59BD9B4E019ULL
cdef double TWO_POW_M53 = 1.0 / 9007199254740992.0
cdef double TWO_PI = 6.283185307179586


# ===== helpers ==================================================================================

cdef inline int64_t _round(double x) noexcept nogil:
    """C-side twin of reference._round for ticks (|x| < 2**52, checked at the edge)."""
    if x >= 0:
        return <int64_t>floor(x + 0.5)
    return -<int64_t>floor(-x + 0.5)


cdef inline double _lots(double x) noexcept nogil:
    """reference._round for a size in lots, kept in double: a sum of sizes can pass int64."""
    if x >= 0:
        return floor(x + 0.5)
    return -floor(-x + 0.5)


cdef inline bint _row_ok(uint64_t ev, double px, double qty, double tick_size,
                         double lot_size) noexcept nogil:
    """reference._check_row's test: a clear row needs no size, nor a finite price."""
    if ev & 0xFF == DEPTH_CLEAR_EVENT:
        return not isfinite(px) or fabs(px / tick_size) < MAX_TICK
    return fabs(px / tick_size) < MAX_TICK and 0.0 <= qty and qty / lot_size < MAX_LOTS


cdef inline int64_t _row_tick(double px, double tick_size) noexcept nogil:
    """A checked row's price in ticks; WHOLE_SIDE for a clear row without a finite price."""
    return _round(px / tick_size) if isfinite(px) else WHOLE_SIDE


cdef inline int64_t _later(int64_t ts, int64_t latency) noexcept nogil:
    """``ts + latency`` (latency >= 0), held at INT64_MAX (the end of time) instead of wrapping."""
    return INT64_MAX if ts > INT64_MAX - latency else ts + latency


cdef inline double _fmin(double a, double b) noexcept nogil:
    if a != a:
        return b
    if b != b:
        return a
    return a if a < b else b


cdef int _reserve(void** buf, int64_t* cap, int64_t need, size_t item) except -1 nogil:
    """Grow a malloc'd array to hold ``need`` items (doubling)."""
    cdef int64_t new_cap
    cdef void* p
    if need <= cap[0]:
        return 0
    new_cap = cap[0] * 2 if cap[0] * 2 > need else need
    if new_cap < 16:
        new_cap = 16
    p = realloc(buf[0], <size_t>new_cap * item)
    if p == NULL:
        with gil:
            raise MemoryError()
    buf[0] = p
    cap[0] = new_cap
    return 0


cdef inline double _level(ladder_t* l, int64_t tick) noexcept nogil:
    cdef int64_t i = tick - l.base
    if 0 <= i < l.size:
        return l.qty[i]
    return 0.0


cdef int _set_level(ladder_t* l, int64_t tick, double qty) except -1 nogil:
    """Store a level total, growing the ladder (with slack both ways) to reach ``tick``."""
    cdef int64_t lo, hi, span, size, base
    cdef double* q
    if 0 <= tick - l.base < l.size:
        l.qty[tick - l.base] = qty
        return 0
    if qty == 0.0:
        return 0
    if l.size == 0:
        lo = hi = tick
    else:
        lo = tick if tick < l.base else l.base
        hi = tick if tick > l.base + l.size - 1 else l.base + l.size - 1
    span = hi - lo + 1
    if span > MAX_LADDER:
        with gil:
            raise ValueError(f"price range of {span} ticks on one side is too wide for the book")
    size = span * 2 if span * 2 > 1024 else 1024
    if size > MAX_LADDER:
        size = MAX_LADDER
    base = lo - (size - span) // 2
    q = <double*>calloc(<size_t>size, sizeof(double))
    if q == NULL:
        with gil:
            raise MemoryError()
    if l.size:
        memcpy(q + (l.base - base), l.qty, <size_t>l.size * sizeof(double))
        free(l.qty)
    l.qty, l.base, l.size = q, base, size
    l.qty[tick - base] = qty
    return 0


cdef int64_t _level_below(ladder_t* l, int64_t start, int64_t end) noexcept nogil:
    """Highest tick in [end, start) with quantity, else INVALID_MIN."""
    cdef int64_t t, hi = start - 1, lo = end
    if hi > l.base + l.size - 1:
        hi = l.base + l.size - 1
    if lo < l.base:
        lo = l.base
    t = hi
    while t >= lo:
        if l.qty[t - l.base] > 0.0:
            return t
        t -= 1
    return INT64_MIN


cdef int64_t _level_above(ladder_t* l, int64_t start, int64_t end) noexcept nogil:
    """Lowest tick in (start, end] with quantity, else INVALID_MAX."""
    cdef int64_t t, lo = start + 1, hi = end
    if lo < l.base:
        lo = l.base
    if hi > l.base + l.size - 1:
        hi = l.base + l.size - 1
    t = lo
    while t <= hi:
        if l.qty[t - l.base] > 0.0:
            return t
        t += 1
    return INT64_MAX


cdef void _zero_levels(ladder_t* l, int64_t lo, int64_t hi) noexcept nogil:
    """Remove the levels with ticks in [lo, hi]."""
    cdef int64_t i
    if lo < l.base:
        lo = l.base
    if hi > l.base + l.size - 1:
        hi = l.base + l.size - 1
    for i in range(lo - l.base, hi - l.base + 1):
        l.qty[i] = 0.0


cdef void _reset_book(book_t* b) noexcept nogil:
    cdef int64_t i
    for i in range(b.bid.size):
        b.bid.qty[i] = 0.0
    for i in range(b.ask.size):
        b.ask.qty[i] = 0.0
    b.best_bid, b.best_ask = INT64_MIN, INT64_MAX
    b.low_bid, b.high_ask = INT64_MAX, INT64_MIN


cdef void _drop_done(book_t* b, order_t* orders) noexcept nogil:
    """Keep only live orders in the resting list, in order."""
    cdef int64_t i, k = 0
    cdef uint8_t st
    for i in range(b.n_resting):
        st = orders[b.resting[i]].status
        if st == S_NEW or st == S_PARTIAL:
            b.resting[k] = b.resting[i]
            k += 1
    b.n_resting = k


cdef void _remove_resting(book_t* b, int64_t slot) noexcept nogil:
    cdef int64_t i, k = 0
    cdef bint removed = False
    for i in range(b.n_resting):
        if not removed and b.resting[i] == slot:
            removed = True
            continue
        b.resting[k] = b.resting[i]
        k += 1
    b.n_resting = k


# ---- latency ---------------------------------------------------------------------------------

cdef inline uint64_t _next(latency_t* l) noexcept nogil:
    cdef uint64_t z
    l.state += GOLDEN
    z = l.state
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef int64_t _draw(latency_t* l) noexcept nogil:
    cdef double u1, u2, z, x
    if l.kind == 0:
        return l.mean
    if l.kind == 3:
        return l.table[_next(l) % <uint64_t>l.n_table]
    u1 = <double>((_next(l) >> 11) + 1) * TWO_POW_M53
    u2 = <double>(_next(l) >> 11) * TWO_POW_M53
    z = sqrt(-2.0 * log(u1)) * cos(TWO_PI * u2)
    if l.kind == 1:
        x = <double>l.mean + l.sigma * z
    else:
        x = <double>l.mean * exp(l.sigma * z - 0.5 * l.sigma * l.sigma)
    return <int64_t>floor(x) if x > 0.0 else 0


cdef int _init_latency(latency_t* l, int64_t mean, int kind, double sigma, uint64_t seed,
                       tuple table) except -1:
    cdef Py_ssize_t i
    l.mean, l.kind, l.sigma, l.state = mean, kind, sigma, seed
    l.n_table = len(table)
    l.table = <int64_t*>calloc(<size_t>(l.n_table if l.n_table else 1), sizeof(int64_t))
    if l.table == NULL:
        raise MemoryError()
    for i in range(l.n_table):
        l.table[i] = table[i]
    return 0


cdef inline double _cdiv(double a, double b) noexcept nogil:
    return a / b


cdef int _set_bid(book_t* b, int64_t tick, double qty, double lot, double* prev_qty) except -1 nogil:
    """A bid level's new total, keeping best/low as hftbacktest's HashMapMarketDepth does."""
    prev_qty[0] = _level(&b.bid, tick)
    if _lots(qty / lot) > 0:
        _set_level(&b.bid, tick, qty)
        if tick > b.best_bid:
            b.best_bid = tick
            if b.best_bid >= b.best_ask:
                b.best_ask = _level_above(&b.ask, b.best_bid, b.high_ask)
        if tick < b.low_bid:
            b.low_bid = tick
    else:
        _set_level(&b.bid, tick, 0.0)
        if tick == b.best_bid:
            b.best_bid = _level_below(&b.bid, b.best_bid, b.low_bid)
            if b.best_bid == INT64_MIN:
                b.low_bid = INT64_MAX
    return 0


cdef int _set_ask(book_t* b, int64_t tick, double qty, double lot, double* prev_qty) except -1 nogil:
    """An ask level's new total (the mirror of _set_bid)."""
    prev_qty[0] = _level(&b.ask, tick)
    if _lots(qty / lot) > 0:
        _set_level(&b.ask, tick, qty)
        if tick < b.best_ask:
            b.best_ask = tick
            if b.best_bid >= b.best_ask:
                b.best_bid = _level_below(&b.bid, b.best_ask, b.low_bid)
        if tick > b.high_ask:
            b.high_ask = tick
    else:
        _set_level(&b.ask, tick, 0.0)
        if tick == b.best_ask:
            b.best_ask = _level_above(&b.ask, b.best_ask, b.high_ask)
            if b.best_ask == INT64_MAX:
                b.high_ask = INT64_MIN
    return 0


cdef void _init_book(book_t* b) noexcept nogil:
    b.bid.qty = b.ask.qty = NULL
    b.bid.base = b.ask.base = b.bid.size = b.ask.size = 0
    b.resting = NULL
    b.n_resting = b.cap_resting = 0
    _reset_book(b)


cdef void _free_book(book_t* b) noexcept nogil:
    free(b.bid.qty)
    free(b.ask.qty)
    free(b.resting)


cdef int _apply_snapshot(book_t* b, const int8_t[::1] sides, const int64_t[::1] ticks,
                         const double[::1] qtys) except -1:
    cdef Py_ssize_t i
    _reset_book(b)
    for i in range(sides.shape[0]):
        if sides[i] == BUY:
            b.best_bid = ticks[i] if ticks[i] > b.best_bid else b.best_bid
            b.low_bid = ticks[i] if ticks[i] < b.low_bid else b.low_bid
            _set_level(&b.bid, ticks[i], qtys[i])
        elif sides[i] == SELL:
            b.best_ask = ticks[i] if ticks[i] < b.best_ask else b.best_ask
            b.high_ask = ticks[i] if ticks[i] > b.high_ask else b.high_ask
            _set_level(&b.ask, ticks[i], qtys[i])
    return 0


# ===== the engine ===============================================================================

cdef class Engine:
    """The exchange simulator (see ``fillsim.reference.Engine`` for the rules and the API)."""

    def __cinit__(self, double tick_size, double lot_size, int64_t entry_ns, int64_t response_ns,
                  int queue_kind, double queue_n, bint partial_fills, int jitter_kind,
                  double jitter_sigma, uint64_t jitter_seed, table_entry, table_response):
        self.tick_size, self.lot_size = tick_size, lot_size
        self.queue_kind, self.queue_n, self.partial = queue_kind, queue_n, partial_fills
        _init_latency(&self.entry, entry_ns, jitter_kind, jitter_sigma, jitter_seed,
                      tuple(table_entry))
        _init_latency(&self.response, response_ns, jitter_kind, jitter_sigma,
                      jitter_seed + RESPONSE_STREAM, tuple(table_response))
        self.last_market_ts = self.last_arrival = self.last_local = INT64_MIN

    def __dealloc__(self):
        cdef int64_t i
        for i in range(self.n_books):
            _free_book(&self.books[i])
            _free_book(&self.lbooks[i])
        free(self.books)
        free(self.lbooks)
        free(self.free_slots)
        free(self.orders)
        free(self.market)
        free(self.requests)
        free(self.reports)
        free(self.entry.table)
        free(self.response.table)

    # ---- online face ---------------------------------------------------------------------------

    def add_book(self):
        _reserve(<void**>&self.books, &self.cap_books, self.n_books + 1, sizeof(book_t))
        _reserve(<void**>&self.lbooks, &self.cap_lbooks, self.n_books + 1, sizeof(book_t))
        _init_book(&self.books[self.n_books])
        _init_book(&self.lbooks[self.n_books])
        self.n_books += 1
        return self.n_books - 1

    def market_event(self, int64_t ts, int64_t book, uint8_t ev_type, int8_t side, int64_t tick,
                     double qty):
        cdef market_t* m
        self._check_book(book)
        if ts < self.last_market_ts:
            ts = self.last_market_ts
        self.last_market_ts = ts
        _reserve(<void**>&self.market, &self.cap_market, self.n_market + 1, sizeof(market_t))
        m = &self.market[self.n_market]
        m.ts, m.book, m.ev_type, m.side, m.tick, m.qty = ts, book, ev_type, side, tick, qty
        self.n_market += 1

    def submit(self, int64_t ts, uint64_t order_id, int64_t book, int8_t side, int64_t tick,
               double qty, uint8_t tif, uint8_t ord_type, int64_t prev_slot):
        cdef int64_t slot
        self._check_book(book)
        slot = self._new_order(order_id, book, side, tick, qty, tif, ord_type)
        self._send(ts, SUBMIT, slot, order_id, prev_slot, tick, qty)
        return slot

    def cancel(self, int64_t ts, int64_t slot, uint64_t order_id):
        self._check_slot(slot)
        self._send(ts, CANCEL, slot, order_id, -1, 0, 0.0)

    def modify(self, int64_t ts, int64_t slot, uint64_t order_id, int64_t tick, double qty):
        self._check_slot(slot)
        self._send(ts, MODIFY, slot, order_id, -1, tick, qty)

    def advance(self, int64_t ts):
        self._run_until(ts)
        if ts > self.last_market_ts:
            self.last_market_ts = ts
        return self.delivered(ts)

    def delivered(self, int64_t ts):
        """Pop the reports that have reached us by ``ts`` (nothing more is applied)."""
        cdef report_t* r
        out = []
        while self.report_head < self.n_reports and self.reports[self.report_head].local_ts <= ts:
            r = &self.reports[self.report_head]
            out.append((r.kind, r.order_id, r.book, r.side, r.tick, r.exec_tick, r.exec_qty,
                        r.leaves, bool(r.maker), r.exch_ts, r.local_ts))
            self.report_head += 1
        if self.report_head == self.n_reports:
            self.report_head = self.n_reports = 0
        return out

    def order_info(self, int64_t slot):
        cdef order_t* o
        if not 0 <= slot < self.n_orders:
            raise IndexError(slot)
        o = &self.orders[slot]
        return o.status, o.tick, o.qty, o.leaves, o.front

    def touch(self, int64_t book):
        cdef book_t* b
        self._check_book(book)
        b = &self.books[book]
        return (b.best_bid, _level(&b.bid, b.best_bid), b.best_ask, _level(&b.ask, b.best_ask))

    def apply_snapshot(self, int64_t book, const int8_t[::1] sides, const int64_t[::1] ticks,
                       const double[::1] qtys, bint local=False):
        self._check_book(book)
        _apply_snapshot(&self.lbooks[book] if local else &self.books[book], sides, ticks, qtys)

    # ---- backtest face: one stream per book, the exchange and the local feed side by side ----

    def attach(self, int64_t book, events):
        """Give ``book`` its stream (a contiguous EVENT_DTYPE array) for ``step``."""
        cdef const event_t[::1] view = events
        self._check_book(book)
        self.stream_obj, self.stream_book = events, book
        self.stream, self.stream_n = &view[0] if view.shape[0] else NULL, view.shape[0]
        self.stream_exch = self.stream_local = 0
        self.stream_end = INT64_MAX  # set by end_stream: until then every request counts

    def rows_left(self):
        """Whether the attached stream has rows not yet applied (exchange or feed)."""
        return self.stream_exch < self.stream_n or self.stream_local < self.stream_n

    def end_stream(self, int64_t until):
        """Every stream of the backtest is over at ``until``: from now on the exchange applies
        only the requests sent so far (those arriving by the later of ``until`` and the last
        arrival), so a strategy that keeps sending cannot keep the backtest alive."""
        self.stream_end = until if until > self.last_arrival else self.last_arrival

    def step(self, int64_t until):
        """Advance the attached stream's book to ``until``; False once rows and replies are done
        (replies that reach us by ``until`` count as done; after ``end_stream`` only the
        requests sent before it count, and later ones are never applied).

        The exchange side applies rows with ``exch_ts <= until`` and the requests that arrive
        by then (a request before a row only if it arrives strictly earlier, as ``replay``);
        the local side applies the feed's rows with ``local_ts <= until`` to the local book.
        Reports are collected with ``advance(until)`` afterwards.
        """
        if self.stream_obj is None:
            raise RuntimeError("no stream attached")
        return self._step(until)

    @property
    def cursors(self):
        """(next exchange row, next feed row) of the attached stream."""
        return self.stream_exch, self.stream_local

    cdef bint _step(self, int64_t until) except -1:
        cdef int64_t n = self.stream_n, bad = -1, ts, book = self.stream_book
        cdef int64_t exch_pos = self.stream_exch, local_pos = self.stream_local
        cdef const event_t* events = self.stream
        cdef uint64_t ev
        cdef double px, qty, tick_size = self.tick_size
        cdef int side
        cdef book_t* lb = &self.lbooks[book]
        with nogil:
            while exch_pos < n:
                ev = events[exch_pos].ev
                if not (ev & EXCH_EVENT):
                    exch_pos += 1
                    continue
                ts = events[exch_pos].exch_ts
                if ts > until:
                    break
                px, qty = events[exch_pos].px, events[exch_pos].qty
                if not _row_ok(ev, px, qty, tick_size, self.lot_size):
                    bad = exch_pos
                    break
                while (self.request_head < self.n_requests
                       and self.requests[self.request_head].arrival < ts):
                    self.request_head += 1
                    self._arrive(&self.requests[self.request_head - 1])
                side = BUY if ev & BUY_EVENT else (SELL if ev & SELL_EVENT else 0)
                self._apply_market(ts, book, ev & 0xFF, side, _row_tick(px, tick_size), qty)
                exch_pos += 1
            while bad < 0 and local_pos < n:
                ev = events[local_pos].ev
                if not (ev & LOCAL_EVENT):
                    local_pos += 1
                    continue
                if events[local_pos].local_ts > until:
                    break
                px, qty = events[local_pos].px, events[local_pos].qty
                if not _row_ok(ev, px, qty, tick_size, self.lot_size):
                    bad = local_pos
                    break
                side = BUY if ev & BUY_EVENT else (SELL if ev & SELL_EVENT else 0)
                self._local_market(lb, ev & 0xFF, side, _row_tick(px, tick_size), qty)
                local_pos += 1
            if bad < 0:
                self._run_until(until if until < self.stream_end else self.stream_end)
        self.stream_exch, self.stream_local = exch_pos, local_pos
        if bad >= 0:
            raise ValueError(f"event row {bad}: price {events[bad].px!r} or size "
                             f"{events[bad].qty!r} is unusable (sizes: >= 0, under 2**53 lots)")
        return (exch_pos < n or local_pos < n
                or (self.request_head < self.n_requests
                    and self.requests[self.request_head].arrival <= self.stream_end)
                or (self.report_head < self.n_reports
                    and self.reports[self.n_reports - 1].local_ts > until))

    def local_touch(self, int64_t book):
        """(best bid tick, its qty, best ask tick, its qty) of the local feed's book."""
        cdef book_t* b
        self._check_book(book)
        b = &self.lbooks[book]
        return (b.best_bid, _level(&b.bid, b.best_bid), b.best_ask, _level(&b.ask, b.best_ask))

    def local_depth(self, int64_t book, int side, int64_t levels):
        """Up to ``levels`` (tick, qty) of one side of the local book, best first."""
        cdef book_t* b
        cdef int64_t t
        cdef double q
        self._check_book(book)
        b = &self.lbooks[book]
        out = []
        if side == BUY and b.best_bid != INT64_MIN:
            t = b.best_bid
            while t >= b.low_bid and len(out) < levels:
                q = _level(&b.bid, t)
                if q > 0.0:
                    out.append((t, q))
                t -= 1
        elif side == SELL and b.best_ask != INT64_MAX:
            t = b.best_ask
            while t <= b.high_ask and len(out) < levels:
                q = _level(&b.ask, t)
                if q > 0.0:
                    out.append((t, q))
                t += 1
        return out

    def release(self, int64_t slot):
        """The caller is done with a finished order: its slot is reused once no request names it."""
        self._check_slot(slot)
        if slot < 0:
            return
        self.orders[slot].released = 1
        self._free_slot(slot)

    def _check_book(self, int64_t book):
        if not 0 <= book < self.n_books:
            raise IndexError(f"no book {book}")

    def _check_slot(self, int64_t slot):
        if not -1 <= slot < self.n_orders:
            raise IndexError(f"no order slot {slot}")

    # ---- replay face ---------------------------------------------------------------------------

    def replay(self, const event_t[::1] events, const int64_t[::1] act_ts,
               const uint8_t[::1] act_kind, const int64_t[::1] act_slot,
               const uint64_t[::1] act_oid, const int64_t[::1] act_prev,
               const int8_t[::1] act_side, const int64_t[::1] act_tick,
               const double[::1] act_qty, const uint8_t[::1] act_tif,
               const uint8_t[::1] act_type):
        """Run one instrument's stream (book 0); return its fills as a FILL_DTYPE array."""
        cdef Py_ssize_t i, n = events.shape[0]
        cdef int64_t j = 0, n_act = act_ts.shape[0], ts, k, n_fills = 0, bad = -1
        cdef uint64_t ev
        cdef double px, qty
        cdef int side
        cdef double tick_size = self.tick_size
        cdef report_t* r
        if self.n_books == 0:
            self.add_book()
        with nogil:
            for i in range(n):
                ev = events[i].ev
                if not (ev & EXCH_EVENT):
                    continue
                ts, px, qty = events[i].exch_ts, events[i].px, events[i].qty
                if not _row_ok(ev, px, qty, tick_size, self.lot_size):
                    bad = i
                    break
                while j < n_act or self.request_head < self.n_requests:
                    if self.request_head == self.n_requests:
                        self._send_action(j, act_ts, act_kind, act_slot, act_oid, act_prev,
                                          act_side, act_tick, act_qty, act_tif, act_type)
                        j += 1
                    if self.requests[self.request_head].arrival >= ts:
                        break
                    self.request_head += 1
                    self._arrive(&self.requests[self.request_head - 1])
                side = BUY if ev & BUY_EVENT else (SELL if ev & SELL_EVENT else 0)
                self._apply_market(ts, 0, ev & 0xFF, side, _row_tick(px, tick_size), qty)
            while j < n_act:
                self._send_action(j, act_ts, act_kind, act_slot, act_oid, act_prev, act_side,
                                  act_tick, act_qty, act_tif, act_type)
                j += 1
            while self.request_head < self.n_requests:
                self.request_head += 1
                self._arrive(&self.requests[self.request_head - 1])
            for k in range(self.n_reports):
                if self.reports[k].kind == R_FILL:
                    n_fills += 1
        if bad >= 0:
            raise ValueError(f"event row {bad}: price {events[bad].px!r} or size "
                             f"{events[bad].qty!r} is unusable (sizes: >= 0, under 2**53 lots)")
        out = np.zeros(n_fills, dtype=FILL_DTYPE)
        cdef uint64_t[:] o_oid = out["order_id"]
        cdef int8_t[:] o_side = out["side"]
        cdef double[:] o_px = out["px"], o_exec_px = out["exec_px"], o_qty = out["exec_qty"]
        cdef int64_t[:] o_exch = out["exch_ts"], o_local = out["local_ts"]
        cdef uint8_t[:] o_maker = out["maker"].view(np.uint8)
        j = 0
        for k in range(self.n_reports):
            r = &self.reports[k]
            if r.kind == R_FILL:
                o_oid[j], o_side[j] = r.order_id, r.side
                o_px[j], o_exec_px[j] = r.tick * tick_size, r.exec_tick * tick_size
                o_qty[j], o_exch[j], o_local[j], o_maker[j] = r.exec_qty, r.exch_ts, r.local_ts, r.maker
                j += 1
        return out

    cdef int _send_action(self, int64_t j, const int64_t[::1] act_ts, const uint8_t[::1] act_kind,
                          const int64_t[::1] act_slot, const uint64_t[::1] act_oid,
                          const int64_t[::1] act_prev, const int8_t[::1] act_side,
                          const int64_t[::1] act_tick, const double[::1] act_qty,
                          const uint8_t[::1] act_tif, const uint8_t[::1] act_type) except -1 nogil:
        cdef int64_t slot
        if act_kind[j] == SUBMIT:
            slot = self._new_order(act_oid[j], 0, act_side[j], act_tick[j], act_qty[j],
                                   act_tif[j], act_type[j])
            return self._send(act_ts[j], SUBMIT, slot, act_oid[j], act_prev[j], act_tick[j],
                              act_qty[j])
        return self._send(act_ts[j], act_kind[j], act_slot[j], act_oid[j], -1, act_tick[j],
                          act_qty[j])

    # ---- the clock -----------------------------------------------------------------------------

    cdef int64_t _new_order(self, uint64_t order_id, int64_t book, int8_t side, int64_t tick,
                            double qty, uint8_t tif, uint8_t ord_type) except -1 nogil:
        cdef order_t* o
        cdef int64_t slot
        if self.n_free:
            self.n_free -= 1
            slot = self.free_slots[self.n_free]
        else:
            _reserve(<void**>&self.orders, &self.cap_orders, self.n_orders + 1, sizeof(order_t))
            slot = self.n_orders
            self.n_orders += 1
        o = &self.orders[slot]
        o.order_id, o.book, o.side, o.tick = order_id, book, side, tick
        o.qty = o.leaves = qty
        o.tif, o.ord_type, o.status = tif, ord_type, S_PENDING
        o.front = o.cum_trade = 0.0
        o.inflight, o.released = 0, 0
        return slot

    cdef int _free_slot(self, int64_t slot) except -1 nogil:
        """Put a released, finished slot no request names on the free list (once)."""
        cdef order_t* o = &self.orders[slot]
        if o.released == 1 and o.inflight == 0 and o.status >= S_FILLED:
            o.released = 2
            _reserve(<void**>&self.free_slots, &self.cap_free, self.n_free + 1, sizeof(int64_t))
            self.free_slots[self.n_free] = slot
            self.n_free += 1
        return 0

    cdef int _send(self, int64_t ts, uint8_t kind, int64_t slot, uint64_t order_id,
                   int64_t prev_slot, int64_t tick, double qty) except -1 nogil:
        cdef request_t* r
        cdef int64_t arrival = _later(ts, _draw(&self.entry))
        if arrival < self.last_arrival:
            arrival = self.last_arrival
        self.last_arrival = arrival
        if self.request_head == self.n_requests:
            self.request_head = self.n_requests = 0
        _reserve(<void**>&self.requests, &self.cap_requests, self.n_requests + 1, sizeof(request_t))
        r = &self.requests[self.n_requests]
        r.arrival, r.kind, r.slot, r.order_id = arrival, kind, slot, order_id
        if slot >= 0:
            self.orders[slot].inflight += 1
        r.prev_slot, r.tick, r.qty = prev_slot, tick, qty
        self.n_requests += 1
        return 0

    cdef int _run_until(self, int64_t ts) except -1 nogil:
        cdef market_t* m
        cdef int64_t m_ts, r_ts
        while True:
            m_ts = self.market[self.market_head].ts if self.market_head < self.n_market else INT64_MAX
            r_ts = (self.requests[self.request_head].arrival
                    if self.request_head < self.n_requests else INT64_MAX)
            if m_ts <= ts and m_ts <= r_ts and self.market_head < self.n_market:
                m = &self.market[self.market_head]
                self.market_head += 1
                self._apply_market(m.ts, m.book, m.ev_type, m.side, m.tick, m.qty)
            elif r_ts <= ts and self.request_head < self.n_requests:
                self.request_head += 1
                self._arrive(&self.requests[self.request_head - 1])
            else:
                break
        if self.market_head == self.n_market:
            self.market_head = self.n_market = 0
        return 0

    cdef int _report(self, uint8_t kind, int64_t slot, uint64_t order_id, int64_t tick,
                     int64_t exec_tick, double exec_qty, double leaves, bint maker,
                     int64_t ts) except -1 nogil:
        cdef report_t* r
        cdef int64_t local = _later(ts, _draw(&self.response))
        if local < self.last_local:
            local = self.last_local
        self.last_local = local
        _reserve(<void**>&self.reports, &self.cap_reports, self.n_reports + 1, sizeof(report_t))
        r = &self.reports[self.n_reports]
        r.kind, r.order_id, r.tick, r.exec_tick = kind, order_id, tick, exec_tick
        r.exec_qty, r.leaves, r.maker, r.exch_ts, r.local_ts = exec_qty, leaves, maker, ts, local
        if slot >= 0:
            r.book, r.side = self.orders[slot].book, self.orders[slot].side
        else:
            r.book, r.side = -1, 0
        self.n_reports += 1
        return 0

    # ---- market rows ---------------------------------------------------------------------------

    cdef int _apply_market(self, int64_t ts, int64_t book, int ev_type, int side, int64_t tick,
                           double qty) except -1 nogil:
        cdef book_t* b = &self.books[book]
        if ev_type == DEPTH_EVENT or ev_type == DEPTH_SNAPSHOT_EVENT:
            if side == BUY:
                return self._bid_depth(b, tick, qty, ts)
            if side == SELL:
                return self._ask_depth(b, tick, qty, ts)
        elif ev_type == TRADE_EVENT:
            if side != 0:
                return self._trade(b, side, tick, qty, ts)
        elif ev_type == DEPTH_CLEAR_EVENT:
            self._clear(b, side, tick)
        return 0

    cdef int _local_market(self, book_t* b, int ev_type, int side, int64_t tick,
                           double qty) except -1 nogil:
        """A feed row on the local book: depth and clears only (trades move no level here)."""
        cdef double prev_qty
        if ev_type == DEPTH_EVENT or ev_type == DEPTH_SNAPSHOT_EVENT:
            if side == BUY:
                return _set_bid(b, tick, qty, self.lot_size, &prev_qty)
            if side == SELL:
                return _set_ask(b, tick, qty, self.lot_size, &prev_qty)
        elif ev_type == DEPTH_CLEAR_EVENT:
            self._clear(b, side, tick)
        return 0

    cdef int _bid_depth(self, book_t* b, int64_t tick, double qty, int64_t ts) except -1 nogil:
        cdef int64_t prev_best = b.best_bid
        cdef double prev_qty
        _set_bid(b, tick, qty, self.lot_size, &prev_qty)
        self._depth_changed(b, BUY, tick, prev_qty, qty)
        if b.best_bid > prev_best:
            return self._crossed(b, SELL, prev_best, b.best_bid, ts)
        return 0

    cdef int _ask_depth(self, book_t* b, int64_t tick, double qty, int64_t ts) except -1 nogil:
        cdef int64_t prev_best = b.best_ask
        cdef double prev_qty
        _set_ask(b, tick, qty, self.lot_size, &prev_qty)
        self._depth_changed(b, SELL, tick, prev_qty, qty)
        if b.best_ask < prev_best:
            return self._crossed(b, BUY, prev_best, b.best_ask, ts)
        return 0

    cdef void _clear(self, book_t* b, int side, int64_t upto) noexcept nogil:
        if side == BUY:
            if upto == WHOLE_SIDE:
                _zero_levels(&b.bid, INT64_MIN, INT64_MAX)
                b.best_bid = INT64_MIN
            else:
                if b.best_bid != INT64_MIN:
                    _zero_levels(&b.bid, upto, b.best_bid)
                b.best_bid = _level_below(&b.bid, upto - 1, b.low_bid)
            if b.best_bid == INT64_MIN:
                b.low_bid = INT64_MAX
        elif side == SELL:
            if upto == WHOLE_SIDE:
                _zero_levels(&b.ask, INT64_MIN, INT64_MAX)
                b.best_ask = INT64_MAX
            else:
                if b.best_ask != INT64_MAX:
                    _zero_levels(&b.ask, b.best_ask, upto)
                b.best_ask = _level_above(&b.ask, upto + 1, b.high_ask)
            if b.best_ask == INT64_MAX:
                b.high_ask = INT64_MIN
        else:
            _reset_book(b)

    cdef void _depth_changed(self, book_t* b, int side, int64_t tick, double prev_qty,
                             double new_qty) noexcept nogil:
        cdef int64_t i
        cdef order_t* o
        for i in range(b.n_resting):
            o = &self.orders[b.resting[i]]
            if o.side == side and o.tick == tick:
                self._queue_depth(o, prev_qty, new_qty)

    cdef int _crossed(self, book_t* b, int side, int64_t prev, int64_t best,
                      int64_t ts) except -1 nogil:
        cdef int64_t i, slot, lo, hi
        cdef order_t* o
        cdef bint scan_all
        if side == SELL:
            scan_all = prev == INT64_MIN or b.n_resting < best - prev
            lo, hi = prev + 1, best
        else:
            scan_all = prev == INT64_MAX or b.n_resting < prev - best
            lo, hi = best, prev - 1
        for i in range(b.n_resting):
            slot = b.resting[i]
            o = &self.orders[slot]
            if o.side != side:
                continue
            if (scan_all and ((o.tick <= best) if side == SELL else (o.tick >= best))) or (
                    not scan_all and lo <= o.tick <= hi):
                self._fill(slot, o.tick, o.leaves, True, ts)
        _drop_done(b, self.orders)
        return 0

    cdef int _trade(self, book_t* b, int aggressor, int64_t tick, double qty,
                    int64_t ts) except -1 nogil:
        cdef int side = -aggressor
        cdef int64_t i, slot, lo, hi
        cdef order_t* o
        cdef double excess
        cdef bint scan_all
        if side == BUY:
            lo, hi = tick, b.best_ask - 1
            scan_all = b.best_ask == INT64_MAX or b.n_resting < b.best_ask - tick
        else:
            lo, hi = b.best_bid + 1, tick
            scan_all = b.best_bid == INT64_MIN or b.n_resting < tick - b.best_bid
        for i in range(b.n_resting):
            slot = b.resting[i]
            o = &self.orders[slot]
            if o.side != side or not (scan_all or lo <= o.tick <= hi):
                continue
            if o.tick == tick:
                o.front -= qty
                if self.queue_kind != 0:
                    o.cum_trade += qty
                excess = self._queue_excess(o)
                if excess > 0.0:
                    if not self.partial or excess >= o.leaves:
                        self._fill(slot, o.tick, o.leaves, True, ts)
                    else:
                        self._fill(slot, o.tick, excess, True, ts)
                        if o.status == S_PARTIAL:
                            o.front = 0.0
            elif (o.tick < tick) if side == SELL else (o.tick > tick):
                self._fill(slot, o.tick, o.leaves, True, ts)
        _drop_done(b, self.orders)
        return 0

    # ---- queue models --------------------------------------------------------------------------

    cdef void _queue_depth(self, order_t* o, double prev_qty, double new_qty) noexcept nogil:
        cdef double chg, front, back, p, est
        if self.queue_kind == 0:
            o.front = _fmin(o.front, new_qty)
            return
        chg = prev_qty - new_qty
        chg -= o.cum_trade
        o.cum_trade = 0.0
        if chg < 0.0:
            o.front = _fmin(o.front, new_qty)
            return
        front = o.front
        back = prev_qty - front
        p = self._prob(front, back)
        if isinf(p):
            p = 1.0
        est = front - (1.0 - p) * chg + _fmin(back - p * chg, 0.0)
        o.front = _fmin(est, new_qty)

    cdef double _prob(self, double front, double back) noexcept nogil:
        cdef double fb, n = self.queue_n
        if self.queue_kind == 1:
            fb = pow(back, n)
            return _cdiv(fb, fb + pow(front, n))
        if self.queue_kind == 2:
            return _cdiv(pow(back, n), pow(back + front, n))
        if self.queue_kind == 3:
            return 1.0 - pow(_cdiv(front, front + back), n)
        if self.queue_kind == 4:
            fb = log(1.0 + back)
            return _cdiv(fb, fb + log(1.0 + front))
        return _cdiv(log(1.0 + back), log(1.0 + back + front))

    cdef double _queue_excess(self, order_t* o) noexcept nogil:
        cdef double whole = _lots(-o.front / self.lot_size)
        return whole * self.lot_size if whole > 0 else 0.0

    # ---- orders at the exchange ----------------------------------------------------------------

    cdef int _fill(self, int64_t slot, int64_t exec_tick, double exec_qty, bint maker,
                   int64_t ts) except -1 nogil:
        cdef order_t* o = &self.orders[slot]
        cdef double rest = o.leaves - exec_qty
        if _lots(rest / self.lot_size) <= 0:
            exec_qty, rest = o.leaves, 0.0
            o.status = S_FILLED
        else:
            o.status = S_PARTIAL
        o.leaves = rest
        return self._report(R_FILL, slot, o.order_id, o.tick, exec_tick, exec_qty, rest, maker, ts)

    cdef int _end(self, int64_t slot, uint8_t status, uint8_t kind, int64_t ts) except -1 nogil:
        cdef order_t* o = &self.orders[slot]
        o.status = status
        return self._report(kind, slot, o.order_id, o.tick, 0, 0.0, o.leaves, False, ts)

    cdef int _arrive(self, request_t* r) except -1 nogil:
        if r.slot < 0:
            return self._handle(r)
        self.orders[r.slot].inflight -= 1
        self._handle(r)
        return self._free_slot(r.slot)

    cdef int _handle(self, request_t* r) except -1 nogil:
        cdef int64_t ts = r.arrival, slot = r.slot
        cdef order_t* o = NULL
        cdef bint live = False
        if r.kind == SUBMIT:
            if r.prev_slot >= 0 and (self.orders[r.prev_slot].status == S_NEW
                                     or self.orders[r.prev_slot].status == S_PARTIAL):
                return self._end(slot, S_REJECTED, R_REJECTED, ts)
            return self._accept(slot, ts, True)
        if slot >= 0:
            o = &self.orders[slot]
            live = o.status == S_NEW or o.status == S_PARTIAL
        if r.kind == CANCEL:
            if live:
                _remove_resting(&self.books[o.book], slot)
                return self._end(slot, S_CANCELED, R_CANCELED, ts)
            return self._report(R_CANCEL_REJECTED, slot, r.order_id, 0, 0, 0.0, 0.0, False, ts)
        if r.kind == MODIFY:
            if live:
                return self._modify(slot, r.tick, r.qty, ts)
            return self._report(R_MODIFY_REJECTED, slot, r.order_id, 0, 0, 0.0, 0.0, False, ts)
        return 0

    cdef int _modify(self, int64_t slot, int64_t tick, double qty, int64_t ts) except -1 nogil:
        cdef order_t* o = &self.orders[slot]
        cdef book_t* b = &self.books[o.book]
        cdef double filled = o.qty - o.leaves
        cdef double leaves = qty - filled
        cdef bint requeue
        if _lots(leaves / self.lot_size) <= 0:
            _remove_resting(b, slot)
            return self._end(slot, S_CANCELED, R_CANCELED, ts)
        requeue = tick != o.tick or qty > o.qty
        o.tick, o.qty, o.leaves = tick, qty, leaves
        if (o.tick >= b.best_ask) if o.side == BUY else (o.tick <= b.best_bid):
            _remove_resting(b, slot)
            return self._accept(slot, ts, False)
        if requeue:
            _remove_resting(b, slot)
            self._rest(b, slot)
        return self._report(R_MODIFIED, slot, o.order_id, o.tick, 0, 0.0, o.leaves, False, ts)

    cdef int _accept(self, int64_t slot, int64_t ts, bint new) except -1 nogil:
        cdef order_t* o = &self.orders[slot]
        cdef book_t* b = &self.books[o.book]
        cdef int64_t opposite = b.best_ask if o.side == BUY else b.best_bid
        cdef bint marketable = (o.tick >= b.best_ask) if o.side == BUY else (o.tick <= b.best_bid)
        cdef uint8_t kind = R_ACK if new else R_MODIFIED
        if o.ord_type == MARKET:
            if opposite == INT64_MAX or opposite == INT64_MIN:
                return self._end(slot, S_EXPIRED, R_EXPIRED, ts)
        elif not marketable:
            if o.tif == IOC or o.tif == FOK:
                return self._end(slot, S_EXPIRED, R_EXPIRED, ts)
            o.status = S_NEW if o.leaves == o.qty else S_PARTIAL
            self._rest(b, slot)
            return self._report(kind, slot, o.order_id, o.tick, 0, 0.0, o.leaves, False, ts)
        if o.tif == GTX or (self.partial and o.tif == FOK and not self._fok_fits(b, o)):
            return self._end(slot, S_EXPIRED, R_EXPIRED, ts)
        o.status = S_NEW if o.leaves == o.qty else S_PARTIAL
        self._report(kind, slot, o.order_id, o.tick, 0, 0.0, o.leaves, False, ts)
        self._take(b, slot, ts)
        o = &self.orders[slot]
        if o.status == S_NEW or o.status == S_PARTIAL:
            if o.ord_type == MARKET or o.tif == IOC or o.tif == FOK:
                return self._end(slot, S_EXPIRED, R_EXPIRED, ts)
            return self._rest(b, slot)
        return 0

    cdef int _rest(self, book_t* b, int64_t slot) except -1 nogil:
        cdef order_t* o = &self.orders[slot]
        o.front = _level(&b.bid, o.tick) if o.side == BUY else _level(&b.ask, o.tick)
        o.cum_trade = 0.0
        _reserve(<void**>&b.resting, &b.cap_resting, b.n_resting + 1, sizeof(int64_t))
        b.resting[b.n_resting] = slot
        b.n_resting += 1
        return 0

    cdef bint _fok_fits(self, book_t* b, order_t* o) noexcept nogil:
        cdef double total = 0.0, q
        cdef int64_t t, last
        if o.side == BUY:
            last = b.high_ask if o.ord_type == MARKET or o.tick > b.high_ask else o.tick
            t = b.best_ask
            while t <= last:
                q = _level(&b.ask, t)
                if q > 0.0:
                    total += q
                t += 1
        else:
            last = b.low_bid if o.ord_type == MARKET or o.tick < b.low_bid else o.tick
            t = b.best_bid
            while t >= last:
                q = _level(&b.bid, t)
                if q > 0.0:
                    total += q
                t -= 1
        return _lots(total / self.lot_size) >= _lots(o.leaves / self.lot_size)

    cdef int _take(self, book_t* b, int64_t slot, int64_t ts) except -1 nogil:
        cdef order_t* o = &self.orders[slot]
        cdef int64_t t, last
        cdef double q
        if not self.partial:
            return self._fill(slot, b.best_ask if o.side == BUY else b.best_bid, o.leaves, False, ts)
        if o.side == BUY:
            last = b.high_ask if o.ord_type == MARKET or o.tick > b.high_ask else o.tick
            t = b.best_ask
            while t <= last:
                q = _level(&b.ask, t)
                if q > 0.0:
                    self._fill(slot, t, q if q < o.leaves else o.leaves, False, ts)
                    if o.status == S_FILLED:
                        return 0
                t += 1
        else:
            last = b.low_bid if o.ord_type == MARKET or o.tick < b.low_bid else o.tick
            t = b.best_bid
            while t >= last:
                q = _level(&b.bid, t)
                if q > 0.0:
                    self._fill(slot, t, q if q < o.leaves else o.leaves, False, ts)
                    if o.status == S_FILLED:
                        return 0
                t -= 1
        return 0
