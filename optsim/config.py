"""Every limit, venue, latency and threshold of the simulator, with built-in defaults.

Precedence: built-in defaults < TOML file (``--config``) < command-line flags < test mapping.
Each process (service, feed, monitor) loads the same file, so one edit reconfigures the suite.
Unknown keys are refused, so a typo in the TOML is an error at start-up, not a silent default.
"""
from __future__ import annotations

import datetime as dt
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(8081, ge=0, le=65535)
    threads: int = Field(8, ge=1, le=64)
    data_dir: str = "data"
    as_of: dt.date | None = None  # simulated trading date; None = today
    admin_token: str = ""  # overridden by OPTSIM_ADMIN_TOKEN; empty = admin endpoints refuse all
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    market_close: dt.time = dt.time(16, 0)  # expiry-day cut-off, exchange local time
    quote_poll_interval_s: float = Field(0.25, gt=0)  # background take of the feed's snapshot
    quote_max_cross: float = Field(0.50, ge=0)  # $ a series may be crossed before its quote is bad data, not a market
    durability: Literal["process", "power"] = "process"  # survive a killed process / also power loss
    connection_limit: int = Field(1000, ge=10)  # open sockets at once; far above the load it is sized for
    channel_timeout_s: float = Field(30.0, gt=0)  # an idle or stalled client is closed after this long
    min_free_disk_mb: float = Field(64.0, ge=0)  # /health fails below this much free space in the data dir
    gil_switch_interval_s: float = Field(0.001, gt=0, le=0.1)  # how long a thread may wait for the GIL (Python: 5 ms)
    gc_thaw_interval_s: float = Field(600.0, ge=0)  # full passes walk objects made since the last; 0: freeze none

    @property
    def url(self) -> str:
        """Where the suite's own processes reach the service: loopback for a wildcard bind (0.0.0.0, ::),
        an IPv6 address in brackets."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(self.host, self.host)
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"


class AuthConfig(Section):
    """Who may place and cancel orders, and which Host names the service answers to."""

    order_tokens: Literal["auto", "on", "off"] = "auto"  # auto: required unless the service binds loopback only
    accounts: dict[str, str] = Field(default_factory=dict)  # account -> bearer token that trades and cancels for it
    allowed_hosts: list[str] = Field(default_factory=list)  # Host names accepted besides loopback and the bind host

    @field_validator("accounts")
    @classmethod
    def _tokens_long_and_distinct(cls, value: dict[str, str]) -> dict[str, str]:
        if any(len(token) < 16 for token in value.values()):
            raise ValueError("every account token must be at least 16 characters")
        if len(set(value.values())) != len(value):
            raise ValueError("two accounts share a token")
        return value


class TickClass(Section):
    """Minimum price variation for one class of options (DOMAIN §2)."""

    below_3: float = 0.01  # MPV when premium < $3.00
    at_or_above_3: float = 0.05  # MPV when premium >= $3.00
    complex: float = 0.01  # MPV of a multi-leg net price


TICK_CLASSES: dict[str, TickClass] = {
    "penny_all": TickClass(below_3=0.01, at_or_above_3=0.01, complex=0.01),  # SPY, QQQ, IWM
    "penny": TickClass(below_3=0.01, at_or_above_3=0.05, complex=0.01),  # Penny Interval Program
    "nickel": TickClass(below_3=0.05, at_or_above_3=0.10, complex=0.01),  # non-penny classes
}


class Underlying(Section):
    spot: float = Field(gt=0)  # reference price the listed chain is built around
    vol: float = Field(0.25, gt=0, le=5)  # at-the-money implied vol
    skew: float = -0.15  # a in sigma(K) = atm + a*ln(K/F) + b*ln^2(K/F)
    smile: float = 0.35  # b
    drift: float = 0.0
    tick_class: Literal["penny_all", "penny", "nickel"] = "penny"
    multiplier: int = Field(100, gt=0)
    strike_step: float | None = Field(None, gt=0)  # near the money; None = standard $2.50 / $5 / $10 grid
    near_strikes: int | None = Field(None, ge=0, le=200)  # strikes each side at strike_step; None = all
    wing_step: float | None = Field(None, gt=0)  # beyond the near band, on its own grid; None = strike_step
    strikes_per_side: int | None = Field(None, ge=1, le=200)  # None = chain.strikes_per_side


def _default_underlyings() -> dict[str, Underlying]:
    return {
        # as the exchanges list them: index ETFs $1 near the money, single stocks $2.50, both $5 to the wings
        "SPY": Underlying(spot=575.0, vol=0.16, tick_class="penny_all", strike_step=1.0, near_strikes=6,
                          wing_step=5.0, strikes_per_side=10),
        "QQQ": Underlying(spot=500.0, vol=0.20, tick_class="penny_all", strike_step=1.0, near_strikes=6,
                          wing_step=5.0, strikes_per_side=10),
        "AAPL": Underlying(spot=225.0, vol=0.25, tick_class="penny", strike_step=2.5, near_strikes=6, wing_step=5.0,
                           strikes_per_side=10),
        "MSFT": Underlying(spot=420.0, vol=0.24, tick_class="penny", strike_step=2.5, near_strikes=6, wing_step=5.0,
                           strikes_per_side=10),
        "TSLA": Underlying(spot=250.0, vol=0.55, tick_class="penny", strike_step=2.5, near_strikes=6, wing_step=5.0,
                           strikes_per_side=10),
    }


class ChainConfig(Section):
    """Which contracts are listed around each underlying's spot on the as-of date."""

    weeklies: int = Field(4, ge=0, le=12)  # consecutive Friday weeklies listed
    monthlies: int = Field(3, ge=1, le=24)  # standard third-Friday monthlies listed
    strikes_per_side: int = Field(10, ge=1, le=60)  # strikes below and above the at-the-money one
    holidays: list[dt.date] = Field(default_factory=lambda: [dt.date(2025, 1, 9), dt.date(2025, 4, 18),
                                                             dt.date(2026, 4, 3), dt.date(2026, 6, 19)])
    rate: float = 0.04  # risk-free rate for Black-Scholes
    dividend_yield: float = 0.0


