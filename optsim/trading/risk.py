"""Pre-trade risk: an ordered list of small checks, each returning None or a ``Reject`` with a stable code.

The order is cheapest and most protective first (trading state, throttle), then the contract,
then price and size, then exposure. Exposure (positions, working orders, Greeks) is kept in memory
under the service's order lock and rebuilt from the store at start-up.
"""
from __future__ import annotations

import datetime as dt
import enum
import itertools
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

import numpy as np

from ..domain.chain import Chain
from ..config import TICK_CLASSES, Config
from ..domain.greeks import black_scholes, year_fraction
from .journal import Journal
from ..domain.occ import mpv, on_tick, to_decimal
from ..domain.packages import synthetic
from ..market.quotes import QuoteBook
from ..domain.spec import OrderSpec

EXCHANGE_TZ = ZoneInfo("America/New_York")


class TradingState(str, enum.Enum):
    ACTIVE = "ACTIVE"  # everything allowed
    REDUCING = "REDUCING"  # only orders that shrink existing positions
    HALTED = "HALTED"  # kill switch: no new orders, working orders cancelled


@dataclass(frozen=True, slots=True)
class Reject:
    reason: str  # stable code, e.g. PRICE_COLLAR
    field: str  # request field at fault ("" = the order as a whole)
    message: str
    status: int = 0  # HTTP status; 0 = the reason's own (http_status)
    limit: str = ""  # the exposure limit the order would breach (a RISK_LIMITS name), "" for other rejects

    def __post_init__(self) -> None:
        if not self.status:
            object.__setattr__(self, "status", http_status(self.reason))


#: HTTP status of a reject by reason; every other reason answers 422.
REJECT_HTTP_STATUS = {"HALTED": 403, "REDUCE_ONLY": 403, "THROTTLED": 429, "MARKET_CLOSED": 403}


def http_status(reason: str) -> int:
    return REJECT_HTTP_STATUS.get(reason, 422)


def _on_tick(price: Decimal, tick: Decimal) -> bool:
    """``occ.on_tick``, except that a price too large for Decimal's remainder (1e300) is off tick, not a 500."""
    try:
        return on_tick(price, tick)
    except InvalidOperation:
        return False


def leg_field(spec: OrderSpec, i: int, name: str) -> str:
    return name if spec.kind == "single" else f"legs.{i}.{name}"


def series_field(spec: OrderSpec, i: int, part: str) -> str:
    """The field at fault in a leg's series: ``symbol`` when the order gave the series as one, else ``part``."""
    given = spec.body if spec.kind == "single" else next(iter(spec.body.get("legs", [])[i:i + 1]), {})
    return leg_field(spec, i, "symbol" if "symbol" in given else part)


@dataclass(slots=True)
class LegGreeks:
    delta: float  # share-equivalent per contract (delta x multiplier)
    vega: float  # $ per vol point per contract
    spot: float
    gamma: float = 0.0  # share-equivalent delta change per $1 of the underlying, per contract
    theta: float = 0.0  # $ per calendar day per contract


_UNPRICED = LegGreeks(0.0, 0.0, 0.0)  # a series without a quote or a spot adds nothing to the Greeks


class AccountGreeks:
    """One account's projected Greeks at one snapshot: delta and vega per underlying, dollar delta and vega
    over the portfolio. Summed once per snapshot, then moved with each change to the account's books."""

    __slots__ = ("greeks", "delta", "vega", "dollar_delta", "portfolio_vega")

    def __init__(self, greeks: dict[str, LegGreeks | None] | None = None) -> None:
        self.greeks = greeks  # the per-series Greeks these are summed from: their snapshot's, never another's
        self.delta: dict[str, float] = defaultdict(float)  # by padded root, as OCC symbols start
        self.vega: dict[str, float] = defaultdict(float)
        self.dollar_delta = self.portfolio_vega = 0.0

    def add(self, symbol: str, g: LegGreeks, qty: int) -> None:
        root = symbol[:6]
        self.delta[root] += g.delta * qty
        self.vega[root] += g.vega * qty
        self.dollar_delta += g.delta * qty * g.spot
        self.portfolio_vega += g.vega * qty


