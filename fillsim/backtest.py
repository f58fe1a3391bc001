"""Closed-loop backtests: a Python strategy trades against fillsim and sees its own fills.

Usage::

    import fillsim

    def strategy(bt):
        while bt.elapse(100_000_000):          # 100 ms of market time; False at the end of data
            bt.cancel_all()
            bt.buy(bt.best_bid, 1, tif="GTX")  # returns the order id
            bt.sell(bt.best_ask, 1, tif="GTX")

    asset = fillsim.Asset(events, snapshot=snapshot, tick_size=0.01, multiplier=100,
                          maker_fee=-0.20, taker_fee=0.50,
                          config={"entry_latency_ns": 200_000, "response_latency_ns": 200_000,
                                  "queue_model": "power:3"})
    bt = fillsim.Backtest([asset], recorder=None)
    strategy(bt)
    bt.position, bt.cash, bt.fees, bt.equity, bt.fills

The market advances inside the engine (C, without the GIL, when the Cython extension runs)
between two ``elapse`` calls, so a strategy pays Python time per decision, not per event.
The clock is hftbacktest's: ``now`` starts at the first row's timestamp and ``elapse(ns)``
moves it to ``now + ns``; the exchange applies rows with ``exch_ts`` up to then and the
requests that arrived by then (``fillsim.replay``'s order), the strategy's book is the feed as
of ``local_ts <= now``, and acks and fills reach the strategy one response latency after
they happened. A request sent at ``now`` reaches the exchange one entry latency later.
``elapse`` returns False once every asset's data is over and the requests sent before
then are answered; requests sent after the end are never applied (the market is over).

Several assets run in one backtest, each with its own stream, tick and lot size, contract
multiplier, fees and ``fillsim.Config`` (latency, queue model, partial fills). Order ids are
unique across assets; per-asset accessors take ``asset=`` (methods) or live on
``bt.asset(i)`` (a view with the same names); on ``bt`` itself they mean asset 0. ``cash``,
``fees`` and ``equity`` on ``bt`` are the account's (all assets).

A recorder (any object with ``record_fill(fill)`` and ``record_step(bt)``) gets each fill
as it reaches the strategy and the backtest after every ``elapse``, so outputs can stream to
disk; ``keep_fills=False`` then keeps memory flat in the length of the run.
"""
from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

from .codes import INVALID_MAX, INVALID_MIN, OrderStatus, ReportKind
from .config import Config
from .engines import ENGINE, engine_class
from .ticks import MAX_LOTS, snapshot_levels
from .types import BUY, EVENT_DTYPE, EXCH_EVENT, LOCAL_EVENT, SELL

__all__ = ["Asset", "AssetView", "Backtest", "Fill", "Order", "PyBacktest"]

_TIFS = {"GTC": 0, "IOC": 1, "FOK": 2, "GTX": 3}
_TYPES = {"limit": 0, "market": 1}
_TIF_NAMES = {v: k for k, v in _TIFS.items()}
_TYPE_NAMES = {v: k for k, v in _TYPES.items()}
_LIVE = (OrderStatus.PENDING, OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)
_FILL, _ACK, _CANCELED = int(ReportKind.FILL), int(ReportKind.ACK), int(ReportKind.CANCELED)
_CANCEL_REJECTED, _REJECTED = int(ReportKind.CANCEL_REJECTED), int(ReportKind.REJECTED)
_EXPIRED, _MODIFIED = int(ReportKind.EXPIRED), int(ReportKind.MODIFIED)
_MODIFY_REJECTED = int(ReportKind.MODIFY_REJECTED)


class Fill(NamedTuple):
    """One execution as it reached the strategy. ``side`` +1 bought, -1 sold; ``fee`` is in
    account currency (negative = rebate) for the whole fill; ``maker`` = our resting order was hit."""

    order_id: int
    asset: int
    side: int
    price: float
    qty: float
    exch_ns: int
    local_ns: int
    maker: bool
    fee: float


