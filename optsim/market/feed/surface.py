"""What an option is worth right now: the session clock, the underlying's walk and the vol skew.

The feed lives on a simulated clock that starts at the open of the as-of date and advances one
interval per tick, so a run is the same for the same seed whatever the wall clock says. Options
expire at the close of their expiry day; after the close the clock stops and they are intrinsic.
"""
from __future__ import annotations

import datetime as dt
import math
import random

import numpy as np

from ...config import Underlying

TRADING_SECONDS_PER_YEAR = 252 * 6.5 * 3600  # GBM steps are in trading time (DOMAIN §7)
CALENDAR_SECONDS_PER_YEAR = 365 * 86400  # time to expiry is ACT/365, as greeks.year_fraction
MIN_VOL = 0.01  # a steep smile must never quote a zero or negative vol


class SessionClock:
    """Simulated time of day on the as-of date, from the open to the close."""

    def __init__(self, as_of: dt.date, open_time: dt.time, close_time: dt.time):
        self.open = dt.datetime.combine(as_of, open_time)
        self.close_time = close_time
        self.session_close = dt.datetime.combine(as_of, close_time)
        self.now = self.open

    def advance(self, seconds: float) -> None:
        self.now = min(self.now + dt.timedelta(seconds=seconds), self.session_close)

    def resume(self, moment: dt.datetime) -> None:
        """Carry on from ``moment`` (a restarted feed's last session time) if it is later on this session."""
        if self.now < moment and moment.date() == self.open.date():
            self.now = min(moment, self.session_close)

    def expiry_close(self, expiry: dt.date) -> dt.datetime:
        return dt.datetime.combine(expiry, self.close_time)

    def years_to(self, moment: dt.datetime) -> float:
        """Calendar years from now to ``moment`` (0 once it has passed)."""
        return max((moment - self.now).total_seconds(), 0.0) / CALENDAR_SECONDS_PER_YEAR


class SpotWalk:
    """Seeded geometric Brownian motion of one underlying: S·exp((μ − σ²/2)Δt + σ√Δt·Z)."""

    def __init__(self, u: Underlying, rng: random.Random):
        self.spot = u.spot
        self.vol = u.vol
        self.drift = u.drift
        self.rng = rng
        self.last_z = 0.0  # the standardized size of the latest move: |z| > 2 is a fast market

    def step(self, seconds: float) -> float:
        dt_years = seconds / TRADING_SECONDS_PER_YEAR
        self.last_z = self.rng.gauss(0.0, 1.0)
        self.spot *= math.exp((self.drift - 0.5 * self.vol ** 2) * dt_years
                              + self.vol * math.sqrt(dt_years) * self.last_z)
        return self.spot


def skew_vol(atm: np.ndarray, skew: np.ndarray, smile: np.ndarray, moneyness: np.ndarray) -> np.ndarray:
    """σ(K) = σ_atm + a·x + b·x², x = ln(K/F): put skew from ``a < 0``, wings lifted by ``b``."""
    return np.maximum(atm + skew * moneyness + smile * moneyness * moneyness, MIN_VOL)


_erf = np.frompyfunc(math.erf, 1, 1)  # numpy has no erf; math.erf per element keeps the scalar pricer's digits


def _norm_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + _erf(x / math.sqrt(2.0)).astype(float))


def theo_and_vega(call: np.ndarray, spot: np.ndarray, strike: np.ndarray, t_years: np.ndarray, vol: np.ndarray,
                  rate: float, div_yield: float) -> tuple[np.ndarray, np.ndarray]:
    """Black-Scholes-Merton price and vega per vol point of many options (domain.greeks, over arrays).

    At expiry the option is worth intrinsic and its vega is 0.
    """
    live = (t_years > 0) & (vol > 0)
    t = np.where(live, t_years, 1.0)  # any positive time: the expired rows are replaced below
    sqrt_t = np.sqrt(t)
    d1 = (np.log(spot / strike) + (rate - div_yield + 0.5 * vol * vol) * t) / (vol * sqrt_t)
    d2 = d1 - vol * sqrt_t
    disc_q, disc_r = np.exp(-div_yield * t), np.exp(-rate * t)
    sign = np.where(call, 1.0, -1.0)  # a put is the call's formula with every d and leg negated
    price = sign * (spot * disc_q * _norm_cdf(sign * d1) - strike * disc_r * _norm_cdf(sign * d2))
    vega = spot * disc_q * np.exp(-0.5 * d1 * d1) / math.sqrt(2.0 * math.pi) * sqrt_t / 100.0
    intrinsic = np.maximum(0.0, sign * (spot - strike))
    return np.where(live, price, intrinsic), np.where(live, vega, 0.0)
