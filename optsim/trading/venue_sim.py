"""The fill step backed by fillsim: one simulated exchange per venue, fed by the quote feed.

Each venue's ``fillsim.OnlineEngine`` holds that venue's displayed quote (its L1 from
``quotes.json``) for the series we have orders in, and its trade prints. A single-leg order is
sent at the wall-clock time plus the venue's entry latency, takes displayed size if it crosses,
and otherwise rests with a queue position that trades and depth changes advance. A multi-leg
order fills as a package against the venue's leg quotes (``fillsim.fill_package``), all legs in
ratio or none, on arrival or later as the quotes move.

The engine clock is wall-clock nanoseconds. After a request the engine is advanced one round
trip (entry + response latency, with room for jitter), so the HTTP answer already carries what the
venue said; anything later arrives through ``on_market`` on the service's poll thread. That works per
change, not per resting order: only series whose venue quotes moved since the last call are shown
again, and only packages with a leg among them are tried.
"""
from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass

import fillsim
from fillsim import ReportKind

from ..config import Config, FillConfig, Venue
from .execution import Report
from ..domain.packages import legs, touch
from ..market.quotes import QuoteBook, VenueQuote
from .router import Route
from ..domain.spec import OrderSpec

ROUND_TRIP_ALLOWANCE = 4  # advance this many mean round trips after a request (jitter headroom)
MARKET_LIMIT = 1e9  # a market package's net limit: any price the legs show


def fill_config(fill: FillConfig, venue: Venue) -> fillsim.Config:
    """fillsim's config for one venue: its latencies, the configured queue model and jitter."""
    entry, response = int(venue.entry_latency_us * 1000), int(venue.response_latency_us * 1000)
    sigma = fill.latency_jitter_sigma * (entry if fill.latency_jitter == "normal" else 1)
    return fillsim.Config(tick_size=0.01, lot_size=1, entry_latency_ns=entry, response_latency_ns=response,
                          queue_model=fillsim.QueueModel(fill.queue_model, fill.queue_power),
                          partial_fills=fill.partial_fills,
                          jitter=fillsim.Jitter(fill.latency_jitter, sigma, seed=fill.seed))


@dataclass
class _Package:
    venue: str
    legs: tuple[fillsim.Leg, ...]
    limit: float
    leaves: int
    all_or_none: bool