class Asset:
    """One instrument's data and trading terms for a backtest.

    Parameters
    ----------
    events : EVENT_DTYPE array (hftbacktest's 64-byte rows), exchange rows in ``exch_ts``
        order and feed rows in ``local_ts`` order.
    snapshot : DEPTH_SNAPSHOT rows that form the book before the first event (both sides).
    config : ``fillsim.Config`` or dict (latency, queue model, partial fills, jitter); its
        tick and lot size are replaced by ``tick_size`` and ``lot_size``.
    tick_size, lot_size : price increment; quantity unit (order sizes must be whole lots).
    multiplier : contract multiplier (100 for a US equity option): cash and equity scale by it.
    maker_fee, taker_fee : fee per contract (lot unit) in account currency; negative = rebate.
    name : a label for reports.

    Raises ValueError for a bad size, fee or multiplier, or rows out of time order.
    """

    def __init__(self, events, *, snapshot=None, config=None, tick_size: float,
                 lot_size: float = 1.0, multiplier: float = 1.0, maker_fee: float = 0.0,
                 taker_fee: float = 0.0, name: str = ""):
        self.config = Config.coerce(config).replace(tick_size=tick_size, lot_size=lot_size)
        self.events = _records("events", events)
        self.snapshot = None if snapshot is None else _records("snapshot", snapshot)
        for label, value in (("multiplier", multiplier), ("maker_fee", maker_fee),
                             ("taker_fee", taker_fee)):
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{label} must be a finite number, got {value!r}")
        if multiplier <= 0:
            raise ValueError(f"multiplier must be positive, got {multiplier!r}")
        self.multiplier, self.maker_fee, self.taker_fee = float(multiplier), float(maker_fee), float(taker_fee)
        self.name = str(name)
        ev = self.events["ev"]
        for flag, field in ((EXCH_EVENT, "exch_ts"), (LOCAL_EVENT, "local_ts")):
            ts = self.events[field][(ev & flag) != 0]
            if (ts[1:] < ts[:-1]).any():  # not np.diff: it wraps across the int64 range
                raise ValueError(f"events: {field} of the {'exchange' if flag == EXCH_EVENT else 'feed'} "
                                 "rows must not go back in time")

    @property
    def tick_size(self) -> float:
        return self.config.tick_size

    @property
    def lot_size(self) -> float:
        return self.config.lot_size

    def first_ts(self) -> int | None:
        """The earliest time this asset's stream has anything to say (exchange or feed)."""
        ev = self.events["ev"]
        times = [self.events["exch_ts"][(ev & EXCH_EVENT) != 0][:1],
                 self.events["local_ts"][(ev & LOCAL_EVENT) != 0][:1]]
        found = [int(t[0]) for t in times if len(t)]
        return min(found) if found else None


class Order:
    """The strategy's view of one order: what the reports that reached it so far say.

    ``price_tick`` is ``price`` in ticks. ``status`` is an ``OrderStatus`` (PENDING until the
    exchange's ack arrives); ``pending``
    names a request sent and not yet answered ("new", "cancel", "modify" or None);
    ``queue_ahead`` is the simulator's current estimate of the quantity ahead at our price
    (a model figure, as a real desk would estimate it from the feed).
    """

    __slots__ = ("_core", "_notional", "_slot", "asset", "filled", "id", "leaves", "order_type",
                 "pending", "price", "price_tick", "qty", "side", "status", "tif")

    def __init__(self, oid, asset, side, tick, price, qty, tif, order_type, core, slot):
        self.id, self.asset, self.side, self.price, self.qty = oid, asset, side, price, qty
        self.price_tick = tick
        self.tif, self.order_type = tif, order_type
        self.leaves, self.filled, self._notional = qty, 0.0, 0.0
        self.status, self.pending = OrderStatus.PENDING, "new"
        self._core, self._slot = core, slot

    @property
    def avg_price(self) -> float:
        """Average execution price (NaN before the first fill)."""
        return self._notional / self.filled if self.filled else math.nan

    @property
    def live(self) -> bool:
        """Not known to be finished (pending, resting or partly filled)."""
        return self.status in _LIVE

    @property
    def cancellable(self) -> bool:
        """Acknowledged, still open, and no request in flight (hftbacktest's ``cancellable``)."""
        return self.pending is None and self.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)

    @property
    def queue_ahead(self) -> float:
        if self.status not in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED):
            return 0.0
        return max(self._core.order_info(self._slot)[4], 0.0)

    def __repr__(self):
        side = "buy" if self.side == BUY else "sell"
        return (f"Order(id={self.id}, asset={self.asset}, {side} {self.qty:g} @ {self.price}, "
                f"{self.tif}, status={self.status.name}, filled={self.filled:g}, "
                f"leaves={self.leaves:g}, pending={self.pending})")


