"""How each venue quotes a series, and the NBBO across them (DOMAIN §2, §7).

Prices are integer cents inside the feed. A venue quotes theo ∓ its own half-spread plus a little
jitter, the bid rounded down and the ask rounded up to the class MPV. The half-spread grows with
premium, vega and distance from the money, and in a fast market; a quote wider than the classic
maximum width for its bid is pulled in to exactly that width. Every bid sits below theo and every
ask at or above it, so venues quoting the same theo can never lock or cross: only the crossed
drill does that.

The feed requotes hundreds of series a tick, so every rule works on numpy arrays: a (series x venue)
block of cents at once, with the series' own tick classes broadcast along its rows.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from ...config import TickClass, Venue

# Classic maximum quote widths by bid price, in cents: bid < $2 → 25c, < $5 → 40c, < $10 → 50c,
# < $20 → 80c, else $1.00 (ISE rule, OIC FAQ; DOMAIN §7).
_MAX_WIDTHS = ((200, 25), (500, 40), (1000, 50), (2000, 80))
_MAX_WIDTH_ABOVE = 100
_WIDTH_BIDS = np.array([below for below, _ in _MAX_WIDTHS])
_WIDTHS = np.array([width for _, width in _MAX_WIDTHS] + [_MAX_WIDTH_ABOVE])
MAX_SIZE = 500


def max_widths(bids: np.ndarray) -> np.ndarray:
    """The widest legal quote, in cents, for each bid in an array of cents."""
    return _WIDTHS[np.searchsorted(_WIDTH_BIDS, bids, side="right")]


class Grid:
    """The price grid of many series at once, each on its own tick class, in cents.

    ``below_3`` and ``at_or_above_3`` are the ticks in cents, one per series; ``column`` shapes them to
    broadcast along the rows of a (series x venue) block.
    """

    def __init__(self, below_3: np.ndarray, at_or_above_3: np.ndarray):
        self.below_3, self.at_or_above_3 = below_3, at_or_above_3

    @classmethod
    def of(cls, tick_classes: list[TickClass]) -> Grid:
        return cls(np.array([round(tc.below_3 * 100) for tc in tick_classes], dtype=np.int64),
                   np.array([round(tc.at_or_above_3 * 100) for tc in tick_classes], dtype=np.int64))

    def rows(self, rows: np.ndarray) -> Grid:
        return Grid(self.below_3[rows], self.at_or_above_3[rows])

    def column(self) -> Grid:
        return Grid(self.below_3[:, None], self.at_or_above_3[:, None])

    def tick(self, cents: np.ndarray) -> np.ndarray:
        """The class MPV at each price (DOMAIN §2: below $3.00 or at and above)."""
        return np.where(cents < 300, self.below_3, self.at_or_above_3)

    def down(self, dollars: np.ndarray) -> np.ndarray:
        """The highest price on the grid at or below each price in dollars, in cents (0 at worst)."""
        c = np.maximum(np.floor(dollars * 100 + 1e-7), 0).astype(np.int64)
        return c - c % self.tick(c)

    def up(self, dollars: np.ndarray) -> np.ndarray:
        """The lowest price on the grid at or above each price in dollars, in cents."""
        c = np.maximum(np.ceil(dollars * 100 - 1e-7), 1).astype(np.int64)
        return c + (-c) % self.tick(c)


@dataclass(slots=True)
class VenueQuote:
    """One venue's two-sided quote in cents; a bid of 0 with size 0 is no bid."""

    bid: int
    bid_size: int
    ask: int
    ask_size: int


@dataclass(frozen=True, slots=True)
class Nbbo:
    bid: int
    bid_size: int
    bid_venue: str | None
    ask: int
    ask_size: int
    ask_venue: str | None


@dataclass(slots=True)
class Quotes:
    """Venue quotes of some series, (series x venue) arrays of cents and sizes; ``quoted`` False = no quote."""

    bid: np.ndarray
    bid_size: np.ndarray
    ask: np.ndarray
    ask_size: np.ndarray
    quoted: np.ndarray

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> Quotes:
        return cls(*(np.zeros(shape, dtype=np.int64) for _ in range(4)), np.zeros(shape, dtype=bool))

    def take(self, rows: np.ndarray) -> Quotes:
        return Quotes(self.bid[rows], self.bid_size[rows], self.ask[rows], self.ask_size[rows], self.quoted[rows])

    def put(self, rows: np.ndarray, new: Quotes) -> None:
        self.bid[rows], self.bid_size[rows], self.ask[rows], self.ask_size[rows], self.quoted[rows] = (
            new.bid, new.bid_size, new.ask, new.ask_size, new.quoted)


_NO_VENUE = -1
_SIZE_SPAN = 1024  # above any quote size (MAX_SIZE): price and size sort as one integer key


