"""Multi-leg (complex) orders: the whole package at a net price, legs in ratio, or nothing.

Conventions: a leg's ``side`` is +1 when the package buys it, -1 when it sells it; the net
price is ``sum(side * ratio * leg price)`` per package, > 0 a debit (we pay), < 0 a credit.
A package order executes when the strategy's synthetic offer is at or better than its limit:

    strategy ask = sum over bought legs of r * NBO - sum over sold legs of r * NBB
    strategy bid = sum over bought legs of r * NBB - sum over sold legs of r * NBO

Bought legs take the offer, sold legs hit the bid, each at that leg's touch, and the number of
packages is capped by the scarcest leg (displayed size / ratio, whole packages only).
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

from .online import Touch

__all__ = ["Leg", "LegFill", "PackageFill", "SyntheticQuote", "fill_package", "synthetic_quote"]

#: Prices closer than this count as equal (leg prices are sums of float cents).
PRICE_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Leg:
    instrument: Hashable
    side: int  # +1 the package buys this leg, -1 it sells it
    ratio: int  # contracts of this leg per package (>= 1)

    def __post_init__(self):
        if self.side not in (1, -1):
            raise ValueError(f"leg side must be +1 or -1, got {self.side!r}")
        if int(self.ratio) != self.ratio or self.ratio < 1:
            raise ValueError(f"leg ratio must be a whole number >= 1, got {self.ratio!r}")


@dataclass(frozen=True, slots=True)
class LegFill:
    instrument: Hashable
    side: int
    px: float  # the leg's touch: NBO for a bought leg, NBB for a sold one
    qty: int  # ratio * packages filled


@dataclass(frozen=True, slots=True)
class PackageFill:
    qty: int  # packages filled
    net_px: float  # per package, > 0 debit
    legs: tuple[LegFill, ...]


@dataclass(frozen=True, slots=True)
class SyntheticQuote:
    """The package's synthetic NBBO; a side is None when some leg lacks the quote it needs."""

    bid: float | None
    bid_size: int  # packages available at bid
    ask: float | None
    ask_size: int  # packages available at ask


def synthetic_quote(legs: Sequence[Leg], touches: Mapping[Hashable, Touch]) -> SyntheticQuote:
    """Price the package from each leg's touch (see the module docstring)."""
    _check_legs(legs)
    ask = _side_quote(legs, touches, buying=True)
    bid = _side_quote(legs, touches, buying=False)
    return SyntheticQuote(bid and bid[0], bid[1] if bid else 0, ask and ask[0],
                          ask[1] if ask else 0)


def fill_package(legs: Sequence[Leg], limit: float, qty: int,
                 touches: Mapping[Hashable, Touch], all_or_none: bool = False) -> PackageFill | None:
    """Execute up to ``qty`` packages at net ``limit`` or better, or return None.

    ``all_or_none`` refuses a fill of fewer than ``qty`` packages. Raises ValueError for bad
    legs (fewer than 2, duplicated instruments, ratios not in lowest terms) or a bad quantity.
    """
    _check_legs(legs)
    if int(qty) != qty or qty < 1:
        raise ValueError(f"package quantity must be a whole number >= 1, got {qty!r}")
    if not math.isfinite(limit):
        raise ValueError("package limit must be a finite net price")
    quote = _side_quote(legs, touches, buying=True)
    if quote is None:
        return None
    net, available = quote
    filled = min(int(qty), available)
    if net > limit + PRICE_EPSILON or filled < 1 or (all_or_none and filled < qty):
        return None
    fills = tuple(LegFill(leg.instrument, leg.side, _touch_px(touches[leg.instrument], leg.side),
                          leg.ratio * filled) for leg in legs)
    return PackageFill(filled, net, fills)


def _side_quote(legs, touches, buying: bool):
    """(net price, packages) to buy the package (buying=True) or to sell it, or None."""
    net, packages = 0.0, None
    for leg in legs:
        touch = touches.get(leg.instrument)
        take_offer = (leg.side == 1) == buying  # buying a leg lifts its offer
        if touch is None:
            return None
        px, size = (touch.ask, touch.ask_qty) if take_offer else (touch.bid, touch.bid_qty)
        if px is None or size <= 0:
            return None
        net += leg.side * leg.ratio * px
        fits = int(size // leg.ratio)
        packages = fits if packages is None else min(packages, fits)
    return net, packages


def _touch_px(touch: Touch, side: int) -> float:
    return touch.ask if side == 1 else touch.bid


def _check_legs(legs: Sequence[Leg]) -> None:
    if len(legs) < 2:
        raise ValueError("a package needs at least two legs")
    if len({leg.instrument for leg in legs}) != len(legs):
        raise ValueError("a package cannot hold the same instrument twice")
    if math.gcd(*(leg.ratio for leg in legs)) != 1:
        raise ValueError("leg ratios must be in lowest terms (gcd 1)")
