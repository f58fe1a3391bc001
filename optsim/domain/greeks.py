"""Black-Scholes-Merton price and Greeks with dividend yield (DOMAIN §7).

Vega is per vol point (x0.01) and theta per calendar day (/365), the units a desk quotes.
At expiry or zero vol the option is worth intrinsic and delta is a step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def norm_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / _SQRT2))


def norm_pdf(x: float) -> float:
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


@dataclass(frozen=True, slots=True)
class Greeks:
    price: float
    delta: float  # per 1 share of underlying, per option
    gamma: float
    vega: float  # price change per 1 vol point
    theta: float  # price change per calendar day


def black_scholes(right: str, spot: float, strike: float, t_years: float, vol: float,
                  rate: float = 0.0, div_yield: float = 0.0) -> Greeks:
    """Price and Greeks of one European option; ``right`` is "C" or "P"."""
    call = right == "C"
    if t_years <= 0 or vol <= 0:
        fwd_intrinsic = max(0.0, (spot - strike) if call else (strike - spot))
        step = (1.0 if spot > strike else 0.0) if call else (-1.0 if spot < strike else 0.0)
        return Greeks(fwd_intrinsic, step, 0.0, 0.0, 0.0)
    sqrt_t = math.sqrt(t_years)
    d1 = (math.log(spot / strike) + (rate - div_yield + 0.5 * vol * vol) * t_years) / (vol * sqrt_t)
    d2 = d1 - vol * sqrt_t
    disc_q, disc_r = math.exp(-div_yield * t_years), math.exp(-rate * t_years)
    pdf = norm_pdf(d1)
    gamma = disc_q * pdf / (spot * vol * sqrt_t)
    vega = spot * disc_q * pdf * sqrt_t / 100.0
    decay = -spot * disc_q * pdf * vol / (2.0 * sqrt_t)
    if call:
        price = spot * disc_q * norm_cdf(d1) - strike * disc_r * norm_cdf(d2)
        delta = disc_q * norm_cdf(d1)
        theta = decay - rate * strike * disc_r * norm_cdf(d2) + div_yield * spot * disc_q * norm_cdf(d1)
    else:
        price = strike * disc_r * norm_cdf(-d2) - spot * disc_q * norm_cdf(-d1)
        delta = disc_q * (norm_cdf(d1) - 1.0)
        theta = decay + rate * strike * disc_r * norm_cdf(-d2) - div_yield * spot * disc_q * norm_cdf(-d1)
    return Greeks(price, delta, gamma, vega, theta / 365.0)


def year_fraction(days: float) -> float:
    """Calendar days to expiry as a year fraction (ACT/365)."""
    return max(days, 0.0) / 365.0