class FillsimExecution:
    """The ``Execution`` the order desk uses when fillsim runs the venues."""

    def __init__(self, config: Config, quotes: QuoteBook):
        self.engine = fillsim.ENGINE
        self.quotes = quotes
        self.venues = {v.name: fillsim.OnlineEngine(fill_config(config.fill, v)) for v in config.venues}
        self._round_trip = {v.name: int((v.entry_latency_us + v.response_latency_us) * 1000 * ROUND_TRIP_ALLOWANCE)
                            for v in config.venues}
        self._live: dict[str, tuple[str, str]] = {}  # single-leg order id -> (venue, symbol)
        self._eid: dict[str, int] = {}  # single-leg order id -> its id in the venue's engine
        self._ids: dict[int, str] = {}  # engine id -> order id; a forgotten order's late reports map to nothing
        self._last_eid = 0
        self._watch: defaultdict[str, Counter[str]] = defaultdict(Counter)  # symbol -> live orders per venue
        self._packages: dict[str, _Package] = {}
        self._shown: dict[tuple[str, str], VenueQuote | None] = {}  # L1 last given to each venue's book
        self._seq = -1

    # ------------------------------------------------------------------ requests
    def submit(self, order_id: str, spec: OrderSpec, route: Route) -> list[Report]:
        if spec.kind == "multi":
            return self._submit_package(order_id, spec, route.venue)
        leg, now = spec.legs[0], time.time_ns()
        symbol = leg.symbol.padded
        self._show(route.venue, symbol, now)
        tif = _tif(spec)
        ord_type = fillsim.MARKET if spec.order_type == "MARKET" else fillsim.LIMIT
        price = float(spec.limit_price) if spec.limit_price is not None else 0.0
        self.venues[route.venue].submit(self._new_eid(order_id), symbol, leg.sign, price, leg.qty, now, tif, ord_type)
        self._rest(order_id, route.venue, symbol)
        return self._advance(route.venue, now + self._round_trip[route.venue])

    def restore(self, order_id: str, spec: OrderSpec, venue: str, leaves: int) -> None:
        """Rest a working order again after a restart; it joins the back of the queue."""
        if spec.kind == "multi":
            self._packages[order_id] = self._package(spec, venue, leaves)
            return
        leg, now = spec.legs[0], time.time_ns()
        self._show(venue, leg.symbol.padded, now)
        price = float(spec.limit_price) if spec.limit_price is not None else 0.0
        self.venues[venue].submit(self._new_eid(order_id), leg.symbol.padded, leg.sign, price, leaves, now,
                                  _tif(spec))
        self._rest(order_id, venue, leg.symbol.padded)

    def modify(self, order_id: str, spec: OrderSpec, leaves: int) -> list[Report]:
        """Cancel/replace to ``spec``'s price with ``leaves`` contracts still to fill.

        A single-leg order keeps its queue place unless the price changes or the size grows (fillsim's
        rule); a fill that reaches the venue first is reported before the outcome.
        """
        if order_id in self._packages:
            pkg = self._packages[order_id]
            pkg.limit = float(spec.limit_price) if spec.limit_price is not None else MARKET_LIMIT
            pkg.leaves = leaves
            return self._try_package(order_id, maker=True)
        if order_id not in self._live:
            return [Report(order_id, "modify_rejected")]
        venue, now = self._live[order_id][0], time.time_ns()
        engine = self.venues[venue]
        eid = self._eid[order_id]
        state = engine.order(eid)
        executed = state.qty - state.leaves_qty if state else 0  # since it reached this engine (restores start at 0)
        engine.modify(eid, float(spec.limit_price), executed + leaves, now)
        return self._advance(venue, now + self._round_trip[venue])


    def forget(self, order_id: str) -> None:
        """Take an order off its venue without a report, as if never sent (its store write rolled back)."""
        self._packages.pop(order_id, None)
        if order_id in self._live:
            venue = self._live[order_id][0]
            self._forget(order_id)
            eid = self._eid.pop(order_id)
            del self._ids[eid]
            self.venues[venue].cancel(eid, time.time_ns())  # whatever it reports later maps to no order

    def cancel(self, order_id: str) -> list[Report]:
        if order_id in self._packages:
            self._packages.pop(order_id)
            return [Report(order_id, "cancelled", exch_ts_ns=time.time_ns())]
        if order_id not in self._live:
            return [Report(order_id, "cancel_rejected")]
        venue, now = self._live[order_id][0], time.time_ns()
        self.venues[venue].cancel(self._eid[order_id], now)
        return self._advance(venue, now + self._round_trip[venue])

    def queue_ahead(self, order_id: str) -> float | None:
        if order_id not in self._live:
            return None
        state = self.venues[self._live[order_id][0]].order(self._eid[order_id])
        return state.queue_ahead if state else None

    # ------------------------------------------------------------------ market data
    def on_market(self) -> list[Report]:
        """Give each venue the quotes that moved and the prints of our series; collect fills up to now."""
        now = time.time_ns()
        snap, trades = self.quotes.snapshot, self.quotes.drain_trades()
        if not self._live and not self._packages:
            self._seq = snap.seq if snap is not None else self._seq
            return []
        for trade in trades:
            if trade.venue in self._watch.get(trade.symbol, ()):
                side = fillsim.BUY if trade.aggressor == "BUY" else fillsim.SELL
                self.venues[trade.venue].trade(trade.symbol, side, trade.price, trade.qty, int(trade.ts * 1e9))
        moved: set[str] = set()
        if snap is not None and snap.seq != self._seq:
            moved = set(snap.symbols if snap.seq < self._seq else snap.changed_since(self._seq))
            self._seq, ts = snap.seq, int(snap.ts * 1e9)
            for symbol in moved & self._watch.keys():
                for venue in self._watch[symbol]:
                    self._show(venue, symbol, ts)
        reports = []
        for venue in {venue for venues in self._watch.values() for venue in venues}:
            reports += self._advance(venue, now)
        for order_id, pkg in list(self._packages.items()):
            if any(leg.instrument in moved for leg in pkg.legs):
                reports += self._try_package(order_id, maker=True)
        return reports

    def _rest(self, order_id: str, venue: str, symbol: str) -> None:
        self._live[order_id] = (venue, symbol)
        self._watch[symbol][venue] += 1

    def _forget(self, order_id: str) -> None:
        venue, symbol = self._live.pop(order_id)
        venues = self._watch[symbol]
        venues[venue] -= 1
        if venues[venue] <= 0:
            del venues[venue]
            if not venues:
                del self._watch[symbol]

    def _show(self, venue: str, symbol: str, ts_ns: int) -> None:
        """Update the venue's book to its current displayed quote (only what changed)."""
        quote = self.quotes.quote(symbol)
        now = quote.venues.get(venue) if quote and venue in quote.venues else None
        before = self._shown.get((venue, symbol))
        if now == before:
            return
        engine = self.venues[venue]
        for side, px, size, old_px in ((fillsim.BUY, now and now.bid, now and now.bid_size, before and before.bid),
                                       (fillsim.SELL, now and now.ask, now and now.ask_size, before and before.ask)):
            if old_px and old_px != px:
                engine.depth(symbol, side, old_px, 0, ts_ns)
            if px and size:
                engine.depth(symbol, side, px, size, ts_ns)
        self._shown[(venue, symbol)] = now

    def _advance(self, venue: str, ts_ns: int) -> list[Report]:
        out, done = [], []
        for r in self.venues[venue].advance(ts_ns):
            order_id = self._ids.get(r.order_id)
            if order_id is None:  # an order forgotten after its store write rolled back
                continue
            if r.kind == ReportKind.FILL:
                qty = int(r.exec_qty)
                out.append(Report(order_id, "fill", 0, round(r.exec_px, 6), qty, qty, "maker" if r.maker else "taker",
                                  r.exch_ts, r.local_ts))
            elif r.kind in _KINDS:
                out.append(Report(order_id, _KINDS[r.kind], exch_ts_ns=r.exch_ts, local_ts_ns=r.local_ts))
            if r.leaves_qty == 0 and r.kind not in (ReportKind.CANCEL_REJECTED, ReportKind.MODIFY_REJECTED):
                if order_id in self._live:
                    self._forget(order_id)
                done.append(r.order_id)
        for eid in done:  # after the batch: a cancel that lost the race to this fill still maps to its order
            order_id = self._ids.pop(eid, None)
            if self._eid.get(order_id) == eid:
                del self._eid[order_id]
        return out

    # ------------------------------------------------------------------ packages
    def _package(self, spec: OrderSpec, venue: str, leaves: int) -> _Package:
        limit = float(spec.limit_price) if spec.limit_price is not None else MARKET_LIMIT
        return _Package(venue, legs(spec), limit, leaves, all_or_none=spec.time_in_force == "FOK")

    def _submit_package(self, order_id: str, spec: OrderSpec, venue: str) -> list[Report]:
        self._packages[order_id] = self._package(spec, venue, spec.qty)
        if spec.post_only:  # rests only: it may fill later as the maker, never on arrival
            return []
        reports = self._try_package(order_id, maker=False)
        if order_id in self._packages and (spec.time_in_force in ("IOC", "FOK") or spec.order_type == "MARKET"):
            self._packages.pop(order_id)
            reports.append(Report(order_id, "expired", exch_ts_ns=time.time_ns()))
        return reports

    def _try_package(self, order_id: str, maker: bool) -> list[Report]:
        pkg = self._packages[order_id]
        touches = {}
        for leg in pkg.legs:
            quote = self.quotes.quote(leg.instrument)
            vq = quote.venues.get(pkg.venue) if quote else None
            if vq is None:
                return []
            touches[leg.instrument] = touch(vq)
        fill = fillsim.fill_package(pkg.legs, pkg.limit, pkg.leaves, touches, pkg.all_or_none)
        if fill is None:
            return []
        pkg.leaves -= fill.qty
        if pkg.leaves == 0:
            self._packages.pop(order_id)
        now = time.time_ns()
        liquidity = "maker" if maker else "taker"
        last = len(fill.legs) - 1
        return [Report(order_id, "fill", i, leg.px, leg.qty, fill.qty if i == last else 0, liquidity, now, now)
                for i, leg in enumerate(fill.legs)]

    def _new_eid(self, order_id: str) -> int:
        """A fresh engine id per submission, so a restored order never meets its forgotten twin's reports."""
        self._last_eid += 1
        self._eid[order_id], self._ids[self._last_eid] = self._last_eid, order_id
        return self._last_eid


_KINDS = {ReportKind.CANCELED: "cancelled", ReportKind.EXPIRED: "expired", ReportKind.REJECTED: "rejected",
          ReportKind.CANCEL_REJECTED: "cancel_rejected", ReportKind.MODIFY_REJECTED: "modify_rejected"}


def _tif(spec: OrderSpec) -> int:
    """fillsim's time in force: DAY and GTC rest alike (the desk expires DAY orders at the close)."""
    if spec.post_only:
        return fillsim.GTX
    return {"IOC": fillsim.IOC, "FOK": fillsim.FOK}.get(spec.time_in_force, fillsim.GTC)
