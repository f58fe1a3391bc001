# The contract of fillsim's C engine: records, buffers and the Engine's state. No logic here.
# Prices are integer ticks, times int64 ns; quantities stay floats in the feed's units so the
# queue arithmetic is bit-identical to the reference (and to hftbacktest).
from libc.stdint cimport int8_t, int64_t, uint8_t, uint64_t


# ===== records ==================================================================================

cdef struct event_t:
    # One row of EVENT_DTYPE (hftbacktest's 64-byte layout).
    uint64_t ev             # flags (EXCH/LOCAL/BUY/SELL) | type in the low byte
    int64_t exch_ts         # when the exchange saw it
    int64_t local_ts        # when the local feed saw it (unused by the exchange side)
    double px
    double qty              # depth: new level total (0 removes); trade: printed size
    uint64_t order_id       # L3 only; unused
    int64_t ival            # unused here
    double fval             # unused here

cdef struct order_t:
    uint64_t order_id       # the caller's id (ids may be reused once an order is done)
    int64_t book            # instrument index
    int8_t side             # +1 buy, -1 sell
    uint8_t tif             # 0 GTC, 1 IOC, 2 FOK, 3 GTX
    uint8_t ord_type        # 0 limit, 1 market
    uint8_t status          # OrderStatus code
    int64_t tick            # limit price in ticks
    double qty              # total size (changes only by modify)
    double leaves           # qty - everything executed; 0 once filled
    double front            # estimated quantity ahead of us at our price
    double cum_trade        # traded at our price since the last depth row (prob models)
    int64_t inflight        # requests naming this slot not yet arrived (slot reuse waits on it)
    uint8_t released        # the caller is done with the slot: reuse it once inflight is 0

cdef struct request_t:
    # A request on its way to the exchange.
    int64_t arrival         # exchange time it arrives (non-decreasing along the queue)
    int64_t slot            # order slot; -1 = an id the engine never saw
    int64_t prev_slot       # submit only: previous order with the same id, or -1
    int64_t tick            # submit/modify: limit price
    uint64_t order_id
    double qty              # submit/modify: size
    uint8_t kind            # 1 submit, 2 cancel, 3 modify

cdef struct market_t:
    # A market row queued by the online face, applied at ts.
    int64_t ts
    int64_t book
    int64_t tick
    double qty
    uint8_t ev_type         # DEPTH / TRADE / DEPTH_CLEAR / DEPTH_SNAPSHOT
    int8_t side             # +1 bid or buyer-initiated, -1 ask or seller-initiated, 0 none

cdef struct report_t:
    # An exchange response on its way back to us.
    uint64_t order_id
    int64_t book            # -1 when the request named an unknown order
    int64_t tick            # order price
    int64_t exec_tick       # FILL only: execution price
    double exec_qty         # FILL only
    double leaves           # what is left open (or was cancelled) after this report
    int64_t exch_ts
    int64_t local_ts        # exch_ts + response latency, never before the previous report
    uint8_t kind            # ReportKind code
    int8_t side
    uint8_t maker           # FILL only: 1 = our resting order was hit

cdef struct ladder_t:
    # One side's level totals by tick; 0 = no level. qty[i] is tick base + i.
    double* qty
    int64_t base
    int64_t size

cdef struct book_t:
    # One instrument's exchange book, kept as hftbacktest's HashMapMarketDepth keeps it.
    ladder_t bid
    ladder_t ask
    int64_t best_bid        # INVALID_MIN when there is no bid
    int64_t best_ask        # INVALID_MAX when there is no ask
    int64_t low_bid         # lowest bid tick ever set since the side was last empty
    int64_t high_ask        # highest ask tick ever set since the side was last empty
    int64_t* resting        # our live order slots here, in arrival order
    int64_t n_resting
    int64_t cap_resting

cdef struct latency_t:
    # One latency stream: constant, or seeded splitmix64 jitter.
    int64_t mean
    int kind                # 0 none, 1 normal, 2 lognormal, 3 table
    double sigma
    uint64_t state          # RNG state
    int64_t* table          # recorded latencies (kind 3)
    int64_t n_table


# ===== the engine ===============================================================================

