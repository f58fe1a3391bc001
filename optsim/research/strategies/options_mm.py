"""An options market maker on a recorded chain: quote a few series around the money, hedge delta.

Asset 0 is the underlying; the others are the calls and puts of the ``strikes`` strikes nearest
the opening spot on one expiry. Every ``interval_ms`` of market time it

1. prices each series with the project's Black-Scholes (``optsim.domain.greeks``) on the recording's
   vol surface (ATM vol, skew, smile; ``vol`` overrides the ATM vol),
2. quotes ``size`` contracts each side, post-only, at the touch or behind it, never nearer
   theo than ``edge`` (in $), both sides shifted against its inventory by ``skew`` ticks per
   contract held; a side that would push the series past ``max_position``
   stops quoting; a live quote is replaced only when its price changes (it keeps its queue),
3. hedges: when the portfolio delta (shares: Σ position x delta x multiplier + shares held)
   is beyond ``delta_limit``, it sends an IOC for the shares that bring it back to zero, priced
   ``hedge_ticks`` through the underlying's touch so a quote that moves while the order is in
   flight does not leave the book unhedged.
"""
from __future__ import annotations

import datetime as dt
import math

from ...domain.greeks import black_scholes
from ..data import MarketData

CLOSE = dt.time(16, 0)
OPEN = dt.time(9, 30)
YEAR_S = 365 * 86400.0  # time to expiry is ACT/365 as in optsim.domain.greeks


def _opening_spot(data: MarketData, root: str) -> float:
    """The underlying's first mid in the recording."""
    ev = data.events(root)
    if not len(ev):
        raise ValueError(f"the recording has no events for the underlying {root}")
    t0 = ev["exch_ts"][0]
    first = ev[ev["exch_ts"] == t0]
    return float(first["px"].mean())


def choose_series(data: MarketData, underlying: str | None = None, expiry: str | None = None,
                  strikes: int = 2) -> list[str]:
    """[underlying, then calls and puts of the ``strikes`` strikes nearest the opening spot]."""
    options = [i for i in data.instruments if i.kind == "option"]
    roots = [i.name for i in data.instruments if i.kind == "underlying"]
    if not options or not roots:
        raise ValueError("options_mm needs a recorded chain (options and their underlying)")
    root = underlying or roots[0]
    if root not in roots:
        raise ValueError(f"underlying {root!r} is not in the recording (it has {roots})")
    as_of = data.manifest.get("as_of", "")
    mine = [i for i in options if i.meta["underlying"] == root]
    expiries = sorted({i.meta["expiry"] for i in mine})
    if expiry is None:
        later = [e for e in expiries if e > as_of]  # not the one expiring today: its Greeks are a step
        expiry = (later or expiries)[0]
    if expiry not in expiries:
        raise ValueError(f"expiry {expiry!r} is not listed for {root} (listed: {expiries})")
    spot = _opening_spot(data, root)
    chain = [i for i in mine if i.meta["expiry"] == expiry]
    nearest = sorted({i.meta["strike"] for i in chain}, key=lambda k: (abs(k - spot), k))[:max(1, strikes)]
    picked = sorted((i for i in chain if i.meta["strike"] in nearest),
                    key=lambda i: (i.meta["strike"], i.meta["right"]))
    return [root] + [i.name for i in picked]


class Surface:
    """The recording's vol surface and rates: theo and delta of one series at a spot and time."""

    def __init__(self, data: MarketData, root: str, vol: float | None):
        u = data.manifest["underlyings"][root]
        self.atm = float(vol) if vol is not None else float(u["vol"])
        self.skew, self.smile = float(u["skew"]), float(u["smile"])
        self.rate = float(data.manifest.get("rate", 0.0))
        self.div = float(data.manifest.get("dividend_yield", 0.0))

    def greeks(self, right: str, spot: float, strike: float, years: float):
        fwd = spot * math.exp((self.rate - self.div) * years)
        x = math.log(strike / fwd)
        vol = max(self.atm + self.skew * x + self.smile * x * x, 0.01)
        return black_scholes(right, spot, strike, years, vol, self.rate, self.div)


def mpv(inst, price: float) -> float:
    """The series' minimum price variation at ``price`` (its tick class: below/at-or-above $3)."""
    tc = inst.meta.get("tick_class")
    if not tc:
        return inst.tick_size
    return tc["below_3"] if price < 3 else tc["at_or_above_3"]


def round_down(price: float, step: float) -> float:
    return math.floor(price / step + 1e-9) * step


def round_up(price: float, step: float) -> float:
    return math.ceil(price / step - 1e-9) * step


