"""Prometheus metrics of the service (names and labels are the contract in docs/architecture.md).

Each app gets its own registry, so tests can build many apps in one process. Known label values
(venues, trading states, limits) are initialised to 0 so a dashboard never sees a missing series.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from . import __version__

disable_created_metrics()

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
RISK_LIMITS = ("credit", "position", "delta", "vega")
STATES = ("ACTIVE", "REDUCING", "HALTED")


class Metrics:
    def __init__(self, venues: list[str], engine: str):
        r = self.registry = CollectorRegistry()
        self.orders = Counter("optsim_orders", "Orders received, by outcome", ["underlying", "venue", "status"],
                              registry=r)
        self.rejects = Counter("optsim_order_rejects", "Orders rejected, by reason code", ["reason"], registry=r)
        self.fills = Counter("optsim_fills", "Fills (one per leg execution)", ["venue"], registry=r)
        self.filled_contracts = Counter("optsim_filled_contracts", "Contracts filled", ["venue"], registry=r)
        self.cancels = Counter("optsim_cancels", "Orders cancelled, by cause", ["cause"], registry=r)
        self.latency = Histogram("optsim_order_latency_seconds", "Receipt to answer of an order request",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.heartbeat_ts = Gauge("optsim_feed_last_heartbeat_timestamp_seconds",
                                  "Feed heartbeat time (epoch s); age = time() - this", registry=r)
        self.quote_age = Gauge("optsim_quote_age_seconds", "Age of the NBBO snapshot in use", registry=r)
        self.feed_seq = Gauge("optsim_feed_seq", "Sequence number of the NBBO snapshot in use", registry=r)
        self.missed_trades = Gauge("optsim_feed_missed_trades", "Trade prints lost to a feed sequence gap",
                                   registry=r)
        self.locked_crossed = Gauge("optsim_locked_crossed_markets", "Series whose NBBO is locked or crossed",
                                    registry=r)
        self.quotes_refused = Counter("optsim_quotes_refused", "Market data refused at the edge: whole snapshots, "
                                      "unusable series (once per snapshot taken) and trade prints", ["what"],
                                      registry=r)
        self.unusable_series = Gauge("optsim_quote_unusable_series", "Series of the snapshot in use whose quote "
                                     "failed the edge checks (read as unquoted)", registry=r)
        self.snapshot_refused = Gauge("optsim_quote_snapshot_refused", "1 while the newest snapshot on disk is "
                                      "refused or missing and an older one is in use", registry=r)
        self.route_up = Gauge("optsim_route_up", "1 when the venue takes orders", ["venue"], registry=r)
        self.risk = Gauge("optsim_risk_utilization_ratio", "Worst use of a risk limit, 1 = at the limit",
                          ["limit"], registry=r)
        self.state = Gauge("optsim_trading_state", "1 for the current trading state", ["state"], registry=r)
        self.open_orders = Gauge("optsim_open_orders", "Orders working at a venue", registry=r)
        self.build = Gauge("optsim_build_info", "Build metadata", ["version", "engine"], registry=r)
        self.build.labels(__version__, engine).set(1)
        for venue in venues:
            self.route_up.labels(venue).set(1)
            self.fills.labels(venue)
            self.filled_contracts.labels(venue)
        for what in ("snapshot", "series", "trade"):
            self.quotes_refused.labels(what)
        for limit in RISK_LIMITS:
            self.risk.labels(limit).set(0)
        self.set_state("ACTIVE")

    def set_state(self, current: str) -> None:
        for state in STATES:
            self.state.labels(state).set(1 if state == current else 0)