cdef class Engine:
    cdef readonly double tick_size
    cdef readonly double lot_size
    cdef readonly int queue_kind            # 0 risk-averse, 1..5 probabilistic (see config)
    cdef readonly double queue_n            # exponent of the power models
    cdef readonly bint partial              # partial fills on
    cdef latency_t entry
    cdef latency_t response

    cdef book_t* books
    cdef int64_t n_books, cap_books
    cdef book_t* lbooks                     # the local feed's view of each book (backtests)
    cdef int64_t cap_lbooks
    cdef int64_t* free_slots                # released order slots, reused by _new_order
    cdef object stream_obj                  # the backtest stream (kept alive for the pointer)
    cdef const event_t* stream
    cdef int64_t stream_n, stream_book, stream_exch, stream_local  # rows and the two cursors
    cdef int64_t stream_end                 # requests arriving later are never applied
    cdef int64_t n_free, cap_free
    cdef order_t* orders
    cdef int64_t n_orders, cap_orders
    cdef market_t* market                   # FIFO: [market_head, n_market)
    cdef int64_t market_head, n_market, cap_market
    cdef request_t* requests                # FIFO: [request_head, n_requests)
    cdef int64_t request_head, n_requests, cap_requests
    cdef report_t* reports                  # FIFO: [report_head, n_reports)
    cdef int64_t report_head, n_reports, cap_reports
    cdef int64_t last_market_ts, last_arrival, last_local

    # the clock
    cdef int _send_action(self, int64_t j, const int64_t[::1] act_ts, const uint8_t[::1] act_kind,
                          const int64_t[::1] act_slot, const uint64_t[::1] act_oid,
                          const int64_t[::1] act_prev, const int8_t[::1] act_side,
                          const int64_t[::1] act_tick, const double[::1] act_qty,
                          const uint8_t[::1] act_tif, const uint8_t[::1] act_type) except -1 nogil
    cdef int _send(self, int64_t ts, uint8_t kind, int64_t slot, uint64_t order_id,
                   int64_t prev_slot, int64_t tick, double qty) except -1 nogil
    cdef int64_t _new_order(self, uint64_t order_id, int64_t book, int8_t side, int64_t tick,
                            double qty, uint8_t tif, uint8_t ord_type) except -1 nogil
    cdef int _run_until(self, int64_t ts) except -1 nogil
    cdef int _report(self, uint8_t kind, int64_t slot, uint64_t order_id, int64_t tick,
                     int64_t exec_tick, double exec_qty, double leaves, bint maker,
                     int64_t ts) except -1 nogil
    # market rows
    cdef int _apply_market(self, int64_t ts, int64_t book, int ev_type, int side, int64_t tick,
                           double qty) except -1 nogil
    cdef int _bid_depth(self, book_t* b, int64_t tick, double qty, int64_t ts) except -1 nogil
    cdef int _ask_depth(self, book_t* b, int64_t tick, double qty, int64_t ts) except -1 nogil
    cdef void _clear(self, book_t* b, int side, int64_t upto) noexcept nogil
    cdef void _depth_changed(self, book_t* b, int side, int64_t tick, double prev_qty,
                             double new_qty) noexcept nogil
    cdef int _crossed(self, book_t* b, int side, int64_t prev, int64_t best,
                      int64_t ts) except -1 nogil
    cdef int _trade(self, book_t* b, int aggressor, int64_t tick, double qty,
                    int64_t ts) except -1 nogil
    # queue models
    cdef void _queue_depth(self, order_t* o, double prev_qty, double new_qty) noexcept nogil
    cdef double _prob(self, double front, double back) noexcept nogil
    cdef double _queue_excess(self, order_t* o) noexcept nogil
    # orders at the exchange
    cdef int _fill(self, int64_t slot, int64_t exec_tick, double exec_qty, bint maker,
                   int64_t ts) except -1 nogil
    cdef int _end(self, int64_t slot, uint8_t status, uint8_t kind, int64_t ts) except -1 nogil
    cdef int _arrive(self, request_t* r) except -1 nogil
    cdef int _handle(self, request_t* r) except -1 nogil
    cdef int _free_slot(self, int64_t slot) except -1 nogil
    # the backtest face
    cdef bint _step(self, int64_t until) except -1
    cdef int _local_market(self, book_t* b, int ev_type, int side, int64_t tick,
                           double qty) except -1 nogil
    cdef int _modify(self, int64_t slot, int64_t tick, double qty, int64_t ts) except -1 nogil
    cdef int _accept(self, int64_t slot, int64_t ts, bint new) except -1 nogil
    cdef int _rest(self, book_t* b, int64_t slot) except -1 nogil
    cdef bint _fok_fits(self, book_t* b, order_t* o) noexcept nogil
    cdef int _take(self, book_t* b, int64_t slot, int64_t ts) except -1 nogil
