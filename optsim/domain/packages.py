"""Pricing a multi-leg order from its legs' quotes, one way for risk, routing and the venues.

The rules are fillsim's (``fillsim.synthetic_quote``): strategy ask = Σ bought r·offer − Σ sold r·bid,
strategy bid = Σ bought r·bid − Σ sold r·offer, and a side is None when a leg lacks the quote it needs.
"""
from __future__ import annotations

from collections.abc import Sequence

import fillsim

from ..market.quotes import Quote, VenueQuote
from .spec import OrderSpec


def touch(quote: Quote | VenueQuote) -> fillsim.Touch:
    """A quote as fillsim reads it: a side with no size (or an offer of 0) is no side."""
    return fillsim.Touch(bid(quote), quote.bid_size, offer(quote), quote.ask_size)


def bid(quote: Quote | VenueQuote) -> float | None:
    """The touch's bid alone (a single-leg order is priced against one side per venue)."""
    return quote.bid if quote.bid_size > 0 else None


def offer(quote: Quote | VenueQuote) -> float | None:
    """The touch's ask alone."""
    return quote.ask if quote.ask_size > 0 and quote.ask > 0 else None


def legs(spec: OrderSpec) -> tuple[fillsim.Leg, ...]:
    """The order's legs for fillsim, keyed by padded OCC symbol."""
    return tuple(fillsim.Leg(leg.symbol.padded, leg.sign, leg.ratio) for leg in spec.legs)


def synthetic(spec: OrderSpec, leg_quotes: Sequence[Quote | VenueQuote]) -> fillsim.SyntheticQuote:
    """The package's synthetic bid and ask from one quote per leg, in leg order."""
    return fillsim.synthetic_quote(legs(spec), {leg.symbol.padded: touch(q) for leg, q in zip(spec.legs, leg_quotes)})
