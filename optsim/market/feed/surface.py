"""What an option is worth right now: the session clock, the underlying's walk and the vol skew.

The feed lives on a simulated clock that starts at the open of the as-of date and advances one
interval per tick, so a run is the same for the same seed whatever the wall clock says. Options
expire at the close of their expiry day; after the close the clock stops and they are intrinsic.
"""
from __future__ import annotations

import datetime as dt
import math
import random

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


def forward(spot: float, t_years: float, rate: float, div_yield: float) -> float:
    return spot * math.exp((rate - div_yield) * t_years)


def skew_vol(u: Underlying, strike: float, fwd: float) -> float:
    """σ(K) = σ_atm + a·ln(K/F) + b·ln²(K/F): put skew from ``a < 0``, wings lifted by ``b``."""
    x = math.log(strike / fwd)
    return max(u.vol + u.skew * x + u.smile * x * x, MIN_VOL)