class Book(dict):
    """(account, series) -> signed contracts; reads of a missing key are 0. Also indexed by account, so a
    check reads one account's series instead of scanning every account's (the order path's hot spot).
    Every change goes through ``__setitem__``, which tells ``on_move`` how many contracts moved."""

    def __init__(self, on_move: Callable[[str, str, int], None] | None = None) -> None:
        super().__init__()
        self.by_account: dict[str, dict[str, int]] = defaultdict(dict)
        self.version = 0  # moves with every change, so a figure computed from the book can be kept until then
        self._on_move = on_move

    def __missing__(self, key: tuple[str, str]) -> int:
        return 0

    def __setitem__(self, key: tuple[str, str], value: int) -> None:
        moved = value - dict.get(self, key, 0)
        super().__setitem__(key, value)
        self.by_account[key[0]][key[1]] = value
        self.version += 1
        if moved and self._on_move is not None:
            self._on_move(key[0], key[1], moved)


def bullish(symbol: str, qty: int) -> bool:
    """Long calls and short puts are on the bullish side of the market; long puts and short calls, bearish."""
    return (symbol[12] == "C") == (qty > 0)


class Projection:
    """Per account, filled plus working contracts per series (what the pre-trade checks add an order to), and
    per (account, underlying) the contracts on each side of the market, kept as the books move.

    A check then reads an account's totals and adds the order's legs, O(legs), where summing the account's
    every series made an order's cost grow with the breadth of its book: 0.56 ms an order for an account
    working nothing, 1.2 ms for one working 400 series, 1.5 ms at 1,000 (``bench/bench_book_breadth.py``).
    ``listeners`` hear of every move (the Greek totals).
    """

    def __init__(self) -> None:
        self.by_account: dict[str, dict[str, int]] = defaultdict(dict)
        self.sides: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])  # -> [bullish, bearish]
        self.listeners: list[Callable[[str, str, int], None]] = []

    def move(self, account: str, symbol: str, qty: int) -> None:
        series = self.by_account[account]
        before = series.get(symbol, 0)
        after = before + qty
        if after:
            series[symbol] = after
        else:
            del series[symbol]
        shift_sides(self.sides[(account, symbol[:6])], symbol, before, after)
        for listener in self.listeners:
            listener(account, symbol, qty)

    def load(self, other: Projection) -> None:
        """Take ``other``'s figures: for a copy of the exposure read at leisure (its listeners are not taken)."""
        self.by_account.update((account, dict(series)) for account, series in other.by_account.items())
        self.sides.update((key, list(sides)) for key, sides in other.sides.items())


def shift_sides(sides: list[int], symbol: str, before: int, after: int) -> None:
    """Move one series' contracts in a [bullish, bearish] pair from ``before`` to ``after``."""
    sides[0 if bullish(symbol, before) else 1] -= abs(before)
    sides[0 if bullish(symbol, after) else 1] += abs(after)


class Premium(defaultdict):
    """account -> open + filled premium $, with a version that moves with every change (as ``Book``'s)."""

    def __init__(self) -> None:
        super().__init__(float)
        self.version = 0

    def __setitem__(self, account: str, value: float) -> None:
        super().__setitem__(account, value)
        self.version += 1


class Exposure:
    """Signed contracts per (account, series) from fills and from working orders' unfilled legs."""

    def __init__(self) -> None:
        self.projection = Projection()  # filled + working, kept as either book moves
        self.filled: Book = Book(self.projection.move)
        self.working: Book = Book(self.projection.move)
        self.premium: Premium = Premium()

    @property
    def version(self) -> tuple[int, int, int]:
        """Changes with any change to the books: the key under which their limits' use can be kept."""
        return self.filled.version, self.working.version, self.premium.version

    def copy(self) -> Exposure:
        """A copy to read at leisure: taken in order with the desk's changes (microseconds), it lets the limits'
        use be computed off the writer's turn, so a scrape or a trip check never holds up an order."""
        out = Exposure()
        for mine, theirs in ((self.filled, out.filled), (self.working, out.working)):
            dict.update(theirs, mine)
            theirs.by_account.update((account, dict(series)) for account, series in mine.by_account.items())
        out.premium.update(self.premium)
        out.projection.load(self.projection)
        return out

    def accounts(self) -> set[str]:
        return set(self.filled.by_account) | set(self.working.by_account) | set(self.premium)

    def projected(self, account: str) -> dict[str, int]:
        """Signed contracts per series of one account: filled plus working."""
        return dict(self.projection.by_account.get(account, ()))

    def matrix(self) -> tuple[list[str], np.ndarray]:
        """The series held (filled or working) and signed contracts as an accounts x series array: the
        positions gathered in one pass at C speed, for the limits' use to be computed as array products."""
        held = [(account, series) for book in (self.filled, self.working)
                for account, series in book.by_account.items() if series]
        books = [series for _, series in held]
        symbols = list(dict.fromkeys(itertools.chain.from_iterable(books)))
        if not symbols:
            return [], np.zeros((0, 0))
        column = {symbol: i for i, symbol in enumerate(symbols)}
        accounts = {account: i for i, account in enumerate(self.accounts())}
        rows = np.repeat(np.array([accounts[account] for account, _ in held]), [len(series) for series in books])
        held_symbols = itertools.chain.from_iterable(books)
        cols = np.fromiter(map(column.__getitem__, held_symbols), dtype=np.intp, count=len(rows))
        qty = np.fromiter(itertools.chain.from_iterable(series.values() for series in books), dtype=float,
                          count=len(rows))
        contracts = np.bincount(rows * len(symbols) + cols, weights=qty, minlength=len(accounts) * len(symbols))
        return symbols, contracts.reshape(len(accounts), len(symbols))

    def series(self, account: str, underlying: str) -> dict[str, int]:
        """Projected signed contracts per series of one underlying: filled plus working."""
        prefix = underlying.ljust(6)
        return {symbol: qty for symbol, qty in self.projection.by_account.get(account, {}).items()
                if symbol.startswith(prefix)}