def best_of(q: Quotes) -> tuple[np.ndarray, ...]:
    """Best bid and offer of each series across its venues: bid, bid_size, bid_venue, ask, ask_size, ask_venue.

    The venue shown is the one with most size at that price, the first in venue order on a tie;
    a side nobody quotes is 0, 0, -1.
    """
    rows = np.arange(len(q.bid))
    has_bid, has_ask = q.quoted & (q.bid_size > 0), q.quoted & (q.ask_size > 0)
    bid_key = np.where(has_bid, q.bid * _SIZE_SPAN + q.bid_size, -1)
    ask_key = np.where(has_ask, q.ask * _SIZE_SPAN - q.ask_size, np.iinfo(np.int64).max)
    b, a = bid_key.argmax(axis=1), ask_key.argmin(axis=1)
    any_bid, any_ask = has_bid[rows, b], has_ask[rows, a]
    return (np.where(any_bid, q.bid[rows, b], 0), np.where(any_bid, q.bid_size[rows, b], 0),
            np.where(any_bid, b, _NO_VENUE), np.where(any_ask, q.ask[rows, a], 0),
            np.where(any_ask, q.ask_size[rows, a], 0), np.where(any_ask, a, _NO_VENUE))


def half_spread(theo, vega, moneyness):
    """A typical market maker's half-width in dollars before venue style, jitter and caps.

    ``vega`` is per vol point; ``moneyness`` is ln(K/F). Far out-of-the-money options stay a
    cent or two wide in dollars (wide in percent); deep in-the-money ones are wider in dollars.
    """
    return (0.005 + 0.002 * theo + 0.04 * vega) * (1.0 + 2.0 * np.abs(moneyness))


def typical_size(moneyness, days):
    """Median displayed size, ~15-80: larger at the money, smaller far out and near expiry."""
    atm = 0.4 + 1.6 * np.exp(-(moneyness / 0.08) ** 2)
    tenor = np.minimum(1.0, 0.4 + days / 20.0)
    return 40.0 * atm * tenor


def capped(theo: np.ndarray, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Bid and ask at the maximum legal width around each theo: the wide drill, and the cap."""
    guess = np.maximum(grid.down(theo - max_widths(grid.down(theo)) / 200), 0)
    bid = grid.down(theo - max_widths(guess) / 200)
    return bid, grid.down((bid + max_widths(bid)) / 100)


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


@dataclass(slots=True)
class Requote:
    """What the venues quote a block of series from: one row per series (prices in dollars)."""

    theo: np.ndarray
    half: np.ndarray  # the typical half-spread, before each venue's own width
    jitter: np.ndarray  # the most a venue strays from its usual width on a side: one tick
    typical: np.ndarray  # median displayed size
    wide: np.ndarray  # the wide drill: quote at the maximum legal width


def requote(rng: np.random.Generator, spec: Requote, grid: Grid, widths: np.ndarray, quoting: np.ndarray,
            previous: Quotes) -> Quotes:
    """Fresh quotes for a block of series on every venue in ``quoting``; a side whose price did not change
    keeps its size (its queue stays put). ``grid`` and ``previous`` are the block's rows; ``widths`` is each
    venue's own width, a multiple of the typical half-spread."""
    cells, col = quoting.shape, grid.column()
    theo = spec.theo[:, None]
    base = spec.half[:, None] * widths[None, :]
    strays = rng.random((2, *cells)) * spec.jitter[:, None]
    bid, ask = col.down(theo - base - strays[0]), col.up(theo + base + strays[1])
    cap = spec.wide[:, None] | (ask - bid > max_widths(bid))
    if cap.any():
        cap_bid, cap_ask = capped(spec.theo, grid)
        bid, ask = np.where(cap, cap_bid[:, None], bid), np.where(cap, cap_ask[:, None], ask)
    # sizes: one lognormal draw around the typical size per side, mostly ~10-200 contracts, never below 1
    drawn = np.clip(np.rint(spec.typical[:, None] * np.exp(rng.normal(0.0, 0.6, (2, *cells)))), 1, MAX_SIZE)
    drawn = drawn.astype(np.int64)
    kept_bid = previous.quoted & (previous.bid == bid) & (previous.bid_size > 0)
    bid_size = np.where(bid == 0, 0, np.where(kept_bid, previous.bid_size, drawn[0]))
    ask_size = np.where(previous.quoted & (previous.ask == ask), previous.ask_size, drawn[1])
    return Quotes(bid * quoting, bid_size * quoting, ask * quoting, ask_size * quoting, quoting.copy())


def cross(q: Quotes, row: int, grid: Grid) -> None:
    """The crossed drill on one series (``grid`` its own): one venue bids a tick through the best offer
    (its own if it is alone)."""
    best = best_of(q.take(np.array([row])))
    ask_venue = int(best[5][0])
    if ask_venue == _NO_VENUE:
        return
    quoting = np.flatnonzero(q.quoted[row])
    others = quoting[quoting != ask_venue]
    bidder = int(others[0]) if len(others) else ask_venue
    ask = int(best[3][0])
    q.bid[row, bidder] = ask + int(grid.tick(np.array([ask]))[0])
    q.bid_size[row, bidder] = max(int(q.bid_size[row, bidder]), 1)