class Venue(Section):
    name: str
    fee_take: float = 0.50  # $ per contract to remove liquidity
    fee_make: float = -0.25  # $ per contract to add (negative = rebate)
    allocation: Literal["price_time", "pro_rata", "customer_priority_pro_rata"] = "price_time"
    entry_latency_us: float = Field(150.0, ge=0)
    response_latency_us: float = Field(100.0, ge=0)
    max_legs: int = Field(16, ge=2, le=100)
    quote_presence: float = Field(0.85, ge=0, le=1)  # share of series this venue quotes in the feed


def _default_venues() -> list[Venue]:
    return [
        Venue(name="CBOE", fee_take=0.47, fee_make=0.0, allocation="customer_priority_pro_rata",
              entry_latency_us=180, response_latency_us=120),
        Venue(name="C2", fee_take=0.50, fee_make=-0.41, entry_latency_us=160, response_latency_us=110),
        Venue(name="ISE", fee_take=0.50, fee_make=-0.25, allocation="customer_priority_pro_rata",
              entry_latency_us=200, response_latency_us=130),
        Venue(name="PHLX", fee_take=0.48, fee_make=-0.20, allocation="customer_priority_pro_rata",
              entry_latency_us=210, response_latency_us=140),
        Venue(name="NOM", fee_take=0.50, fee_make=-0.35, entry_latency_us=150, response_latency_us=100),
        Venue(name="ARCA", fee_take=0.50, fee_make=-0.32, entry_latency_us=170, response_latency_us=110),
        Venue(name="MIAX", fee_take=0.50, fee_make=-0.25, allocation="pro_rata",
              entry_latency_us=140, response_latency_us=90),
        Venue(name="BOX", fee_take=0.45, fee_make=-0.30, allocation="pro_rata",
              entry_latency_us=230, response_latency_us=150, quote_presence=0.7),
    ]


class RiskConfig(Section):
    max_contracts: int = Field(500, ge=1)  # per order (per leg ratio x qty for complex)
    max_notional: float = Field(250_000.0, gt=0)  # premium $ per order
    credit_limit: float = Field(2_000_000.0, gt=0)  # open + filled premium per account
    collar_low_pct: float = Field(1.00, gt=0)  # allowed % through contra NBBO when it is <= threshold
    collar_high_pct: float = Field(0.50, gt=0)  # ... and above it
    collar_threshold: float = Field(1.00, gt=0)
    quote_max_age_s: float = Field(5.0, gt=0)  # older NBBO = no reference
    duplicate_window_s: float = Field(1.0, ge=0)
    max_orders_per_s: int = Field(100, ge=1)  # per account
    position_limit: int = Field(25_000, ge=1)  # same-side-of-market contracts per underlying
    delta_limit: float = Field(250_000.0, gt=0)  # |share-equivalent delta| per underlying
    vega_limit: float = Field(250_000.0, gt=0)  # |$ per vol point| per underlying
    portfolio_delta_limit: float = Field(1_000_000.0, gt=0)
    portfolio_vega_limit: float = Field(1_000_000.0, gt=0)
    restricted: list[str] = Field(default_factory=list)  # underlyings nobody may trade


