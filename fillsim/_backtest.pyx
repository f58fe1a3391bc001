# cython: language_level=3
"""The closed-loop backtester in C: ``fillsim.backtest.PyBacktest``'s rules, statement for
statement, over the Cython engine's own structures (no Python call per event, per request or
per report that is not a fill). Read the pure-Python twin for the why of each rule.
"""
from libc.math cimport NAN, fabs, floor, isfinite
from libc.stdint cimport INT64_MAX, INT64_MIN, int64_t, uint8_t

import numpy as np

from fillsim._engine cimport Engine, book_t, ladder_t, report_t

from .backtest import (Fill, _LegBase, _checked_qty, _checked_tick, _code, _depth, _index,
                       _TIF_NAMES, _TIFS, _TYPE_NAMES, _TYPES, _unknown_order, check_assets)
from .codes import OrderStatus

cdef enum:
    BUY = 1
    SELL = -1
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
    P_NONE = 0
    P_NEW = 1
    P_CANCEL = 2
    P_MODIFY = 3

cdef class Backtest


_PENDING_NAMES = (None, "new", "cancel", "modify")
_STATUSES = tuple(OrderStatus(i) for i in range(7))


cdef int64_t _tick_of(price, double tick_size) except? -1:
    """``_checked_tick`` for the common case (a float or int on the tick), in C."""
    cdef double x, t
    if type(price) is float or type(price) is int:
        x = <double>price / tick_size
        if isfinite(x) and fabs(x) < 4503599627370496.0:
            t = floor(x + 0.5)
            if fabs(x - t) <= 1e-6:
                return <int64_t>t
    return _checked_tick(price, tick_size)  # the slow path names what is wrong


cdef double _qty_of(qty, double lot_size) except? -1.0:
    """``_checked_qty`` for the common case (a positive whole number of lots), in C."""
    cdef double q, lots
    if type(qty) is float or type(qty) is int:
        q = <double>qty
        if isfinite(q) and q > 0.0:
            lots = q / lot_size
            if lots < 9007199254740992.0 and fabs(lots - floor(lots + 0.5)) <= 1e-9 * (
                    lots if lots > 1.0 else 1.0):
                return q
    return _checked_qty(qty, lot_size)


cdef class Order:
    """The strategy's view of one order (see ``fillsim.backtest.Order``)."""

    cdef readonly int64_t id, asset, price_tick
    cdef readonly int side
    cdef readonly double price, qty, leaves, filled
    cdef readonly str tif, order_type
    cdef int _status, _pending
    cdef double _notional
    cdef Engine _core
    cdef int64_t _slot

    @property
    def status(self):
        return _STATUSES[self._status]

    @property
    def pending(self):
        return _PENDING_NAMES[self._pending]

    @property
    def avg_price(self):
        return self._notional / self.filled if self.filled else NAN

    @property
    def live(self):
        return self._status <= S_PARTIAL

    @property
    def cancellable(self):
        return self._pending == P_NONE and (self._status == S_NEW or self._status == S_PARTIAL)

    @property
    def queue_ahead(self):
        if not (self._status == S_NEW or self._status == S_PARTIAL):
            return 0.0
        return max(self._core.order_info(self._slot)[4], 0.0)

    def __repr__(self):
        return (f"Order(id={self.id}, asset={self.asset}, {'buy' if self.side == BUY else 'sell'} "
                f"{self.qty:g} @ {self.price}, {self.tif}, status={self.status.name}, "
                f"filled={self.filled:g}, leaves={self.leaves:g}, pending={self.pending})")


cdef inline double _level(ladder_t* l, int64_t tick) noexcept nogil:
    cdef int64_t i = tick - l.base
    if 0 <= i < l.size:
        return l.qty[i]
    return 0.0


cdef class Leg:
    """One asset's engine, local touch and account (see ``fillsim.backtest._Leg``)."""

    cdef readonly Engine core
    cdef readonly object asset
    cdef readonly int64_t index, bid_tick, ask_tick
    cdef readonly double tick_size, lot_size, multiplier, maker_fee, taker_fee, inv_tick
    cdef readonly double bid, ask, bid_qty, ask_qty, last_mid
    cdef readonly double position, cash, fees, volume

    def __init__(self, int64_t index, asset):
        base = _LegBase(index, asset, "cython")
        self.core, self.asset, self.index = base.core, asset, index
        self.tick_size, self.lot_size, self.inv_tick = base.tick_size, base.lot_size, base.inv_tick
        self.multiplier, self.maker_fee, self.taker_fee = base.multiplier, base.maker_fee, base.taker_fee
        self.position = self.cash = self.fees = self.volume = 0.0
        self.last_mid = NAN
        self.refresh()

    cpdef double price(self, int64_t tick):
        return tick / self.inv_tick if self.inv_tick > 0.0 else tick * self.tick_size

    cdef refresh(self):
        cdef book_t* b = &self.core.lbooks[0]
        cdef int64_t bid = b.best_bid, ask = b.best_ask
        self.bid_qty, self.ask_qty = _level(&b.bid, bid), _level(&b.ask, ask)
        self.bid_tick, self.ask_tick = bid, ask
        self.bid = NAN if bid == INT64_MIN else self.price(bid)
        self.ask = NAN if ask == INT64_MAX else self.price(ask)
        if bid != INT64_MIN and ask != INT64_MAX:
            self.last_mid = (self.bid + self.ask) / 2.0

    cpdef double equity(self):
        if self.position == 0.0:
            return self.cash
        return self.cash + self.position * self.last_mid * self.multiplier