#: The exposure limits ``utilization`` reports (the ``limit`` label of optsim_risk_utilization_ratio).
EXPOSURE_LIMITS = ("credit", "position", "delta", "vega", "portfolio_delta", "portfolio_vega")


def _use(used: float, limit: float) -> dict:
    """One limit's use: the signed figure, the limit and |used| / limit."""
    return {"used": round(used, 2), "limit": limit, "utilization": round(abs(used) / limit, 6)}


def same_side_contracts(contracts: dict[str, int]) -> int:
    """Contracts on the busier side of the market: long calls + short puts, or long puts + short calls."""
    sides = [0, 0]
    for symbol, qty in contracts.items():
        sides[0 if bullish(symbol, qty) else 1] += abs(qty)
    return max(sides)


class RiskEngine:
    def __init__(self, config: Config, chain: Chain, quotes: QuoteBook, clock: Callable[[], float] = time.time,
                 journal: Journal | None = None):
        self.config, self.chain, self.quotes, self.clock = config, chain, quotes, clock
        self.journal = journal or Journal()  # every change below is undone if the order's writes roll back
        self.limits = config.risk
        self.state = TradingState.ACTIVE
        self.session_closed = False  # the feed's session clock is past the close of the trading date
        self.exposure = Exposure()
        self._recent: dict[str, deque[float]] = defaultdict(deque)  # account -> order times (throttle)
        self._fingerprints: dict[tuple, float] = {}  # duplicate detection: order key -> last seen
        self._fingerprint_times: deque[tuple[float, tuple]] = deque()  # (seen, key), oldest first, for expiry
        self._greeks_cache: tuple[int, dict[str, LegGreeks | None]] = (-1, {})  # (snapshot seq, per series)
        self._account_greeks: dict[str, AccountGreeks] = {}  # kept per snapshot: _projected_greeks
        self.exposure.projection.listeners.append(self._on_move)
        self.checks: list[Callable[[OrderSpec], Reject | None]] = [
            self.check_trading_state, self.check_throttle, self.check_restricted, self.check_listed,
            self.check_tick, self.check_max_contracts, self.check_reference, self.check_notional,
            self.check_collar, self.check_post_only, self.check_duplicate, self.check_credit, self.check_position, self.check_greeks,
        ]

    def check_replace(self, spec: OrderSpec, shrinks: bool) -> Reject | None:
        """The checks a cancel/replace passes: the order as replaced, without the throttle or duplicate checks.

        HALTED refuses every replace; REDUCING allows one that only shrinks the order at the same price.
        """
        if self.state is TradingState.HALTED or (self.state is TradingState.REDUCING and not shrinks):
            return self.check_trading_state(spec)
        for check in (self.check_tick, self.check_max_contracts, self.check_reference, self.check_notional,
                      self.check_collar, self.check_post_only, self.check_credit, self.check_position,
                      self.check_greeks):
            reject = check(spec)
            if reject:
                return reject
        return None

    def check(self, spec: OrderSpec) -> Reject | None:
        """Run every check in order; the first reject wins. Counts the order for the throttle."""
        for check in self.checks:
            reject = check(spec)
            if reject:
                return reject
        return None

    # ------------------------------------------------------------------ checks
    def check_trading_state(self, spec: OrderSpec) -> Reject | None:
        if self.state is TradingState.HALTED:
            return Reject("HALTED", "", "trading is halted (kill switch engaged)")
        if self.state is TradingState.REDUCING and not self._reduces_only(spec):
            return Reject("REDUCE_ONLY", "", "trading state is REDUCING: only orders that shrink positions")
        if self.session_closed:
            return Reject("MARKET_CLOSED", "", f"the {self.chain.as_of} session has closed "
                                               f"({self.config.service.market_close:%H:%M} ET); DAY orders expired")
        return None

    def check_throttle(self, spec: OrderSpec) -> Reject | None:
        now, window = self.clock(), self._recent[spec.account]
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) >= self.limits.max_orders_per_s:
            return Reject("THROTTLED", "account",
                          f"account {spec.account} is over {self.limits.max_orders_per_s} orders/s")
        window.append(now)
        self.journal.undo(lambda: window.remove(now))
        return None

    def check_restricted(self, spec: OrderSpec) -> Reject | None:
        if spec.underlying in self.limits.restricted:
            return Reject("RESTRICTED", series_field(spec, 0, "underlying"),
                          f"{spec.underlying} is on the restricted list")
        return None

    def check_listed(self, spec: OrderSpec) -> Reject | None:
        as_of = self.chain.as_of
        for i, leg in enumerate(spec.legs):
            sym = leg.symbol
            if sym.expiry < as_of or (sym.expiry == as_of and self._past_close()):
                return Reject("EXPIRED", series_field(spec, i, "expiry"),
                              f"{sym.padded.strip()} expired {sym.expiry} (trading date {as_of})")
            if self.chain.get(sym) is None:
                return Reject("NOT_LISTED", self._unlisted_field(spec, i), self._unlisted_message(sym))
        return None

    def check_tick(self, spec: OrderSpec) -> Reject | None:
        for i, leg in enumerate(spec.legs):
            if leg.price is not None and (spec.kind == "single" or leg.price != 0):
                tick = mpv(self._tick_class(leg.symbol.root), leg.price)
                if not _on_tick(leg.price, tick):
                    return Reject("BAD_TICK", leg_field(spec, i, "price"),
                                  f"{leg.price} is not a multiple of the {tick} tick for {leg.symbol.root}")
        if spec.kind == "multi" and spec.limit_price is not None:
            tick = to_decimal(self._tick_class(spec.underlying).complex)
            if not _on_tick(spec.limit_price, tick):
                return Reject("BAD_TICK", "price", f"net {spec.limit_price} is not a multiple of the {tick} complex tick")
        return None

    def check_max_contracts(self, spec: OrderSpec) -> Reject | None:
        for i, leg in enumerate(spec.legs):
            if leg.qty > self.limits.max_contracts:
                return Reject("QTY_LIMIT", leg_field(spec, i, "qty"),
                              f"{leg.qty} contracts is over the {self.limits.max_contracts} per-order limit")
        return None

    def check_reference(self, spec: OrderSpec) -> Reject | None:
        age = self.quotes.age()
        if age is None:
            return Reject("NO_REFERENCE", "", "no NBBO: the quote feed has not published a snapshot")
        if age > self.limits.quote_max_age_s:
            return Reject("NO_REFERENCE", "", f"NBBO is {age:.1f}s old (limit {self.limits.quote_max_age_s}s): feed stale")
        for i, leg in enumerate(spec.legs):
            q = self.quotes.quote(leg.symbol.padded)
            if q is None and self.quotes.snapshot.refused(leg.symbol.padded):
                return Reject("NO_REFERENCE", series_field(spec, i, "strike"),
                              f"the feed's quote for {leg.symbol.padded.strip()} failed the market-data checks "
                              "(NaN, negative, zero with size or crossed): not traded on")
            if q is None or not (q.has_bid or q.has_ask):
                return Reject("NO_REFERENCE", series_field(spec, i, "strike"),
                              f"no NBBO for {leg.symbol.padded.strip()}")
            if q.locked_or_crossed:
                return Reject("NO_REFERENCE", series_field(spec, i, "strike"),
                              f"NBBO for {leg.symbol.padded.strip()} is locked/crossed ({q.bid} x {q.ask})")
        return None

    def check_notional(self, spec: OrderSpec) -> Reject | None:
        notional = self.notional(spec)
        if notional > self.limits.max_notional:
            return Reject("NOTIONAL_LIMIT", "qty",
                          f"premium ${notional:,.0f} is over the ${self.limits.max_notional:,.0f} per-order limit")
        return None

    def check_collar(self, spec: OrderSpec) -> Reject | None:
        if spec.limit_price is None:
            return None
        if spec.kind == "single":
            leg, q = spec.legs[0], self.quotes.quote(spec.legs[0].symbol.padded)
            price = float(spec.limit_price)
            if leg.side == "BUY" and q.has_ask:
                cap = self._collar_bound(q.ask, +1)
                if price > cap + 1e-9:
                    return Reject("PRICE_COLLAR", "price",
                                  f"buy limit {price} is more than the collar through the NBO {q.ask} (max {cap:.2f})")
            if leg.side == "SELL" and q.has_bid:
                floor = self._collar_bound(q.bid, -1)
                if price < floor - 1e-9:
                    return Reject("PRICE_COLLAR", "price",
                                  f"sell limit {price} is more than the collar through the NBB {q.bid} (min {floor:.2f})")
            return None
        syn_ask = synthetic(spec, [self.quotes.quote(leg.symbol.padded) for leg in spec.legs]).ask
        if syn_ask is None:
            return Reject("NO_REFERENCE", "legs", "no synthetic offer to collar against: a bought leg has no offer "
                                                  "or a sold leg no bid")
        cap = self._collar_bound(syn_ask, +1)
        if float(spec.limit_price) > cap + 1e-9:
            return Reject("PRICE_COLLAR", "price", f"net {spec.limit_price} is more than the collar through the "
                                                   f"synthetic offer {syn_ask:.2f} (max {cap:.2f})")
        return None

    def check_post_only(self, spec: OrderSpec) -> Reject | None:
        """A post-only (add liquidity only) order that would take at the NBBO is refused, as the exchanges do."""
        if not spec.post_only:
            return None
        if spec.kind == "single":
            q = self.quotes.quote(spec.legs[0].symbol.padded)
            contra = (q.ask if q.has_ask else None) if spec.side == "BUY" else (q.bid if q.has_bid else None)
        else:
            syn = synthetic(spec, [self.quotes.quote(leg.symbol.padded) for leg in spec.legs])
            contra = syn.ask
        price = float(spec.limit_price)
        if contra is not None and (price >= contra - 1e-9 if spec.side == "BUY" or spec.kind == "multi"
                                   else price <= contra + 1e-9):
            return Reject("POST_ONLY_WOULD_CROSS", "price",
                          f"post-only {price} would take liquidity at the {'offer' if spec.side == 'BUY' else 'bid'} "
                          f"{contra}; price it inside the spread to rest")
        return None

    def check_duplicate(self, spec: OrderSpec) -> Reject | None:
        now, window = self.clock(), self.limits.duplicate_window_s
        key = (spec.account, spec.limit_price, spec.qty, tuple((l.symbol.padded, l.side, l.ratio) for l in spec.legs))
        seen = self._fingerprints
        while self._fingerprint_times and now - self._fingerprint_times[0][0] >= window:  # oldest first: O(expired)
            t, old = self._fingerprint_times.popleft()
            if seen.get(old) == t:
                del seen[old]
        if key in seen and now - seen[key] < window:
            return Reject("DUPLICATE", "", f"same order from {spec.account} within {window}s")
        prior = seen.get(key)
        seen[key] = now
        self._fingerprint_times.append((now, key))  # a stale entry is harmless: expiry checks the time matches
        self.journal.undo(lambda: seen.__setitem__(key, prior) if prior is not None else seen.pop(key, None))
        return None

    def check_credit(self, spec: OrderSpec) -> Reject | None:
        used = self.exposure.premium[spec.account] + self.notional(spec)
        if used > self.limits.credit_limit:
            return Reject("CREDIT_LIMIT", "account", f"open + filled premium would be ${used:,.0f}, "
                                                     f"over the ${self.limits.credit_limit:,.0f} credit limit",
                          limit="credit")
        return None

    def check_position(self, spec: OrderSpec) -> Reject | None:
        side = self._projected_side(spec)
        if side > self.limits.position_limit:
            return Reject("POSITION_LIMIT", "qty", f"{spec.underlying} same-side position would be {side} contracts, "
                                                   f"over the {self.limits.position_limit} limit", limit="position")
        return None

    def check_greeks(self, spec: OrderSpec) -> Reject | None:
        delta, vega, port_delta, port_vega = self._projected_greeks(spec)
        if abs(delta) > self.limits.delta_limit:
            return Reject("GREEKS_LIMIT", "qty", f"{spec.underlying} delta would be {delta:,.0f} shares, "
                                                 f"over the {self.limits.delta_limit:,.0f} limit", limit="delta")
        if abs(vega) > self.limits.vega_limit:
            return Reject("GREEKS_LIMIT", "qty", f"{spec.underlying} vega would be ${vega:,.0f}/vol pt, "
                                                 f"over the ${self.limits.vega_limit:,.0f} limit", limit="vega")
        if abs(port_delta) > self.limits.portfolio_delta_limit:
            return Reject("GREEKS_LIMIT", "qty", f"portfolio dollar delta would be ${port_delta:,.0f}, "
                                                 f"over the ${self.limits.portfolio_delta_limit:,.0f} limit",
                          limit="portfolio_delta")
        if abs(port_vega) > self.limits.portfolio_vega_limit:
            return Reject("GREEKS_LIMIT", "qty", f"portfolio vega would be ${port_vega:,.0f}/vol pt, "
                                                 f"over the ${self.limits.portfolio_vega_limit:,.0f} limit",
                          limit="portfolio_vega")
        return None

    # ------------------------------------------------------------------ exposure bookkeeping
    def on_working(self, spec: OrderSpec, leaves: int, sign: int = 1) -> None:
        """Add (sign=+1) or remove (sign=-1) ``leaves`` packages of a working order from exposure."""
        for leg in spec.legs:
            self.exposure.working[(spec.account, leg.symbol.padded)] += sign * leg.sign * leg.ratio * leaves
        self.journal.undo(lambda: self.on_working(spec, leaves, -sign))

    def on_fill(self, account: str, symbol: str, side: str, qty: int) -> None:
        self.exposure.filled[(account, symbol)] += qty if side == "BUY" else -qty
        self.journal.undo(lambda: self.on_fill(account, symbol, side, -qty))

    def on_premium(self, account: str, amount: float) -> None:
        self.exposure.premium[account] += amount
        self.journal.undo(lambda: self.on_premium(account, -amount))

    def utilization(self, exposure: Exposure | None = None) -> dict[str, float]:
        """Worst ratio of use to limit across accounts and underlyings, per limit (for metrics, health, trips).

        The figures of ``exposure_report``, as matrix products over accounts x series held, without building
        the report: it runs four times a second on the service's background thread, where a Python loop over
        every position held the interpreter lock for milliseconds against the orders.
        """
        ex, lim = exposure or self.exposure, self.limits
        worst = dict.fromkeys(EXPOSURE_LIMITS, 0.0)
        if ex.premium:
            worst["credit"] = max(map(abs, ex.premium.values())) / lim.credit_limit
        symbols, held = ex.matrix()
        if symbols:
            greeks = [self._greeks(symbol) or _UNPRICED for symbol in symbols]
            delta = np.array([g.delta for g in greeks])
            vega = np.array([g.vega for g in greeks])
            dollar_delta = delta * np.array([g.spot for g in greeks])
            roots = self.config.underlyings
            root_of = {root.ljust(6): i for i, root in enumerate(roots)}
            in_root = np.zeros((len(symbols), len(roots)))  # series x listed underlying, 1 where it belongs
            listed = [(i, root_of[symbol[:6]]) for i, symbol in enumerate(symbols) if symbol[:6] in root_of]
            if listed:
                in_root[tuple(np.array(listed).T)] = 1.0
            calls = np.array([symbol[12] == "C" for symbol in symbols])
            bullish = np.where(calls == (held > 0), np.abs(held), 0.0)  # long calls and short puts
            side = np.maximum(bullish @ in_root, (np.abs(held) - bullish) @ in_root)
            worst["position"] = side.max(initial=0.0) / lim.position_limit
            worst["delta"] = np.abs(held @ (delta[:, None] * in_root)).max(initial=0.0) / lim.delta_limit
            worst["vega"] = np.abs(held @ (vega[:, None] * in_root)).max(initial=0.0) / lim.vega_limit
            worst["portfolio_delta"] = np.abs(held @ dollar_delta).max() / lim.portfolio_delta_limit
            worst["portfolio_vega"] = np.abs(held @ vega).max() / lim.portfolio_vega_limit
        return {limit: round(float(ratio), 6) for limit, ratio in worst.items()}

    def exposure_report(self, exposure: Exposure | None = None) -> list[dict]:
        """Per account: each underlying's projected Greeks and every exposure limit's use (``GET /risk``).

        Projected = filled positions plus working orders' unfilled legs, as the pre-trade checks count them.
        """
        ex, lim = exposure or self.exposure, self.limits
        caps = {"position": lim.position_limit, "delta": lim.delta_limit, "vega": lim.vega_limit}
        out = []
        for account in sorted(ex.accounts()):
            limits = {"credit": _use(ex.premium.get(account, 0.0), lim.credit_limit)}
            underlyings = {}
            for root in self.config.underlyings:
                projected = ex.series(account, root)
                if not any(projected.values()):
                    continue
                totals = self._all_greeks(projected)
                side = same_side_contracts(projected)
                underlyings[root] = {"same_side_contracts": side, **{k: round(v, 2) for k, v in totals.items()},
                                     "limits": {"position": _use(side, lim.position_limit),
                                                "delta": _use(totals["delta"], lim.delta_limit),
                                                "vega": _use(totals["vega"], lim.vega_limit)}}
                for name in ("position", "delta", "vega"):
                    limits[name] = max(limits.get(name, _use(0, caps[name])), underlyings[root]["limits"][name],
                                       key=lambda u: u["utilization"])
            portfolio = self._summed(ex.projected(account).items(), AccountGreeks())
            port_delta, port_vega = portfolio.dollar_delta, portfolio.portfolio_vega
            limits["portfolio_delta"] = _use(port_delta, lim.portfolio_delta_limit)
            limits["portfolio_vega"] = _use(port_vega, lim.portfolio_vega_limit)
            for name, cap in caps.items():  # nothing held in any underlying: none of the limit used
                limits.setdefault(name, _use(0, cap))
            out.append({"account": account, "underlyings": underlyings,
                        "portfolio": {"dollar_delta": round(port_delta, 2), "vega": round(port_vega, 2)},
                        "limits": {name: limits[name] for name in EXPOSURE_LIMITS}})
        return out

    def _all_greeks(self, contracts: dict[str, int]) -> dict[str, float]:
        """Delta (shares), dollar delta, gamma, vega and theta of signed contracts; unpriced series add 0."""
        out = dict.fromkeys(("delta", "dollar_delta", "gamma", "vega", "theta"), 0.0)
        for symbol, qty in contracts.items():
            g = self._greeks(symbol)
            if g and qty:
                out["delta"] += g.delta * qty
                out["dollar_delta"] += g.delta * qty * g.spot
                out["gamma"] += g.gamma * qty
                out["vega"] += g.vega * qty
                out["theta"] += g.theta * qty
        return out

    def greeks(self, symbol: str) -> LegGreeks | None:
        """Greeks per contract of one series at the current snapshot (None when it cannot be priced)."""
        return self._greeks(symbol)

    # ------------------------------------------------------------------ pricing helpers
    def notional(self, spec: OrderSpec) -> float:
        """Premium $ of the order at its limit (MARKET: at the contra NBBO)."""
        mult = self.chain.get(spec.legs[0].symbol).multiplier if self.chain.get(spec.legs[0].symbol) else 100
        if spec.limit_price is not None:
            return abs(float(spec.limit_price)) * mult * spec.qty
        if spec.kind == "single":
            q = self.quotes.quote(spec.legs[0].symbol.padded)
            px = (q.ask if spec.side == "BUY" else q.bid) if q else 0.0
            return px * mult * spec.qty
        syn = synthetic(spec, [self.quotes.quote(leg.symbol.padded) for leg in spec.legs])
        return max(abs(syn.bid or 0.0), abs(syn.ask or 0.0)) * mult * spec.qty

    def _collar_bound(self, contra: float, direction: int) -> float:
        pct = self.limits.collar_low_pct if abs(contra) <= self.limits.collar_threshold else self.limits.collar_high_pct
        width = max(abs(contra) * pct, 0.05)
        return contra + direction * width

    def _summed(self, contracts: Iterable[tuple[str, int]], into: AccountGreeks) -> AccountGreeks:
        """``into`` plus the Greeks of signed contracts, (series, qty) pairs; unpriced series add 0."""
        for symbol, qty in contracts:
            if g := self._greeks(symbol):
                into.add(symbol, g, qty)
        return into

    def _greeks_now(self) -> tuple[int, dict[str, LegGreeks | None]]:
        """(snapshot seq, Greeks per series): the cache of the current snapshot, emptied when it moves."""
        snap = self.quotes.snapshot
        seq = snap.seq if snap is not None else -1
        if self._greeks_cache[0] != seq:
            self._greeks_cache = (seq, {})
        return self._greeks_cache

    def _greeks(self, symbol: str) -> LegGreeks | None:
        """Greeks per contract of one series, computed at most once per feed snapshot."""
        cache = self._greeks_now()[1]
        if symbol not in cache:
            cache[symbol] = self._greeks_for(symbol)
        return cache[symbol]

    def _greeks_for(self, symbol: str) -> LegGreeks | None:
        rate, q_yield = self.config.chain.rate, self.config.chain.dividend_yield
        contract, quote = self.chain.get(symbol), self.quotes.quote(symbol)
        spot = self.quotes.spot(contract.underlying) if contract else None
        if not contract or not quote or not spot or not quote.iv:
            return None
        days = (contract.expiry - self.chain.as_of).days + 0.5
        g = black_scholes(contract.right, spot, float(contract.strike), year_fraction(days), quote.iv, rate, q_yield)
        m = contract.multiplier
        return LegGreeks(g.delta * m, g.vega * m, spot, g.gamma * m, g.theta * m)

    def _order_qty(self, spec: OrderSpec) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for leg in spec.legs:
            out[leg.symbol.padded] += leg.sign * leg.qty
        return out

    def _projected_side(self, spec: OrderSpec) -> int:
        """Contracts on the busier side of the order's underlying, with the order added to filled and working."""
        projection, root = self.exposure.projection, spec.underlying.ljust(6)
        sides = list(projection.sides.get((spec.account, root), (0, 0)))
        held = projection.by_account.get(spec.account, {})
        for symbol, qty in self._order_qty(spec).items():
            before = held.get(symbol, 0) if symbol.startswith(root) else 0  # a leg of another root adds alone
            shift_sides(sides, symbol, before, before + qty)
        return max(sides)

    def _projected_greeks(self, spec: OrderSpec) -> tuple[float, float, float, float]:
        """Delta and vega of the order's underlying, and the portfolio's dollar delta and vega, with the order
        added to filled and working: the account's totals at this snapshot plus the order's legs."""
        totals, root = self._greeks_of(spec.account), spec.underlying.ljust(6)
        delta, vega = totals.delta.get(root, 0.0), totals.vega.get(root, 0.0)
        dollar_delta, portfolio_vega = totals.dollar_delta, totals.portfolio_vega
        for symbol, qty in self._order_qty(spec).items():  # summed in place: an AccountGreeks an order cost 1 %
            if g := self._greeks(symbol):
                delta, vega = delta + g.delta * qty, vega + g.vega * qty
                dollar_delta, portfolio_vega = dollar_delta + g.delta * qty * g.spot, portfolio_vega + g.vega * qty
        return delta, vega, dollar_delta, portfolio_vega

    def _greeks_of(self, account: str) -> AccountGreeks:
        """The account's projected Greeks at the current snapshot: summed over its series once per snapshot."""
        greeks = self._greeks_now()[1]  # a new one with each snapshot (a restarted feed may repeat a seq)
        totals = self._account_greeks.get(account)
        if totals is None or totals.greeks is not greeks:
            totals = self._account_greeks[account] = self._summed(
                self.exposure.projection.by_account.get(account, {}).items(), AccountGreeks(greeks))
        return totals

    def _on_move(self, account: str, symbol: str, qty: int) -> None:
        """The account's books moved: its totals follow (totals of an older snapshot are summed afresh when read)."""
        totals = self._account_greeks.get(account)
        if totals is not None and (g := self._greeks(symbol)) and totals.greeks is self._greeks_cache[1]:
            totals.add(symbol, g, qty)

    def _reduces_only(self, spec: OrderSpec) -> bool:
        for leg in spec.legs:
            held = self.exposure.filled.get((spec.account, leg.symbol.padded), 0)
            if held == 0 or (held > 0) == (leg.sign > 0) or leg.qty > abs(held):
                return False
        return True

    def _tick_class(self, root: str):
        u = self.config.underlyings.get(root)
        return TICK_CLASSES[u.tick_class if u else "nickel"]

    def _past_close(self) -> bool:
        return dt.datetime.fromtimestamp(self.clock(), EXCHANGE_TZ).time() >= self.config.service.market_close

    def _unlisted_field(self, spec: OrderSpec, i: int) -> str:
        sym = spec.legs[i].symbol
        if sym.root not in self.chain.expiries:
            return series_field(spec, i, "underlying")
        if sym.expiry not in self.chain.expiries[sym.root]:
            return series_field(spec, i, "expiry")
        return series_field(spec, i, "strike")

    def _unlisted_message(self, sym) -> str:
        if sym.root not in self.chain.expiries:
            return f"{sym.root} is not a listed underlying ({', '.join(sorted(self.chain.expiries))})"
        if sym.expiry not in self.chain.expiries[sym.root]:
            listed = ", ".join(str(d) for d in self.chain.expiries[sym.root])
            return f"no {sym.root} expiry on {sym.expiry}; listed: {listed}"
        return f"strike {sym.strike} is not listed for {sym.root} {sym.expiry}"