class _LegBase:
    """An asset's engine with its stream attached and snapshot applied, and its terms."""

    def __init__(self, index: int, asset: Asset, engine: str):
        cfg = asset.config
        self.index, self.asset = index, asset
        self.core = engine_class(engine)(*cfg.engine_params())
        self.core.add_book()
        self.core.attach(0, asset.events)
        if asset.snapshot is not None:
            sides, ticks, qtys = snapshot_levels(asset.snapshot, cfg.tick_size, cfg.lot_size)
            self.core.apply_snapshot(0, sides, ticks, qtys)
            self.core.apply_snapshot(0, sides, ticks, qtys, True)
        self.tick_size, self.lot_size = cfg.tick_size, cfg.lot_size
        # prices as tick / (1 / tick_size) when that is whole: 2015 / 100 is exactly 20.15's
        # double, where 2015 * 0.01 is 20.150000000000002
        inv = 1.0 / cfg.tick_size
        self.inv_tick = float(round(inv)) if abs(inv - round(inv)) < 1e-9 * inv else 0.0
        self.multiplier, self.maker_fee, self.taker_fee = asset.multiplier, asset.maker_fee, asset.taker_fee


class _Leg(_LegBase):
    """One asset's engine, local touch and account (internal)."""

    def __init__(self, index: int, asset: Asset, engine: str):
        super().__init__(index, asset, engine)
        self.position = self.cash = self.fees = self.volume = 0.0
        self.last_mid = math.nan
        self.refresh()

    def price(self, tick: int) -> float:
        return tick / self.inv_tick if self.inv_tick > 0.0 else tick * self.tick_size

    def refresh(self) -> None:
        """Cache the local touch (it only changes inside ``elapse``)."""
        bid, self.bid_qty, ask, self.ask_qty = self.core.local_touch(0)
        self.bid_tick, self.ask_tick = bid, ask
        self.bid = math.nan if bid == INVALID_MIN else self.price(bid)
        self.ask = math.nan if ask == INVALID_MAX else self.price(ask)
        if bid != INVALID_MIN and ask != INVALID_MAX:
            self.last_mid = (self.bid + self.ask) / 2.0

    def equity(self) -> float:
        if self.position == 0.0:
            return self.cash
        return self.cash + self.position * self.last_mid * self.multiplier


class AssetView:
    """Per-asset accessors of a backtest (``bt.asset(i)``); the same names as on ``bt``."""

    __slots__ = ("_bt", "_leg", "index")

    def __init__(self, bt, leg):
        self._bt, self._leg, self.index = bt, leg, leg.index

    name = property(lambda self: self._leg.asset.name)
    best_bid = property(lambda self: self._leg.bid, doc="Best bid of the local book (NaN if none).")
    best_ask = property(lambda self: self._leg.ask, doc="Best ask of the local book (NaN if none).")
    best_bid_tick = property(lambda self: self._leg.bid_tick, doc="Best bid in ticks.")
    best_ask_tick = property(lambda self: self._leg.ask_tick, doc="Best ask in ticks.")
    bid_qty = property(lambda self: self._leg.bid_qty)
    ask_qty = property(lambda self: self._leg.ask_qty)
    mid = property(lambda self: self._leg.last_mid, doc="Last two-sided mid seen (the mark).")
    tick_size = property(lambda self: self._leg.tick_size)
    lot_size = property(lambda self: self._leg.lot_size)
    multiplier = property(lambda self: self._leg.multiplier)
    position = property(lambda self: self._leg.position, doc="Signed contracts held.")
    cash = property(lambda self: self._leg.cash, doc="Cash from this asset's fills, fees included.")
    fees = property(lambda self: self._leg.fees, doc="Fees paid on this asset (rebates negative).")
    volume = property(lambda self: self._leg.volume, doc="Contracts traded on this asset.")
    equity = property(lambda self: self._leg.equity(), doc="cash + position * mid * multiplier.")

    @property
    def orders(self) -> dict:
        """id -> Order of this asset (as ``bt.orders``)."""
        index = self.index
        return {oid: o for oid, o in self._bt._orders.items() if o.asset == index}

    def depth(self, side, levels: int = 5) -> list[tuple[float, float]]:
        return self._bt.depth(side, levels, asset=self.index)

    def buy(self, price, qty, tif="GTC", order_type="limit") -> int:
        return self._bt.buy(price, qty, tif, order_type, asset=self.index)

    def sell(self, price, qty, tif="GTC", order_type="limit") -> int:
        return self._bt.sell(price, qty, tif, order_type, asset=self.index)

    def cancel_all(self) -> int:
        return self._bt.cancel_all(asset=self.index)


