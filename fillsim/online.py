"""The online face: one venue's simulated exchange, fed live by the service.

The caller pushes market data and order requests as they happen and calls ``advance(now)``
to collect what has come back by then. Every method takes the engine's lock, so one engine
may be shared by the threads of a Flask/waitress service.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from .codes import INVALID_MAX, INVALID_MIN, OrderStatus, ReportKind
from .config import Config
from .engines import ENGINE, engine_class
from .ticks import MAX_LOTS, to_tick
from .types import BUY, DEPTH_CLEAR_EVENT, DEPTH_EVENT, GTC, LIMIT, SELL, TRADE_EVENT

__all__ = ["OnlineEngine", "OrderState", "Report", "Touch"]

_OPEN = (OrderStatus.PENDING, OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


@dataclass(frozen=True, slots=True)
class Report:
    """One exchange response, as it reaches us.

    ``px`` is the order's price, ``exec_px``/``exec_qty``/``maker`` describe a FILL (None / 0
    / False otherwise), ``leaves_qty`` is what stays open after this report (for CANCELED:
    what was cancelled). ``exch_ts`` is when it happened at the exchange, ``local_ts`` when it
    reaches us. ``instrument`` is None for a request about an order the engine never saw.
    """

    kind: ReportKind
    order_id: int
    instrument: int | None
    side: int
    px: float | None
    exec_px: float | None
    exec_qty: float
    leaves_qty: float
    maker: bool
    exch_ts: int
    local_ts: int


@dataclass(frozen=True, slots=True)
class OrderState:
    """An order as the exchange sees it after the last ``advance``."""

    order_id: int
    instrument: int
    side: int
    px: float
    qty: float
    status: OrderStatus
    leaves_qty: float
    queue_ahead: float  # estimated quantity ahead of it at its price (resting orders)


@dataclass(frozen=True, slots=True)
class Touch:
    """Best bid and ask of one instrument's exchange book (None when a side is empty)."""

    bid: float | None
    bid_qty: float
    ask: float | None
    ask_qty: float


