"""Venue choice: best price, then lowest cost, never through the live NBBO, never to a venue that is down.

A venue marked down (by hand, by a drill, or gone dark in the feed) leaves the protected set
(self-help), so the NBBO the router protects is recomputed over live venues only. A complex order
goes to one venue that quotes every leg. An order that is not marketable rests where the maker
rebate is best.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from ..config import Config
from ..domain.packages import bid, offer, synthetic
from ..market.quotes import QuoteBook, VenueQuote
from .risk import Reject
from ..domain.spec import OrderSpec

HAND = "hand"  # a venue marked down through POST /admin/venues/<venue>


@dataclass(frozen=True, slots=True)
class Route:
    venue: str
    marketable: bool  # crosses the venue's quote on arrival
    price: float | None  # the venue's touch for a marketable order (single) or synthetic touch (multi)
    legs: tuple[VenueQuote, ...]  # the venue's quote per leg at routing time


class Router:
    def __init__(self, config: Config, quotes: QuoteBook):
        self.config, self.quotes = config, quotes
        self.venues = {v.name: v for v in config.venues}
        # the tie-breaks between venues at the same price, looked up instead of rebuilt per venue per order
        self._take_cost = {v.name: (v.fee_take, v.entry_latency_us) for v in config.venues}
        self._make_cost = {v.name: (v.fee_make, v.entry_latency_us) for v in config.venues}
        self._down: dict[str, set[str]] = {}  # venue -> who marked it down: HAND and/or a drill's name
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ venue state (hand marks and drills)
    def mark(self, venue: str, up: bool, by: str = HAND) -> None:
        """Mark a venue down (or up) on behalf of ``by``: marked up by hand it is up; marked up by a drill,
        only that drill's mark goes, so clearing a drill leaves what an operator marked down by hand."""
        with self._lock:
            marks = self._down.setdefault(venue, set())
            if not up:
                marks.add(by)
            elif by == HAND:
                marks.clear()
            else:
                marks.discard(by)
            if not marks:
                del self._down[venue]

    def marks(self, venue: str) -> set[str]:
        """Who has ``venue`` marked down (empty: nobody)."""
        with self._lock:
            return set(self._down.get(venue, ()))

    def is_up(self, venue: str) -> bool:
        snap = self.quotes.snapshot
        return venue not in self._down and not (snap and venue in snap.venues_down)

    def status(self) -> dict[str, bool]:
        return {name: self.is_up(name) for name in self.venues}

    def marked_down(self, by: str | None = None) -> set[str]:
        """The venues marked down (by anyone, or by ``by`` only)."""
        with self._lock:
            return {venue for venue, marks in self._down.items() if by is None or by in marks}

    # ------------------------------------------------------------------ routing
    def route(self, spec: OrderSpec) -> Route | Reject:
        legs = [self.quotes.quote(leg.symbol.padded) for leg in spec.legs]
        candidates = [name for name, venue in self.venues.items()
                      if self.is_up(name) and venue.max_legs >= len(spec.legs)
                      and all(q is not None and name in q.venues for q in legs)]
        if not candidates:
            down = sorted(n for n in self.venues if not self.is_up(n))
            return Reject("ROUTE_DOWN", "", "no live venue quotes " + ("this series" if spec.kind == "single" else
                          "every leg") + (f" (down: {', '.join(down)})" if down else ""))
        priced = [(name, self._touch(spec, [q.venues[name] for q in legs])) for name in candidates]
        buying = spec.side == "BUY" or spec.kind == "multi"
        limit = float(spec.limit_price) if spec.limit_price is not None else None
        marketable = [(name, px) for name, px in priced if px is not None and self._crosses(limit, buying, px)]
        if marketable:
            best = min(px for _, px in marketable) if buying else max(px for _, px in marketable)
            at_best = [name for name, px in marketable if abs(px - best) < 1e-9]
            venue = min(at_best, key=self._take_cost.__getitem__)
            return Route(venue, True, best, tuple(q.venues[venue] for q in legs))
        venue = min(candidates, key=self._make_cost.__getitem__)
        return Route(venue, False, None, tuple(q.venues[venue] for q in legs))

    def _touch(self, spec: OrderSpec, venue_legs: list[VenueQuote]) -> float | None:
        """The price this venue would trade the order at now: contra side per leg, netted for a package."""
        if spec.kind == "single":
            return offer(venue_legs[0]) if spec.side == "BUY" else bid(venue_legs[0])
        return synthetic(spec, venue_legs).ask

    @staticmethod
    def _crosses(limit: float | None, buying: bool, touch: float) -> bool:
        """A MARKET order (no limit) always does; a buy (or any package) reaches up to the touch, a sell down."""
        if limit is None:
            return True
        return limit >= touch - 1e-9 if buying else limit <= touch + 1e-9