def select_assets(data: MarketData, *, underlying: str | None = None, expiry: str | None = None,
                  strikes: int = 2, **_params) -> list[str]:
    """The instruments this strategy trades (``run_backtest`` loads only these)."""
    return choose_series(data, underlying, expiry, strikes)


def options_mm(bt, data: MarketData, *, underlying: str | None = None, expiry: str | None = None,
               strikes: int = 2, size: float = 1, edge: float = 0.02, skew: float = 1.0,
               max_position: float = 10, delta_limit: float = 100.0, hedge_ticks: int = 5,
               vol: float | None = None, interval_ms: float = 500):
    """Quote the series ``select_assets`` chose and keep delta within ``delta_limit`` shares."""
    pricer = ChainPricer(data, vol)
    live: dict[tuple[int, int], tuple[int, float]] = {}  # (asset, side) -> (order id, price)
    step = int(interval_ms * 1e6)
    start = None
    while bt.elapse(step):
        start = bt.now if start is None else start
        bid_u, ask_u = bt.best_bid, bt.best_ask
        if not (math.isfinite(bid_u) and math.isfinite(ask_u)):
            continue
        greeks = pricer.greeks((bid_u + ask_u) / 2, bt.now - start)
        positions = [bt.asset(k).position for k in range(len(greeks) + 1)]
        for k, (inst, g) in enumerate(zip(pricer.series, greeks), start=1):
            _quote(bt, k, inst, g.price, positions[k], live, size=size, edge=edge, skew=skew,
                   max_position=max_position)
        delta = pricer.delta(greeks, positions)
        if abs(delta) > delta_limit:
            shares, reach = round(-delta), hedge_ticks * bt.tick_size
            if shares > 0:
                bt.buy(round(ask_u + reach, 10), shares, tif="IOC", asset=0)
            elif shares < 0 and bid_u - reach > 0:
                bt.sell(round(bid_u - reach, 10), -shares, tif="IOC", asset=0)


class ChainPricer:
    """Theo and Greeks of the quoted series (assets 1..n; asset 0 is their underlying).

    The recording's clock is the wall clock; the chain's is the session's, which starts at the
    open on the as-of date. ``elapsed_ns`` since the first decision maps one onto the other.
    """

    def __init__(self, data: MarketData, vol: float | None = None):
        self.series = [data.instrument(n) for n in data.names[1:]]
        if not self.series:
            raise ValueError("no option series to quote")
        self.surface = Surface(data, data.names[0], vol)
        self.open_at = dt.datetime.combine(dt.date.fromisoformat(data.manifest["as_of"]), OPEN)
        self.closes = [dt.datetime.combine(dt.date.fromisoformat(s.meta["expiry"]), CLOSE) for s in self.series]

    def greeks(self, spot: float, elapsed_ns: int) -> list:
        now = self.open_at + dt.timedelta(seconds=elapsed_ns / 1e9)
        return [self.surface.greeks(s.meta["right"], spot, s.meta["strike"],
                                    max((close - now).total_seconds(), 0.0) / YEAR_S)
                for s, close in zip(self.series, self.closes)]

    def delta(self, greeks: list, positions: list[float]) -> float:
        """Portfolio delta in shares: ``positions[0]`` shares plus each series' contracts x delta x multiplier."""
        return positions[0] + sum(p * g.delta * s.multiplier
                                  for p, g, s in zip(positions[1:], greeks, self.series))


def _quote(bt, k, inst, theo, position, live, *, size, edge, skew, max_position):
    """Keep one post-only quote per side of series ``k`` at the price this decision wants."""
    view = bt.asset(k)
    best_bid, best_ask = view.best_bid, view.best_ask
    lean = skew * position * inst.tick_size
    want = {}
    if position + size <= max_position:  # never improve the touch, never nearer theo than edge
        px = (min(theo - edge, best_bid) if math.isfinite(best_bid) else theo - edge) - lean
        want[1] = round_down(px, mpv(inst, px))
    if -position + size <= max_position:
        px = (max(theo + edge, best_ask) if math.isfinite(best_ask) else theo + edge) - lean
        want[-1] = round_up(px, mpv(inst, px))
    for side in (1, -1):
        held = live.get((k, side))
        if held is not None:
            order = bt.orders.get(held[0])
            if order is None or not order.live:  # filled, expired or cancelled: nothing to keep
                live.pop((k, side))
                held = None
        price = want.get(side)
        if held is not None and (price is None or abs(held[1] - price) > 1e-9):
            bt.cancel(held[0])
            live.pop((k, side))
            held = None
        if held is None and price is not None and price > 0:
            send = bt.buy if side == 1 else bt.sell
            live[(k, side)] = (send(price, size, tif="GTX", asset=k), price)


options_mm.select_assets = select_assets