class Backtest(abc.ABC):
    """A strategy's market: several assets' streams, its orders, fills and account.

    ``Backtest(...)`` builds the C backtester (``fillsim._backtest``) unless the engine is
    "python", which builds ``PyBacktest``, its pure-Python twin; both are Backtests.

    Parameters
    ----------
    assets : one ``Asset`` or a sequence of them (asset ``i`` is ``assets[i]``).
    recorder : optional object with ``record_fill(fill)`` (each ``Fill`` as it reaches the
        strategy) and ``record_step(bt)`` (after every ``elapse``).
    engine : "cython" or "python"; default ``fillsim.ENGINE``.
    keep_fills : keep every fill in ``bt.fills`` (False with a recorder: flat memory).
    """

    def __new__(cls, assets, *, recorder=None, engine: str | None = None, keep_fills: bool = True):
        if cls is not Backtest:
            return super().__new__(cls)
        engine = engine or ENGINE
        if engine == "python":
            return super().__new__(PyBacktest)  # Python then runs PyBacktest.__init__
        engine_class(engine)  # the clear error when the extension is not built
        from ._backtest import Backtest as CyBacktest
        return CyBacktest(assets, recorder=recorder, keep_fills=keep_fills)


class PyBacktest(Backtest):
    """The pure-Python backtester: the reference the C one (``fillsim._backtest``) is held to."""

    def __init__(self, assets, *, recorder=None, engine: str | None = "python",
                 keep_fills: bool = True):
        if engine not in (None, "python"):
            raise ValueError(f"PyBacktest runs the pure-Python engine, not {engine!r}")
        assets = check_assets(assets, recorder)
        self.engine = "python"
        self._legs = [_Leg(i, a, "python") for i, a in enumerate(assets)]
        self._views = [AssetView(self, leg) for leg in self._legs]
        self._recorder, self._keep_fills = recorder, keep_fills
        self._orders: dict[int, Order] = {}
        self._finished: list[int] = []  # ids finished during the last elapse: dropped at the next
        self._fills: list[Fill] = []
        self._next_id = 1
        self.decisions = 0
        starts = [t for t in (a.first_ts() for a in assets) if t is not None]
        self._now = min(starts) if starts else 0
        self._done = not starts
        self._ended = False  # every asset's rows are applied (requests sent later count for nothing)

    # ---- the clock -------------------------------------------------------------------------

    @property
    def now(self) -> int:
        """The strategy's local time, ns."""
        return self._now

    def elapse(self, ns: int) -> bool:
        """Let ``ns`` of market time pass; False once the data is over and every request sent
        before its end is answered (requests sent after it are never answered)."""
        if not isinstance(ns, (int, np.integer)) or ns < 0:
            raise ValueError(f"ns must be a whole number of nanoseconds >= 0, got {ns!r}")
        for oid in self._finished:
            del self._orders[oid]
        self._finished.clear()
        if self._done:
            self._step_recorded()
            return False
        until = min(self._now + int(ns), INVALID_MAX)  # any ns: the clock stops at the end of time
        busy = False
        merged = []
        for leg in self._legs:
            busy |= leg.core.step(until)
        if not self._ended and not any(leg.core.rows_left() for leg in self._legs):
            self._end_data(until)
        for leg in self._legs:
            merged.extend((r[10], leg.index, r) for r in leg.core.delivered(until))
        if len(self._legs) > 1:
            merged.sort(key=lambda x: (x[0], x[1]))  # stable: each asset's own order is kept
        for _, i, r in merged:
            self._report(self._legs[i], r)
        for leg in self._legs:
            leg.refresh()
        self._now = until
        self._done = not busy
        self.decisions += 1
        self._step_recorded()
        return busy

    def _end_data(self, until: int) -> None:
        """The last rows of every asset are applied: requests sent from now on are never
        answered, so elapse ends once those already sent are: a strategy that keeps sending
        cannot keep the loop alive."""
        self._ended = True
        for leg in self._legs:
            leg.core.end_stream(until)

    def _step_recorded(self) -> None:
        if self._recorder is not None:
            self._recorder.record_step(self)

    def _report(self, leg: _Leg, report) -> None:
        kind, oid, _book, side, tick, exec_tick, exec_qty, leaves, maker, exch_ts, local_ts = report
        o = self._orders.get(oid)
        if o is None:
            return  # a late answer about an order already dropped (a cancel race)
        if kind == _FILL:
            price = leg.price(exec_tick)
            o.filled += exec_qty
            o._notional += price * exec_qty
            o.leaves = leaves
            o.status = OrderStatus.FILLED if leaves == 0.0 else OrderStatus.PARTIALLY_FILLED
            fee = exec_qty * (leg.maker_fee if maker else leg.taker_fee)
            leg.position += side * exec_qty
            leg.cash -= side * price * exec_qty * leg.multiplier + fee
            leg.fees += fee
            leg.volume += exec_qty
            if self._keep_fills or self._recorder is not None:
                fill = Fill(oid, leg.index, side, price, exec_qty, exch_ts, local_ts, maker, fee)
                if self._keep_fills:
                    self._fills.append(fill)
                if self._recorder is not None:
                    self._recorder.record_fill(fill)
        elif kind == _ACK:
            o.status = OrderStatus.NEW if o.filled == 0.0 else OrderStatus.PARTIALLY_FILLED
            o.leaves = leaves
            if o.pending == "new":
                o.pending = None
        elif kind == _MODIFIED:
            o.price_tick, o.leaves, o.qty = tick, leaves, o.filled + leaves
            o.price = leg.price(tick)
            if o.status in _LIVE:
                o.status = OrderStatus.NEW if o.filled == 0.0 else OrderStatus.PARTIALLY_FILLED
            o.pending = None
        elif kind == _CANCEL_REJECTED or kind == _MODIFY_REJECTED:
            if o.pending in ("cancel", "modify"):
                o.pending = None
        else:  # CANCELED, EXPIRED, REJECTED: the order is done
            o.status = (OrderStatus.CANCELED if kind == _CANCELED else
                        OrderStatus.EXPIRED if kind == _EXPIRED else OrderStatus.REJECTED)
            o.leaves = 0.0
        if o.status not in _LIVE and o._slot >= 0:
            o.pending = None
            leg.core.release(o._slot)
            o._slot = -1
            self._finished.append(oid)

    # ---- asset 0 accessors (bt.asset(i) for the others) -----------------------------------

    def asset(self, i: int) -> AssetView:
        """Per-asset accessors of asset ``i``."""
        return self._views[_index(i, len(self._legs))]

    @property
    def n_assets(self) -> int:
        return len(self._legs)

    best_bid = property(lambda self: self._legs[0].bid, doc="Asset 0's best bid (NaN if none).")
    best_ask = property(lambda self: self._legs[0].ask, doc="Asset 0's best ask (NaN if none).")
    best_bid_tick = property(lambda self: self._legs[0].bid_tick, doc="Asset 0's best bid in ticks.")
    best_ask_tick = property(lambda self: self._legs[0].ask_tick, doc="Asset 0's best ask in ticks.")
    bid_qty = property(lambda self: self._legs[0].bid_qty)
    ask_qty = property(lambda self: self._legs[0].ask_qty)
    mid = property(lambda self: self._legs[0].last_mid, doc="Asset 0's mark (last two-sided mid).")
    tick_size = property(lambda self: self._legs[0].tick_size)
    lot_size = property(lambda self: self._legs[0].lot_size)
    multiplier = property(lambda self: self._legs[0].multiplier)
    position = property(lambda self: self._legs[0].position, doc="Asset 0's signed position.")
    volume = property(lambda self: sum([leg.volume for leg in self._legs]))

    @property
    def cash(self) -> float:
        """The account's cash: every fill's cash flow (price x qty x multiplier) and fee."""
        return sum([leg.cash for leg in self._legs])

    @property
    def fees(self) -> float:
        return sum([leg.fees for leg in self._legs])

    @property
    def equity(self) -> float:
        """cash + sum of position x mid x multiplier over the assets."""
        return sum([leg.equity() for leg in self._legs])

    @property
    def orders(self):
        """Read-only id -> Order of every open order and those that finished in the last elapse."""
        return MappingProxyType(self._orders)

    @property
    def fills(self) -> list[Fill]:
        """This run's fills, in the order they reached the strategy (empty if keep_fills=False)."""
        return self._fills

    def depth(self, side, levels: int = 5, *, asset: int = 0) -> list[tuple[float, float]]:
        """Up to ``levels`` (price, qty) of the local book's bid (side "bid"/+1) or ask ("ask"/-1)."""
        return _depth(self._legs[_index(asset, len(self._legs))], side, levels)

    # ---- orders ----------------------------------------------------------------------------

    def buy(self, price, qty, tif="GTC", order_type="limit", *, asset: int = 0) -> int:
        """Send a buy order at local time ``now``; returns its id. Market orders may pass None."""
        return self._submit(BUY, price, qty, tif, order_type, asset)

    def sell(self, price, qty, tif="GTC", order_type="limit", *, asset: int = 0) -> int:
        """Send a sell order at local time ``now``; returns its id."""
        return self._submit(SELL, price, qty, tif, order_type, asset)

    def modify(self, order_id: int, price, qty) -> None:
        """Ask for a new price and total size (the executed part counts against ``qty``)."""
        o = self._order(order_id)
        leg = self._legs[o.asset]
        tick, qty = _checked_tick(price, leg.tick_size), _checked_qty(qty, leg.lot_size)
        leg.core.modify(self._now, o._slot, o.id, tick, qty)
        if o.status in _LIVE:
            o.pending = "modify"

    def cancel(self, order_id: int) -> None:
        """Ask to cancel; the answer (CANCELED, or nothing if it finished first) comes later."""
        o = self._order(order_id)
        self._legs[o.asset].core.cancel(self._now, o._slot, o.id)
        if o.status in _LIVE:
            o.pending = "cancel"

    def cancel_all(self, *, asset: int | None = None) -> int:
        """Cancel every open order (of one asset, or all) without a cancel in flight; the count."""
        only = -1 if asset is None else _index(asset, len(self._legs))
        n = 0
        for o in list(self._orders.values()):
            if o.status in _LIVE and o.pending != "cancel" and (only < 0 or o.asset == only):
                self._legs[o.asset].core.cancel(self._now, o._slot, o.id)
                o.pending = "cancel"
                n += 1
        return n

    def _submit(self, side, price, qty, tif, order_type, asset) -> int:
        leg = self._legs[_index(asset, len(self._legs))]
        tif_code = _code("tif", tif, _TIFS)
        type_code = _code("order_type", order_type, _TYPES)
        qty = _checked_qty(qty, leg.lot_size)
        if type_code == 1 and price is None:
            tick = leg.ask_tick if side == BUY else leg.bid_tick
            if tick in (INVALID_MAX, INVALID_MIN):
                tick = 0
        else:
            tick = _checked_tick(price, leg.tick_size)
        oid = self._next_id
        self._next_id += 1
        slot = leg.core.submit(self._now, oid, 0, side, tick, qty, tif_code, type_code, -1)
        self._orders[oid] = Order(oid, leg.index, side, tick, leg.price(tick), qty,
                                  _TIF_NAMES[tif_code], _TYPE_NAMES[type_code], leg.core, slot)
        return oid

    def _order(self, order_id) -> Order:
        o = self._orders.get(order_id) if isinstance(order_id, (int, np.integer)) else None
        if o is None:
            _unknown_order(order_id)
        return o