class TripsConfig(Section):
    """Automatic kill-switch trips; each opens a ``risk_trip`` incident with its cause. 0 turns a trip off."""

    daily_loss_limit: float = Field(100_000.0, ge=0)  # $ net PnL (realized + unrealized at mid - fees) below -this
    drawdown_limit: float = Field(150_000.0, ge=0)  # $ fall of net PnL from the day's high
    loss_action: Literal["HALTED", "REDUCING"] = "HALTED"
    reject_rate: float = Field(0.8, ge=0, le=1)  # share of orders rejected over window_s ...
    reject_rate_min_orders: int = Field(50, ge=1)  # ... once at least this many came in
    max_order_rate: float = Field(500.0, ge=0)  # orders/s over window_s, every account together (runaway)
    window_s: float = Field(10.0, gt=0)
    runaway_action: Literal["HALTED", "REDUCING"] = "HALTED"
    limit_breach: bool = True  # a position or Greek limit over 100% on fills and marks (not pre-trade)
    breach_action: Literal["HALTED", "REDUCING"] = "REDUCING"


class FillConfig(Section):
    """How the fill simulator treats orders at a venue (see fillsim)."""

    queue_model: str = "risk_averse"  # "risk_averse", "power", "log"
    queue_power: float = Field(2.0, gt=0)
    partial_fills: bool = True
    latency_jitter: Literal["none", "normal", "lognormal"] = "none"
    latency_jitter_sigma: float = Field(0.2, ge=0)
    seed: int = 7


class FeedConfig(Section):
    interval_s: float = Field(0.25, gt=0)  # one snapshot per interval
    json_interval_s: float = Field(1.0, ge=0)  # quotes.json (people, tools) this often, in whole snapshots; 0: each
    json_cpu_share: float = Field(0.05, ge=0, le=1)  # ...or less often: at most this share of a core; 0: no cap
    seed: int = 42
    trade_probability: float = Field(0.02, ge=0, le=1)  # per series per tick
    trades_kept: int = Field(2000, ge=10)  # ring of recent prints in quotes.json
    max_spread_widen: float = Field(1.0, ge=0)  # extra half-spread, as a multiple, in a fast market
    refresh_s: float = Field(5.0, gt=0)  # requote a series this often even when its theo has not moved
    session_open: dt.time = dt.time(9, 30)  # the feed's simulated clock starts here on the as-of date


class MonitorConfig(Section):
    interval_s: float = Field(2.0, gt=0)
    request_timeout_s: float = Field(1.5, gt=0)
    feed_stale_after_s: float = Field(5.0, gt=0)  # heartbeat age that opens feed_stale
    feed_warn_after_s: float = Field(2.0, gt=0)  # soft threshold shown as warn
    feed_frozen_polls: int = Field(3, ge=1)  # polls with an unchanged seq that open feed_frozen
    resolve_after_polls: int = Field(2, ge=1)  # healthy polls before auto-resolve
    reject_rate_threshold: float = Field(0.05, gt=0, le=1)
    reject_rate_min_orders: int = Field(20, ge=1)
    latency_slo_p99_s: float = Field(0.25, gt=0)
    risk_utilization_threshold: float = Field(1.0, gt=0)
    group_wait_polls: int = Field(2, ge=1)  # polls a knock-on signal fires alone before it opens its own incident
    webhook_url: str = ""  # shorthand for one [[notify.webhooks]] entry in the plain JSON format


class Webhook(Section):
    """One place notifications go: a chat channel or an HTTP endpoint of your own."""

    name: str = "webhook"
    url: str = Field(pattern=r"^https?://")
    format: Literal["json", "slack", "discord"] = "json"
    min_severity: Literal["SEV1", "SEV2", "SEV3", "SEV4"] = "SEV4"  # SEV4 = everything
    escalation_level: int = Field(0, ge=0)  # receives an incident once escalation reaches this level