cdef class AssetView:
    """Per-asset accessors of a backtest (see ``fillsim.backtest.AssetView``)."""

    cdef Backtest _bt
    cdef Leg _leg
    cdef readonly int64_t index

    def __init__(self, Backtest bt, Leg leg):
        self._bt, self._leg, self.index = bt, leg, leg.index

    @property
    def name(self):
        return self._leg.asset.name

    @property
    def best_bid(self):
        return self._leg.bid

    @property
    def best_ask(self):
        return self._leg.ask

    @property
    def best_bid_tick(self):
        return self._leg.bid_tick

    @property
    def best_ask_tick(self):
        return self._leg.ask_tick

    @property
    def bid_qty(self):
        return self._leg.bid_qty

    @property
    def ask_qty(self):
        return self._leg.ask_qty

    @property
    def mid(self):
        return self._leg.last_mid

    @property
    def tick_size(self):
        return self._leg.tick_size

    @property
    def lot_size(self):
        return self._leg.lot_size

    @property
    def multiplier(self):
        return self._leg.multiplier

    @property
    def position(self):
        return self._leg.position

    @property
    def cash(self):
        return self._leg.cash

    @property
    def fees(self):
        return self._leg.fees

    @property
    def volume(self):
        return self._leg.volume

    @property
    def equity(self):
        return self._leg.equity()

    @property
    def orders(self):
        cdef int64_t index = self.index
        return {oid: o for oid, o in self._bt._orders.items() if (<Order>o).asset == index}

    def depth(self, side, levels=5):
        return _depth(self._leg, side, levels)

    def buy(self, price, qty, tif="GTC", order_type="limit"):
        return self._bt._submit(BUY, price, qty, tif, order_type, self.index)

    def sell(self, price, qty, tif="GTC", order_type="limit"):
        return self._bt._submit(SELL, price, qty, tif, order_type, self.index)

    def cancel_all(self):
        return self._bt.cancel_all(asset=self.index)


