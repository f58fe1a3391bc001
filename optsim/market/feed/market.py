"""The simulated options market: every listed series, priced and quoted by every venue, tick by tick.

Conflation (DOMAIN §7): all series are repriced every tick, but a series is requoted only when its
theo has moved at least half a tick since it was last quoted, on its slow refresh (staggered so
the chain does not requote at once), or when a drill changes how it must be quoted. Everything
random comes from streams seeded by ``feed.seed``, so the same seed gives the same market.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import numpy as np

from ...domain.chain import Chain, Contract
from ...config import TICK_CLASSES, Config
from ..feedctl import FaultSet
from ...domain.greeks import black_scholes
from ..snapshot import SERIES_DTYPE, TRADE_DTYPE, VENUE_DTYPE, Frame
from .prints import TradeTape
from .quoting import Ladder, Nbbo, Quoter, VenueQuote, VenueStyle, cross, half_spread, nbbo, typical_size
from .surface import SessionClock, SpotWalk, forward, skew_vol

FAST_MARKET_Z = 1.5  # an underlying move beyond this many σ√Δt widens the quotes


@dataclass(slots=True, eq=False)
class Series:
    """One listed contract and its live market."""

    contract: Contract
    row: int  # its row in the columnar snapshot
    symbol: str  # padded OCC, the key in quotes.json
    strike: float
    ladder: Ladder
    venues: tuple[VenueStyle, ...]  # the venues that make a market in it (stable per seed)
    refresh_phase: int
    theo: float = 0.0
    iv: float = 0.0
    vega: float = 0.0  # per vol point: wider quotes where a vol move costs the maker more
    quoted_theo: float | None = None  # the theo the venue quotes were built from
    quotes: dict[str, VenueQuote] = field(default_factory=dict)
    best: Nbbo = Nbbo(0, 0, None, 0, 0, None)
    out: dict = field(default_factory=dict)  # this series in quotes.json


def quoting_venues(styles: list[VenueStyle], symbol: str) -> tuple[VenueStyle, ...]:
    """The venues present on a series; the likeliest one stays if the draws would leave none."""
    draws = [(style.presence_draw(symbol) / max(style.presence, 1e-9), style) for style in styles]
    present = tuple(style for ratio, style in draws if ratio < 1.0)
    return present or (min(draws, key=lambda d: d[0])[1],)


class QuoteFeed:
    """The chain from config, its underlyings' random walks and the venue quotes on it."""

    def __init__(self, config: Config):
        feed = config.feed
        self.as_of = config.as_of
        self.rate, self.div_yield = config.chain.rate, config.chain.dividend_yield
        self.interval = feed.interval_s
        self.max_widen = feed.max_spread_widen
        self.refresh_ticks = max(1, round(feed.refresh_s / feed.interval_s))
        self.underlyings = config.underlyings
        self.venue_names = {v.name for v in config.venues}
        self.clock = SessionClock(config.as_of, feed.session_open, config.service.market_close)
        self.walks = {root: SpotWalk(u, random.Random(f"{feed.seed}:spot:{root}"))
                      for root, u in config.underlyings.items()}
        self.quoter = Quoter(random.Random(f"{feed.seed}:quotes"))
        self.tape = TradeTape(feed.trades_kept, feed.trade_probability, random.Random(f"{feed.seed}:trades"))
        styles = [VenueStyle(v, feed.seed) for v in config.venues]
        ladders = {name: Ladder(tc) for name, tc in TICK_CLASSES.items()}
        self.series = [Series(c, i, c.occ, float(c.strike), ladders[c.tick_class], quoting_venues(styles, c.occ),
                              i % self.refresh_ticks) for i, c in enumerate(Chain(config))]
        # the columnar snapshot (snapshot.py), kept up to date row by row as series are requoted
        self.venue_order = tuple(v.name for v in config.venues)
        self._venue_col = {name: j for j, name in enumerate(self.venue_order)}
        self.rows = np.zeros(len(self.series), dtype=SERIES_DTYPE)
        self.rows["symbol"] = [s.symbol.encode() for s in self.series]
        self.rows["bid_venue"] = self.rows["ask_venue"] = -1
        self.cells = np.zeros((len(self.series), len(self.venue_order)), dtype=VENUE_DTYPE)
        self._ivs = np.zeros(len(self.series))
        self.ticks = 0
        self.requotes = 0  # series requoted on the latest tick
        self._drills: tuple = ()

    def __len__(self) -> int:
        return len(self.series)

    @property
    def spots(self) -> dict[str, float]:
        return {root: walk.spot for root, walk in self.walks.items()}

    def dark(self, faults: FaultSet) -> list[str]:
        """The configured venues the venues_dark drill has taken down."""
        return sorted(faults.venues_dark & self.venue_names)

    # -- TICK --------------------------------------------------------------------------------------
    def step(self, faults: FaultSet, ts: float) -> None:
        """One interval: move the underlyings, reprice every series, requote those that moved, print."""
        if self.ticks:
            self.clock.advance(self.interval)
            for walk in self.walks.values():
                walk.step(self.interval)
        drills = (faults.crossed, faults.wide, faults.venues_dark)
        requote_all, self._drills = drills != self._drills, drills
        self.requotes = 0
        years = {}  # to each expiry's close, once per tick rather than once per series
        for s in self.series:
            expiry = s.contract.expiry
            if expiry not in years:
                years[expiry] = self.clock.years_to(self.clock.expiry_close(expiry))
            moneyness, days = self._reprice(s, years[expiry])
            if requote_all or self._stale(s):
                self._requote(s, faults, moneyness, days)
            self.tape.maybe_print(s.symbol, s.best, ts)
        self.ticks += 1

    def _reprice(self, s: Series, t: float) -> tuple[float, float]:
        c = s.contract
        spot = self.walks[c.underlying].spot
        fwd = forward(spot, t, self.rate, self.div_yield)
        s.iv = skew_vol(self.underlyings[c.underlying], s.strike, fwd)
        greeks = black_scholes(c.right, spot, s.strike, t, s.iv, self.rate, self.div_yield)
        s.theo, s.vega = greeks.price, greeks.vega
        s.out["theo"], s.out["iv"] = round(s.theo, 4), round(s.iv, 4)
        self._ivs[s.row] = s.iv
        return math.log(s.strike / fwd), t * 365.0

    def _stale(self, s: Series) -> bool:
        if s.quoted_theo is None or (self.ticks + s.refresh_phase) % self.refresh_ticks == 0:
            return True
        half_tick = s.ladder.tick(s.ladder.down(s.theo)) / 200
        return abs(s.theo - s.quoted_theo) >= half_tick

    def _requote(self, s: Series, faults: FaultSet, moneyness: float, days: float) -> None:
        c = s.contract
        z = abs(self.walks[c.underlying].last_z)
        fast = min(self.max_widen, max(0.0, z - FAST_MARKET_Z))
        half = half_spread(s.theo, s.vega, moneyness) * (1.0 + fast)
        wide = c.underlying in faults.wide
        typical = typical_size(moneyness, days)
        tick = s.ladder.tick(s.ladder.down(s.theo)) / 100
        s.quotes = {v.name: self.quoter.quote(v, s.theo, half, tick, s.ladder, typical, wide, s.quotes.get(v.name))
                    for v in s.venues if v.name not in faults.venues_dark}
        if faults.is_crossed(s.symbol, c.underlying):
            cross(s.quotes, s.ladder)
        s.best = nbbo(s.quotes)
        s.quoted_theo = s.theo
        s.out = {**s.best.to_json(), "iv": round(s.iv, 4), "theo": round(s.theo, 4),
                 "venues": {name: q.to_json() for name, q in s.quotes.items()}}
        self._store_row(s)
        self.requotes += 1

    def _store_row(self, s: Series) -> None:
        b, col = s.best, self._venue_col
        self.rows[s.row] = (s.symbol.encode(), b.bid / 100, b.bid_size, b.ask / 100, b.ask_size,
                            col.get(b.bid_venue, -1), col.get(b.ask_venue, -1), 0.0)
        cells = [(False, 0.0, 0, 0.0, 0)] * len(col)
        for name, q in s.quotes.items():
            cells[col[name]] = (True, q.bid / 100, q.bid_size, q.ask / 100, q.ask_size)
        self.cells[s.row] = cells

    # -- SNAPSHOT ----------------------------------------------------------------------------------
    def snapshot(self, seq: int, ts: float, faults: FaultSet) -> dict:
        """The quotes.json document (docs/architecture.md)."""
        return {
            "schema": 1, "seq": seq, "ts": ts, "as_of": self.as_of.isoformat(),
            "underlyings": {root: {"spot": round(spot, 2)} for root, spot in self.spots.items()},
            "quotes": {s.symbol: s.out for s in self.series},
            "trades": self.tape.kept(),
            "venues_down": self.dark(faults),
        }

    def frame(self, seq: int, ts: float, faults: FaultSet) -> Frame:
        """The same snapshot in columns, for quotes.snap (the arrays are copied by the writer, not kept)."""
        self.rows["iv"] = self._ivs.round(4)
        kept = self.tape.ring
        trades = np.array([(t["trade_seq"], t["ts"], t["symbol"].encode(), self._venue_col[t["venue"]], t["price"],
                            t["qty"], 1 if t["aggressor"] == "BUY" else -1) for t in kept], dtype=TRADE_DTYPE)
        return Frame(seq, ts, self.as_of.isoformat(), {root: round(spot, 2) for root, spot in self.spots.items()},
                     self.venue_order, frozenset(self.dark(faults)), self.rows, self.cells, trades,
                     np.ones(len(self.rows), dtype=bool))
