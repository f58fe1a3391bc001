"""The listed option chain: which series exist on the as-of date.

Service and feed build the same chain from the same config, so a contract the feed quotes is exactly
a contract the service lists. Strikes are listed the way the exchanges list them: a fine step near the
money and a wider one out to the wings (AAPL: $2.50 near the money, $5 beyond; SPY/QQQ: $1 near the
money), per underlying in config; an underlying without its own step uses the standard grid ($2.50
below $25, $5 to $200, $10 above).
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal

from .calendar import listed_expiries
from ..config import Config, Underlying
from .occ import OccSymbol, make_symbol


@dataclass(frozen=True, slots=True)
class Contract:
    symbol: OccSymbol
    underlying: str
    multiplier: int
    tick_class: str

    @property
    def occ(self) -> str:
        return self.symbol.padded

    @property
    def expiry(self) -> dt.date:
        return self.symbol.expiry

    @property
    def strike(self) -> Decimal:
        return self.symbol.strike

    @property
    def right(self) -> str:
        return self.symbol.right


def standard_step(strike: float) -> float:
    return 2.5 if strike < 25 else 5.0 if strike < 200 else 10.0


def listed_strikes(u: Underlying, per_side: int) -> list[Decimal]:
    """The at-the-money strike and ``per_side`` strikes either side of it (``u.strikes_per_side`` if set).

    The first ``u.near_strikes`` each side are ``u.strike_step`` apart; the rest are ``u.wing_step`` apart and
    on that step's grid (a $5 wing after a $2.50 band starts at the next multiple of $5).
    """
    per_side = u.strikes_per_side or per_side
    near = per_side if u.near_strikes is None else min(u.near_strikes, per_side)
    near_step = (lambda _k: u.strike_step) if u.strike_step else standard_step
    wing_step = (lambda _k: u.wing_step) if u.wing_step else near_step
    atm_step = near_step(u.spot)
    atm = round(u.spot / atm_step) * atm_step
    strikes = [atm]
    for direction in (-1, +1):
        k = atm
        for i in range(per_side):
            step = near_step(k + direction * 1e-9) if i < near else wing_step(k + direction * 1e-9)
            k = k + direction * step if i != near else _next_on_grid(k, step, direction)
            if k <= 0:
                break
            strikes.append(k)
    return sorted(Decimal(str(round(k, 3))) for k in strikes)


def _next_on_grid(strike: float, step: float, direction: int) -> float:
    """The first multiple of ``step`` strictly below (direction -1) or above (+1) ``strike``."""
    if direction < 0:
        return math.floor((strike - 1e-9) / step) * step
    return math.ceil((strike + 1e-9) / step) * step


class Chain:
    """All listed series by padded OCC symbol, with the expiries and strikes per underlying."""

    def __init__(self, config: Config):
        self.as_of = config.as_of
        self.contracts: dict[str, Contract] = {}
        self.expiries: dict[str, list[dt.date]] = {}
        self.strikes: dict[str, list[Decimal]] = {}
        c = config.chain
        expiries = listed_expiries(self.as_of, c.weeklies, c.monthlies, c.holidays)
        for root, u in config.underlyings.items():
            self.expiries[root] = expiries
            self.strikes[root] = listed_strikes(u, c.strikes_per_side)
            for expiry in expiries:
                for strike in self.strikes[root]:
                    for right in ("C", "P"):
                        sym = make_symbol(root, expiry, right, strike)
                        self.contracts[sym.padded] = Contract(sym, root, u.multiplier, u.tick_class)

    def get(self, symbol: OccSymbol | str) -> Contract | None:
        return self.contracts.get(symbol.padded if isinstance(symbol, OccSymbol) else symbol)

    def __len__(self) -> int:
        return len(self.contracts)

    def __iter__(self):
        return iter(self.contracts.values())
