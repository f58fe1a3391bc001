"""The listed option chain: which series exist on the as-of date.

Service and feed build the same chain from the same config, so a contract the feed quotes is exactly
a contract the service lists. Strikes follow the standard grid ($2.50 below $25, $5 to $200, $10
above) unless an underlying sets its own step.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from .calendar import listed_expiries
from .config import Config, Underlying
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
    """The at-the-money strike and ``per_side`` strikes either side of it on the underlying's grid."""
    step = (lambda _k: u.strike_step) if u.strike_step else standard_step
    atm_step = step(u.spot)
    atm = round(u.spot / atm_step) * atm_step
    strikes = [atm]
    below = above = atm
    for _ in range(per_side):
        below = below - step(below - 1e-9)
        if below > 0:
            strikes.append(below)
        above = above + step(above)
        strikes.append(above)
    return sorted(Decimal(str(round(k, 3))) for k in strikes)


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