class NotifyConfig(Section):
    """Who hears about incidents, and how often an unacknowledged one is repeated and escalated."""

    webhooks: list[Webhook] = Field(default_factory=list)
    renotify_after_s: dict[Literal["SEV1", "SEV2", "SEV3", "SEV4"], float] = Field(
        default_factory=lambda: {"SEV1": 300.0, "SEV2": 900.0})  # unacknowledged: repeat and escalate one level
    escalation: list[str] = Field(default_factory=lambda: ["primary on-call", "secondary on-call",
                                                           "trading desk lead"], min_length=1)
    retries: int = Field(3, ge=0, le=10)  # after the first attempt; then the notification is recorded as failed
    backoff_s: float = Field(0.5, gt=0)  # doubles after each failed attempt ...
    backoff_max_s: float = Field(8.0, gt=0)  # ... up to this
    timeout_s: float = Field(2.0, gt=0)
    base_url: str = ""  # where links point (runbook, dashboard); default the URL the monitor polls (--url)

    @field_validator("renotify_after_s")
    @classmethod
    def _positive(cls, value: dict[str, float]) -> dict[str, float]:
        if any(v <= 0 for v in value.values()):
            raise ValueError("re-notify intervals must be > 0 seconds")
        return value


class DrillsConfig(Section):
    scenario_dir: str = ""  # extra scenario files (*.json) besides the built-in drills/ directory
    silence: bool = True  # a drill silences the notifications of the incidents it expects
    silence_grace_s: float = Field(120.0, ge=0)  # the drill's silence outlives the fault by this much


class IncidentConfig(Section):
    rotate_bytes: int = Field(16 * 1024 * 1024, ge=4096)
    keep_rotated: int = Field(5, ge=0)
    update_every_s: float = Field(60.0, ge=0)  # at most one line per this many s for an unchanged repeat detection


class Config(Section):
    service: ServiceConfig = ServiceConfig()
    auth: AuthConfig = AuthConfig()
    underlyings: dict[str, Underlying] = Field(default_factory=_default_underlyings)
    chain: ChainConfig = ChainConfig()
    venues: list[Venue] = Field(default_factory=_default_venues)
    risk: RiskConfig = RiskConfig()
    trips: TripsConfig = TripsConfig()
    fill: FillConfig = FillConfig()
    feed: FeedConfig = FeedConfig()
    monitor: MonitorConfig = MonitorConfig()
    incidents: IncidentConfig = IncidentConfig()
    notify: NotifyConfig = NotifyConfig()
    drills: DrillsConfig = DrillsConfig()

    @field_validator("underlyings")
    @classmethod
    def _roots_are_occ_roots(cls, value: dict[str, Underlying]) -> dict[str, Underlying]:
        for root in value:
            if not (1 <= len(root) <= 6 and root.isalnum() and root.upper() == root):
                raise ValueError(f"underlying {root!r} is not a 1-6 character upper-case OCC root")
        return value

    @field_validator("venues")
    @classmethod
    def _venue_names_unique(cls, value: list[Venue]) -> list[Venue]:
        names = [v.name for v in value]
        if len(set(names)) != len(names):
            raise ValueError("venue names must be unique")
        return value

    # ----------------------------------------------------------------- derived
    @property
    def as_of(self) -> dt.date:
        """The simulated trading date."""
        return self.service.as_of or dt.date.today()

    @property
    def data_dir(self) -> Path:
        return Path(self.service.data_dir)

    @property
    def admin_token(self) -> str:
        return os.environ.get("OPTSIM_ADMIN_TOKEN") or self.service.admin_token

    @property
    def base_url(self) -> str:
        return self.notify.base_url.rstrip("/") or self.service.url

    def webhooks(self) -> list[Webhook]:
        """``notify.webhooks`` plus the ``monitor.webhook_url`` shorthand."""
        extra = [Webhook(name="default", url=self.monitor.webhook_url)] if self.monitor.webhook_url else []
        return list(self.notify.webhooks) + extra

    def venue(self, name: str) -> Venue | None:
        return next((v for v in self.venues if v.name == name), None)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge mappings; lists and scalars in ``override`` replace those in ``base``."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key != "underlyings":
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the file or each bad key, one per line."""


def load_config(path: str | os.PathLike | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Defaults, then the TOML file at ``path`` (if any), then ``overrides`` (nested mapping).

    Raises ``ConfigError`` for a missing or malformed file and for any bad key or value.
    """
    data: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    if overrides:
        data = _merge(data, overrides)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']} (got {e.get('input')!r})"
                                    for e in exc.errors(include_url=False))) from exc


def cli_overrides(*, host=None, port=None, data_dir=None, as_of=None) -> dict[str, Any]:
    """The nested override mapping for the flags every entry point shares (None = not given)."""
    service = {k: v for k, v in {"host": host, "port": port, "data_dir": data_dir, "as_of": as_of}.items()
               if v is not None}
    return {"service": service} if service else {}