# ---- shared by both backtesters --------------------------------------------------------------

def check_assets(assets, recorder) -> list[Asset]:
    """The assets as a list; ValueError for anything else, or a recorder without its methods."""
    if isinstance(assets, Asset):
        assets = [assets]
    if not isinstance(assets, Sequence) or not assets:
        raise ValueError("assets must be a non-empty list of fillsim.Asset")
    for i, a in enumerate(assets):
        if not isinstance(a, Asset):
            raise ValueError(f"assets[{i}] must be a fillsim.Asset, not {type(a).__name__}")
    if recorder is not None and not (callable(getattr(recorder, "record_fill", None))
                                     and callable(getattr(recorder, "record_step", None))):
        raise ValueError("recorder must have record_fill(fill) and record_step(bt) methods")
    return list(assets)


def _depth(leg, side, levels) -> list[tuple[float, float]]:
    code = {"bid": BUY, "buy": BUY, BUY: BUY, "ask": SELL, "sell": SELL, SELL: SELL}.get(side)
    if code is None:
        raise ValueError(f"side must be 'bid' (+1) or 'ask' (-1), got {side!r}")
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels <= 0:
        raise ValueError(f"levels must be a positive whole number, got {levels!r}")
    return [(leg.price(t), q) for t, q in leg.core.local_depth(0, code, int(levels))]