class OnlineEngine:
    """One venue's exchange simulator for many instruments (any hashable ids).

    Parameters
    ----------
    config : Config, dict or None (defaults).
    engine : "cython" or "python"; default ``fillsim.ENGINE``.

    Times are int64 ns on one clock. Market data given with ``ts_ns`` is the exchange's view
    at that time; a request sent at ``ts_ns`` reaches the exchange one entry latency later and
    is judged against the book then. Market data older than data already queued, or than the
    last ``advance``, is applied at that newer time.
    """

    def __init__(self, config=None, *, engine: str | None = None):
        self.config = Config.coerce(config)
        self.engine = engine or ENGINE
        self._core = engine_class(self.engine)(*self.config.engine_params())
        self._lock = threading.Lock()
        self._books: dict[object, int] = {}
        self._instruments: list[object] = []
        self._slots: dict[int, int] = {}
        self._order_meta: dict[int, tuple] = {}  # slot -> (instrument, side)

    # ---- market data -------------------------------------------------------------------------

    def depth(self, instrument, side: int, px: float, qty: float, ts_ns: int) -> None:
        """A price level's new total on the bid (side=+1) or ask (side=-1); qty 0 removes it."""
        self._market(instrument, DEPTH_EVENT, _side(side), px, _qty(qty, self.config.lot_size, zero_ok=True), ts_ns)

    def trade(self, instrument, aggressor_side: int, px: float, qty: float, ts_ns: int) -> None:
        """A print; ``aggressor_side`` +1 = buyer lifted the offer, -1 = seller hit the bid."""
        self._market(instrument, TRADE_EVENT, _side(aggressor_side), px, _qty(qty, self.config.lot_size), ts_ns)

    def clear(self, instrument, ts_ns: int, side: int = 0, px: float = 0.0) -> None:
        """Clear the book: one side from its best through ``px``, or everything (side=0)."""
        if side not in (0, BUY, SELL):
            raise ValueError("side must be +1, -1 or 0 (both)")
        self._market(instrument, DEPTH_CLEAR_EVENT, side, px, 0.0, ts_ns)

    def _market(self, instrument, ev_type, side, px, qty, ts_ns):
        tick = to_tick(px, self.config.tick_size)
        with self._lock:
            self._core.market_event(int(ts_ns), self._book(instrument), ev_type, side, tick, qty)

    def _book(self, instrument) -> int:
        book = self._books.get(instrument)
        if book is None:
            book = self._books[instrument] = self._core.add_book()
            self._instruments.append(instrument)
        return book

    # ---- requests ----------------------------------------------------------------------------

    def submit(self, order_id: int, instrument, side: int, px: float, qty: float, ts_ns: int,
               tif: int = GTC, ord_type: int = LIMIT) -> None:
        """Send a new order at local time ``ts_ns``.

        Raises ValueError for a bad side, size, price, tif or type, or an ``order_id`` that is
        still open (an id may be reused once its order is done).
        """
        side, qty = _side(side), _qty(qty, self.config.lot_size)
        if tif not in (0, 1, 2, 3) or ord_type not in (0, 1):
            raise ValueError("tif must be 0..3 (GTC, IOC, FOK, GTX), ord_type 0 or 1 (limit, market)")
        tick = to_tick(px, self.config.tick_size)
        with self._lock:
            prev = self._slots.get(order_id)
            if prev is not None and self._core.order_info(prev)[0] in _OPEN:
                raise ValueError(f"order id {order_id} is still open")
            slot = self._core.submit(int(ts_ns), order_id, self._book(instrument), side, tick,
                                     qty, tif, ord_type, -1)
            self._slots[order_id] = slot
            self._order_meta[slot] = (instrument, side)

    def cancel(self, order_id: int, ts_ns: int) -> None:
        """Ask to cancel; answered by CANCELED, or CANCEL_REJECTED if nothing is live by then."""
        with self._lock:
            self._core.cancel(int(ts_ns), self._slots.get(order_id, -1), order_id)

    def modify(self, order_id: int, px: float, qty: float, ts_ns: int) -> None:
        """Ask for a new price and total size (executed quantity counts against ``qty``).

        The order keeps its queue place unless the price changes or the size grows; a new
        total at or below what has executed cancels the rest.
        """
        tick, qty = to_tick(px, self.config.tick_size), _qty(qty, self.config.lot_size)
        with self._lock:
            self._core.modify(int(ts_ns), self._slots.get(order_id, -1), order_id, tick, qty)

    # ---- the clock and queries ---------------------------------------------------------------

    def advance(self, ts_ns: int) -> list[Report]:
        """Apply everything up to ``ts_ns``; return the reports that reached us by then, in order."""
        with self._lock:
            raw = self._core.advance(int(ts_ns))
        tick_size = self.config.tick_size
        return [Report(ReportKind(kind), order_id,
                       self._instruments[book] if book >= 0 else None, side,
                       tick * tick_size if book >= 0 else None,
                       exec_tick * tick_size if kind == ReportKind.FILL else None,
                       exec_qty, leaves, maker, exch_ts, local_ts)
                for (kind, order_id, book, side, tick, exec_tick, exec_qty, leaves, maker,
                     exch_ts, local_ts) in raw]

    def order(self, order_id: int) -> OrderState | None:
        """The latest order with this id (None if never sent)."""
        with self._lock:
            slot = self._slots.get(order_id)
            if slot is None:
                return None
            status, tick, qty, leaves, front = self._core.order_info(slot)
            instrument, side = self._order_meta[slot]
        return OrderState(order_id, instrument, side, tick * self.config.tick_size, qty,
                          OrderStatus(status), leaves, max(front, 0.0))

    def touch(self, instrument) -> Touch:
        """Best bid/ask of the exchange book as of the last ``advance``."""
        with self._lock:
            best_bid, bid_qty, best_ask, ask_qty = self._core.touch(self._book(instrument))
        tick_size = self.config.tick_size
        return Touch(None if best_bid == INVALID_MIN else best_bid * tick_size, bid_qty,
                     None if best_ask == INVALID_MAX else best_ask * tick_size, ask_qty)


def _side(side) -> int:
    if side not in (BUY, SELL):
        raise ValueError(f"side must be +1 (buy/bid) or -1 (sell/ask), got {side!r}")
    return int(side)


def _qty(qty, lot_size: float, zero_ok: bool = False) -> float:
    qty = float(qty)
    if not math.isfinite(qty) or qty < 0 or (qty == 0 and not zero_ok):
        raise ValueError(f"quantity must be a positive number, got {qty!r}")
    if not qty / lot_size < MAX_LOTS:
        raise ValueError(f"quantity {qty!r} is 2**53 lots of {lot_size} or more")
    return qty