cdef class Backtest:
    """fillsim.Backtest on the Cython engine (see ``fillsim.backtest.PyBacktest``)."""

    cdef readonly str engine
    cdef list _legs, _views, _finished, _fills
    cdef readonly dict _orders
    cdef object _recorder
    cdef bint _keep_fills, _done, _ended
    cdef int64_t _now, _next_id
    cdef readonly int64_t decisions

    def __init__(self, assets, *, recorder=None, keep_fills=True):
        assets = check_assets(assets, recorder)
        self.engine = "cython"
        self._legs = [Leg(i, a) for i, a in enumerate(assets)]
        self._views = [AssetView(self, leg) for leg in self._legs]
        self._recorder, self._keep_fills = recorder, keep_fills
        self._orders, self._finished, self._fills = {}, [], []
        self._next_id = 1
        self.decisions = 0
        starts = [t for t in (a.first_ts() for a in assets) if t is not None]
        self._now = min(starts) if starts else 0
        self._done = not starts
        self._ended = False  # every asset's rows are applied (requests sent later count for nothing)

    # ---- the clock -------------------------------------------------------------------------

    @property
    def now(self):
        return self._now

    def elapse(self, ns):
        cdef Leg leg
        cdef bint busy = False
        cdef int64_t until, i
        if not (type(ns) is int or isinstance(ns, np.integer)) or ns < 0:
            raise ValueError(f"ns must be a whole number of nanoseconds >= 0, got {ns!r}")
        if self._finished:
            for oid in self._finished:
                del self._orders[oid]
            self._finished = []
        if self._done:
            self._step_recorded()
            return False
        until = min(self._now + int(ns), INT64_MAX)  # any ns: the clock stops at the end of time
        if len(self._legs) == 1:
            leg = self._legs[0]
            busy = leg.core._step(until)
            self._drain(leg, until)
            leg.refresh()
        else:
            busy = self._elapse_many(until)
        if not self._ended:
            self._end_data(until)
        self._now = until
        self._done = not busy
        self.decisions += 1
        self._step_recorded()
        return busy

    cdef int _end_data(self, int64_t until) except -1:
        """Once the last rows of every asset are applied, requests sent from then on are never
        answered, so elapse ends once those already sent are: a strategy that keeps sending
        cannot keep the loop alive."""
        cdef Leg leg
        for leg in self._legs:
            if leg.core.stream_exch < leg.core.stream_n or leg.core.stream_local < leg.core.stream_n:
                return 0
        self._ended = True
        for leg in self._legs:
            leg.core.end_stream(until)
        return 0

    cdef bint _elapse_many(self, int64_t until) except -1:
        """Several assets: their reports are handled in local-time order (ties by asset)."""
        cdef Leg leg, best
        cdef bint busy = False
        cdef int64_t t, best_t
        for leg in self._legs:
            busy |= leg.core._step(until)
        while True:
            best, best_t = None, INT64_MAX
            for leg in self._legs:
                if leg.core.report_head < leg.core.n_reports:
                    t = leg.core.reports[leg.core.report_head].local_ts
                    if t <= until and t < best_t:
                        best, best_t = leg, t
            if best is None:
                break
            self._report(best, &best.core.reports[best.core.report_head])
            best.core.report_head += 1
        for leg in self._legs:
            if leg.core.report_head == leg.core.n_reports:
                leg.core.report_head = leg.core.n_reports = 0
            leg.refresh()
        return busy

    cdef int _drain(self, Leg leg, int64_t until) except -1:
        cdef Engine core = leg.core
        while core.report_head < core.n_reports and core.reports[core.report_head].local_ts <= until:
            self._report(leg, &core.reports[core.report_head])
            core.report_head += 1
        if core.report_head == core.n_reports:
            core.report_head = core.n_reports = 0
        return 0

    cdef _step_recorded(self):
        if self._recorder is not None:
            self._recorder.record_step(self)

    cdef int _report(self, Leg leg, report_t* r) except -1:
        cdef Order o
        cdef double price, fee
        cdef uint8_t kind = r.kind
        obj = self._orders.get(r.order_id)
        if obj is None:
            return 0  # a late answer about an order already dropped (a cancel race)
        o = <Order>obj
        if kind == R_FILL:
            price = leg.price(r.exec_tick)
            o.filled += r.exec_qty
            o._notional += price * r.exec_qty
            o.leaves = r.leaves
            o._status = S_FILLED if r.leaves == 0.0 else S_PARTIAL
            fee = r.exec_qty * (leg.maker_fee if r.maker else leg.taker_fee)
            leg.position += r.side * r.exec_qty
            leg.cash -= r.side * price * r.exec_qty * leg.multiplier + fee
            leg.fees += fee
            leg.volume += r.exec_qty
            if self._keep_fills or self._recorder is not None:
                fill = Fill(o.id, leg.index, r.side, price, r.exec_qty, r.exch_ts, r.local_ts,
                            bool(r.maker), fee)
                if self._keep_fills:
                    self._fills.append(fill)
                if self._recorder is not None:
                    self._recorder.record_fill(fill)
        elif kind == R_ACK:
            o._status = S_NEW if o.filled == 0.0 else S_PARTIAL
            o.leaves = r.leaves
            if o._pending == P_NEW:
                o._pending = P_NONE
        elif kind == R_MODIFIED:
            o.price_tick, o.leaves, o.qty = r.tick, r.leaves, o.filled + r.leaves
            o.price = leg.price(r.tick)
            if o._status <= S_PARTIAL:
                o._status = S_NEW if o.filled == 0.0 else S_PARTIAL
            o._pending = P_NONE
        elif kind == R_CANCEL_REJECTED or kind == R_MODIFY_REJECTED:
            if o._pending == P_CANCEL or o._pending == P_MODIFY:
                o._pending = P_NONE
        else:
            o._status = (S_CANCELED if kind == R_CANCELED else
                         S_EXPIRED if kind == R_EXPIRED else S_REJECTED)
            o.leaves = 0.0
        if o._status > S_PARTIAL and o._slot >= 0:
            o._pending = P_NONE
            leg.core.orders[o._slot].released = 1
            leg.core._free_slot(o._slot)
            o._slot = -1
            self._finished.append(o.id)
        return 0

    # ---- asset 0 accessors -----------------------------------------------------------------

    def asset(self, i):
        return self._views[_index(i, len(self._legs))]

    def _leg(self, i):
        return self._legs[i]

    @property
    def n_assets(self):
        return len(self._legs)

    @property
    def best_bid(self):
        return (<Leg>self._legs[0]).bid

    @property
    def best_ask(self):
        return (<Leg>self._legs[0]).ask

    @property
    def best_bid_tick(self):
        return (<Leg>self._legs[0]).bid_tick

    @property
    def best_ask_tick(self):
        return (<Leg>self._legs[0]).ask_tick

    @property
    def bid_qty(self):
        return (<Leg>self._legs[0]).bid_qty

    @property
    def ask_qty(self):
        return (<Leg>self._legs[0]).ask_qty

    @property
    def mid(self):
        return (<Leg>self._legs[0]).last_mid

    @property
    def tick_size(self):
        return (<Leg>self._legs[0]).tick_size

    @property
    def lot_size(self):
        return (<Leg>self._legs[0]).lot_size

    @property
    def multiplier(self):
        return (<Leg>self._legs[0]).multiplier

    @property
    def position(self):
        return (<Leg>self._legs[0]).position

    @property
    def volume(self):
        return sum([(<Leg>leg).volume for leg in self._legs])

    @property
    def cash(self):
        return sum([(<Leg>leg).cash for leg in self._legs])

    @property
    def fees(self):
        return sum([(<Leg>leg).fees for leg in self._legs])

    @property
    def equity(self):
        return sum([(<Leg>leg).equity() for leg in self._legs])

    @property
    def orders(self):
        from types import MappingProxyType
        return MappingProxyType(self._orders)

    @property
    def fills(self):
        return self._fills

    def depth(self, side, levels=5, *, asset=0):
        return _depth(self._legs[_index(asset, len(self._legs))], side, levels)

    # ---- orders ----------------------------------------------------------------------------

    def buy(self, price, qty, tif="GTC", order_type="limit", *, asset=0):
        return self._submit(BUY, price, qty, tif, order_type, asset)

    def sell(self, price, qty, tif="GTC", order_type="limit", *, asset=0):
        return self._submit(SELL, price, qty, tif, order_type, asset)

    def modify(self, order_id, price, qty):
        cdef Order o = self._order(order_id)
        cdef Leg leg = self._legs[o.asset]
        cdef int64_t tick = _tick_of(price, leg.tick_size)
        cdef double q = _qty_of(qty, leg.lot_size)
        leg.core._send(self._now, 3, o._slot, o.id, -1, tick, q)
        if o._status <= S_PARTIAL:
            o._pending = P_MODIFY

    def cancel(self, order_id):
        cdef Order o = self._order(order_id)
        (<Leg>self._legs[o.asset]).core._send(self._now, 2, o._slot, o.id, -1, 0, 0.0)
        if o._status <= S_PARTIAL:
            o._pending = P_CANCEL

    def cancel_all(self, *, asset=None):
        cdef Order o
        cdef int64_t only = -1 if asset is None else _index(asset, len(self._legs))
        cdef int n = 0
        for obj in list(self._orders.values()):
            o = <Order>obj
            if o._status <= S_PARTIAL and o._pending != P_CANCEL and (only < 0 or o.asset == only):
                (<Leg>self._legs[o.asset]).core._send(self._now, 2, o._slot, o.id, -1, 0, 0.0)
                o._pending = P_CANCEL
                n += 1
        return n

    cdef int64_t _submit(self, int side, price, qty, tif, order_type, asset) except -1:
        cdef Leg leg = self._legs[asset if type(asset) is int and 0 <= asset < len(self._legs)
                                  else _index(asset, len(self._legs))]
        code = _TIFS.get(tif) if type(tif) is str else None
        cdef int tif_code = code if code is not None else _code("tif", tif, _TIFS)
        code = _TYPES.get(order_type) if type(order_type) is str else None
        cdef int type_code = code if code is not None else _code("order_type", order_type, _TYPES)
        cdef double q = _qty_of(qty, leg.lot_size)
        cdef int64_t tick
        cdef Order o
        if type_code == 1 and price is None:
            tick = leg.ask_tick if side == BUY else leg.bid_tick
            if tick == INT64_MAX or tick == INT64_MIN:
                tick = 0
        else:
            tick = _tick_of(price, leg.tick_size)
        oid = self._next_id
        self._next_id += 1
        o = Order.__new__(Order)
        o._slot = leg.core._new_order(oid, 0, side, tick, q, tif_code, type_code)
        leg.core._send(self._now, 1, o._slot, oid, -1, tick, q)
        o.id, o.asset, o.side, o.price_tick, o.price, o.qty = oid, leg.index, side, tick, leg.price(tick), q
        o.leaves, o.filled, o._notional = q, 0.0, 0.0
        o.tif, o.order_type = _TIF_NAMES[tif_code], _TYPE_NAMES[type_code]
        o._status, o._pending, o._core = S_PENDING, P_NEW, leg.core
        self._orders[oid] = o
        return oid

    cdef Order _order(self, order_id):
        o = self._orders.get(order_id) if isinstance(order_id, (int, np.integer)) else None
        if o is None:
            _unknown_order(order_id)
        return <Order>o
