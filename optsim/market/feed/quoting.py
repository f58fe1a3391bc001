"""How each venue quotes a series, and the NBBO across them (DOMAIN §2, §7).

Prices are integer cents inside the feed. A venue quotes theo ∓ its own half-spread plus a little
jitter, the bid rounded down and the ask rounded up to the class MPV. The half-spread grows with
premium, vega and distance from the money, and in a fast market; a quote wider than the classic
maximum width for its bid is pulled in to exactly that width. Every bid sits below theo and every
ask at or above it, so venues quoting the same theo can never lock or cross: only the crossed
drill does that.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal

from ...config import TickClass, Venue
from ...domain.occ import mpv

# Classic maximum quote widths by bid price, in cents: bid < $2 → 25c, < $5 → 40c, < $10 → 50c,
# < $20 → 80c, else $1.00 (ISE rule, OIC FAQ; DOMAIN §7).
_MAX_WIDTHS = ((200, 25), (500, 40), (1000, 50), (2000, 80))
_MAX_WIDTH_ABOVE = 100
MAX_SIZE = 500


def max_width(bid: int) -> int:
    """The widest legal quote, in cents, for a bid of ``bid`` cents."""
    for below, width in _MAX_WIDTHS:
        if bid < below:
            return width
    return _MAX_WIDTH_ABOVE


class Ladder:
    """The price grid of one tick class, in cents: where a bid rounds down and an ask rounds up."""

    def __init__(self, tick_class: TickClass):
        self.tick_class = tick_class
        self._ticks: dict[int, int] = {}  # memo of occ.mpv by price in cents: the hot path

    def tick(self, cents: int) -> int:
        tick = self._ticks.get(cents)
        if tick is None:
            tick = self._ticks[cents] = int(mpv(self.tick_class, Decimal(cents).scaleb(-2)) * 100)
        return tick

    def down(self, price: float) -> int:
        """The highest price on the grid at or below ``price`` dollars, in cents (0 at worst)."""
        c = max(math.floor(price * 100 + 1e-7), 0)
        return c - c % self.tick(c)

    def up(self, price: float) -> int:
        """The lowest price on the grid at or above ``price`` dollars, in cents."""
        c = max(math.ceil(price * 100 - 1e-7), 1)
        return c + (-c) % self.tick(c)


@dataclass(slots=True)
class VenueQuote:
    """One venue's two-sided quote in cents; a bid of 0 with size 0 is no bid."""

    bid: int
    bid_size: int
    ask: int
    ask_size: int

    def to_json(self) -> dict:
        return {"bid": self.bid / 100, "bid_size": self.bid_size, "ask": self.ask / 100, "ask_size": self.ask_size}


@dataclass(frozen=True, slots=True)
class Nbbo:
    bid: int
    bid_size: int
    bid_venue: str | None
    ask: int
    ask_size: int
    ask_venue: str | None

    def to_json(self) -> dict:
        return {"bid": self.bid / 100, "bid_size": self.bid_size, "bid_venue": self.bid_venue,
                "ask": self.ask / 100, "ask_size": self.ask_size, "ask_venue": self.ask_venue}


def nbbo(quotes: dict[str, VenueQuote]) -> Nbbo:
    """Best bid and offer across the venues; the venue shown is the one with most size there."""
    bids = [(q.bid, q.bid_size, name) for name, q in quotes.items() if q.bid_size > 0]
    asks = [(q.ask, q.ask_size, name) for name, q in quotes.items() if q.ask_size > 0]
    bid = max(bids, key=lambda b: (b[0], b[1]), default=(0, 0, None))
    ask = min(asks, key=lambda a: (a[0], -a[1]), default=(0, 0, None))
    return Nbbo(*bid, *ask)


def half_spread(theo: float, vega: float, moneyness: float) -> float:
    """A typical market maker's half-width in dollars before venue style, jitter and caps.

    ``vega`` is per vol point; ``moneyness`` is ln(K/F). Far out-of-the-money options stay a
    cent or two wide in dollars (wide in percent); deep in-the-money ones are wider in dollars.
    """
    return (0.005 + 0.002 * theo + 0.04 * vega) * (1.0 + 2.0 * abs(moneyness))


def typical_size(moneyness: float, days: float) -> float:
    """Median displayed size, ~15-80: larger at the money, smaller far out and near expiry."""
    atm = 0.4 + 1.6 * math.exp(-(moneyness / 0.08) ** 2)
    tenor = min(1.0, 0.4 + days / 20.0)
    return 40.0 * atm * tenor


def quote_size(rng: random.Random, typical: float) -> int:
    """One lognormal draw around ``typical``: mostly ~10-200 contracts, never below 1."""
    return max(1, min(MAX_SIZE, round(typical * math.exp(rng.gauss(0.0, 0.6)))))


def capped(theo: float, ladder: Ladder) -> tuple[int, int]:
    """Bid and ask at the maximum legal width around ``theo``: the wide drill, and the cap."""
    guess = max(ladder.down(theo - max_width(ladder.down(theo)) / 200), 0)
    bid = ladder.down(theo - max_width(guess) / 200)
    return bid, ladder.down((bid + max_width(bid)) / 100)


class VenueStyle:
    """A venue's quoting habits, stable for a seed: how wide it quotes, and which series it skips."""

    def __init__(self, venue: Venue, seed: int):
        self.name = venue.name
        self.presence = venue.quote_presence
        self.seed = seed
        self.width = random.Random(f"{seed}:width:{venue.name}").uniform(0.8, 1.4)

    def presence_draw(self, symbol: str) -> float:
        """Below ``presence`` means this venue quotes ``symbol``; the same draw every run."""
        return random.Random(f"{self.seed}:presence:{self.name}:{symbol}").random()


class Quoter:
    """Requotes every venue on one series from its theo (all venues see the same theo)."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def quote(self, venue: VenueStyle, theo: float, half: float, jitter: float, ladder: Ladder,
              typical: float, wide: bool, previous: VenueQuote | None) -> VenueQuote:
        """A fresh quote; a side whose price did not change keeps its size (its queue stays put).

        ``jitter`` is the most a venue strays from its usual width on a side, in dollars (one tick).
        """
        base = half * venue.width
        bid = ladder.down(theo - base - self.rng.random() * jitter)
        ask = ladder.up(theo + base + self.rng.random() * jitter)
        if wide or ask - bid > max_width(bid):
            bid, ask = capped(theo, ladder)
        if bid == 0:
            bid_size = 0
        elif previous is not None and previous.bid == bid and previous.bid_size:
            bid_size = previous.bid_size
        else:
            bid_size = quote_size(self.rng, typical)
        ask_size = previous.ask_size if previous is not None and previous.ask == ask else quote_size(self.rng, typical)
        return VenueQuote(bid, bid_size, ask, ask_size)


def cross(quotes: dict[str, VenueQuote], ladder: Ladder) -> None:
    """The crossed drill: one venue bids a tick through the best offer (its own if it is alone)."""
    best = nbbo(quotes)
    if best.ask_venue is None:
        return
    bidder = next((name for name in quotes if name != best.ask_venue), best.ask_venue)
    q = quotes[bidder]
    q.bid = best.ask + ladder.tick(best.ask)
    q.bid_size = max(q.bid_size, 1)
