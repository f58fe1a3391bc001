"""The validated order the service works with, after parsing and before risk.

Requests arrive as pydantic models (``models.py``); ``models.parse_order`` turns them into an
``OrderSpec`` whose legs carry OCC symbols, ratios in lowest terms and Decimal prices.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from .occ import OccSymbol


@dataclass(frozen=True, slots=True)
class LegSpec:
    symbol: OccSymbol
    side: str  # "BUY" or "SELL"
    ratio: int  # leg quantity / package quantity, >= 1, gcd over legs == 1
    qty: int  # absolute contracts for this leg (= ratio x package qty)
    price: Decimal | None  # the leg's own limit as sent (multi-leg: informational)

    @property
    def sign(self) -> int:
        return 1 if self.side == "BUY" else -1


@dataclass(frozen=True, slots=True)
class OrderSpec:
    kind: str  # "single" or "multi"
    strategy_type: str  # as requested: "single", "vertical", ..., "custom"
    strategy_detected: str  # the template the legs actually form ("custom" if none)
    legs: tuple[LegSpec, ...]
    qty: int  # package quantity (single: the order qty)
    limit_price: Decimal | None  # single: premium; multi: net, > 0 debit, < 0 credit; None = MARKET
    order_type: str = "LIMIT"  # LIMIT or MARKET
    time_in_force: str = "DAY"  # DAY, GTC, IOC or FOK
    account: str = "DEFAULT"
    client_order_id: str | None = None
    post_only: bool = False  # add liquidity only (refused if it would take)
    body: dict = field(default_factory=dict, compare=False)  # canonical request, for idempotent retries

    @property
    def underlying(self) -> str:
        return self.legs[0].symbol.root

    @property
    def side(self) -> str:
        """Single: the leg side. Multi: BUY for a net debit (or unknown), SELL for a net credit."""
        if self.kind == "single":
            return self.legs[0].side
        return "SELL" if self.limit_price is not None and self.limit_price < 0 else "BUY"