def _index(asset, n: int) -> int:
    if isinstance(asset, bool) or not isinstance(asset, (int, np.integer)) or not 0 <= asset < n:
        raise ValueError(f"asset must be an index in 0..{n - 1}, got {asset!r}")
    return int(asset)


def _unknown_order(order_id):
    raise ValueError(f"order_id {order_id!r} is unknown: never sent here, or finished before the "
                     "last elapse")


def _checked_tick(price, tick_size: float) -> int:
    if isinstance(price, bool) or not isinstance(price, (int, float, np.integer, np.floating)):
        raise ValueError(f"price must be a number, got {price!r}")
    x = float(price) / tick_size
    if not math.isfinite(x):
        raise ValueError(f"price must be finite, got {price!r} (is that side of the book empty?)")
    if abs(x) >= 2**52:
        raise ValueError(f"price {price!r} is out of range")
    tick = round(x)
    if abs(x - tick) > 1e-6:
        raise ValueError(f"price {price!r} is not on the tick size {tick_size}")
    return tick


def _checked_qty(qty, lot_size: float) -> float:
    if isinstance(qty, bool) or not isinstance(qty, (int, float, np.integer, np.floating)):
        raise ValueError(f"qty must be a number, got {qty!r}")
    q = float(qty)
    if not (math.isfinite(q) and q > 0):
        raise ValueError(f"qty must be positive, got {qty!r}")
    lots = q / lot_size
    if not lots < MAX_LOTS:
        raise ValueError(f"qty {qty!r} is 2**53 lots of {lot_size} or more")
    if abs(lots - round(lots)) > 1e-9 * max(1.0, lots):
        raise ValueError(f"qty {qty!r} is not a whole number of lots of {lot_size}")
    return q


def _code(label, value, codes) -> int:
    code = codes.get(value) if isinstance(value, str) else None
    if code is not None:
        return code
    if isinstance(value, str) and value.upper() in codes:
        return codes[value.upper()]
    if isinstance(value, str) and value.lower() in codes:
        return codes[value.lower()]
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value in codes.values():
        return int(value)
    raise ValueError(f"{label} must be one of {', '.join(codes)}, got {value!r}")


def _records(label: str, arr) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim != 1 or arr.dtype.names is None or set(EVENT_DTYPE.names) - set(arr.dtype.names):
        raise ValueError(f"{label} must be a 1-d structured array of fillsim.EVENT_DTYPE rows")
    if arr.dtype != EVENT_DTYPE:
        out = np.empty(len(arr), dtype=EVENT_DTYPE)
        for field in EVENT_DTYPE.names:
            out[field] = arr[field]
        arr = out
    return np.ascontiguousarray(arr)


def _register_c_backtest() -> None:
    """Make the C backtester a Backtest for isinstance (when the extension is built)."""
    try:
        from ._backtest import Backtest as CyBacktest
    except ImportError:
        return
    Backtest.register(CyBacktest)
