"""Prometheus metrics of the service (names and labels are the contract in docs/architecture.md).

Each app gets its own registry, so tests can build many apps in one process. Known label values
(venues, trading states, limits) are initialised to 0 so a dashboard never sees a missing series.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from .. import __version__

disable_created_metrics()

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
GC_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
RISK_LIMITS = ("credit", "position", "delta", "vega", "portfolio_delta", "portfolio_vega", "daily_loss", "drawdown")
STATES = ("ACTIVE", "REDUCING", "HALTED")
HEALTH = ("pass", "warn", "fail")


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
        self.gc_pauses = Histogram("optsim_gc_pause_seconds", "Each pass of Python's cyclic garbage collector "
                                   "(every thread waits for it), by generation", ["generation"],
                                   buckets=GC_BUCKETS, registry=r)
        for generation in ("0", "1", "2"):
            self.gc_pauses.labels(generation)
        self.heartbeat_ts = Gauge("optsim_feed_last_heartbeat_timestamp_seconds",
                                  "Feed heartbeat time (epoch s); age = time() - this", registry=r)
        self.quote_age = Gauge("optsim_quote_age_seconds", "Age of the NBBO snapshot in use", registry=r)
        self.feed_seq = Gauge("optsim_feed_seq", "Sequence number of the NBBO snapshot in use", registry=r)
        self.missed_trades = Gauge("optsim_feed_missed_trades",
                                   "Trade prints the service never read since it started: they left the feed's ring "
                                   "of recent prints (feed.trades_kept) before a snapshot holding them was taken",
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
        self.net_pnl = Gauge("optsim_net_pnl_dollars", "Firm net PnL: realized + unrealized at the NBBO mid - fees "
                             "(the daily loss trip's figure)", registry=r)
        self.positions = Gauge("optsim_open_positions", "Series with a non-zero position, over all accounts",
                               registry=r)
        self.trip = Gauge("optsim_trip_active", "1 while an automatic trip holds trading in its state (HALTED or "
                          "REDUCING), by the trip's cause; gone once the kill switch is set or released by hand",
                          ["cause", "state"], registry=r)
        self.health_check = Gauge("optsim_health_check_failing", "1 for each /health check that fails now "
                                  "(disk:freeSpace, orders-db:integrity, ...), 0 for one that does not", ["check"],
                                  registry=r)
        self.health = Gauge("optsim_health_status", "1 for the current /health status (pass, warn, fail)",
                             ["status"], registry=r)
        self.drill_runs = Gauge("optsim_drill_runs", "Scored drill runs in drills.jsonl, by drill and result "
                                "(passed, failed: failed, aborted or interrupted)", ["drill", "result"], registry=r)
        self.drill_median = Gauge("optsim_drill_median_seconds", "Median time from fault to detect (ttd), "
                                  "acknowledge (tta), mitigate (ttm), resolve (ttr) over a drill's last passed runs",
                                  ["drill", "phase"], registry=r)
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
        self.set_health("pass")

    def set_state(self, current: str, source: str = "") -> None:
        """The trading state in force, and the trip that set it when ``source`` is ``trip:<cause>``."""
        for state in STATES:
            self.state.labels(state).set(1 if state == current else 0)
        self.trip.clear()
        if source.startswith("trip:") and current != "ACTIVE":
            self.trip.labels(source.partition(":")[2], current).set(1)

    def set_drills(self, history: dict) -> None:
        """What GET /drills/history answers, as gauges (a phase no passed run reached has no series)."""
        self.drill_runs.clear()
        self.drill_median.clear()
        for d in history["drills"]:
            self.drill_runs.labels(d["drill"], "passed").set(d["passed"])
            self.drill_runs.labels(d["drill"], "failed").set(d["failed"])
            for phase, median in d["medians"].items():
                if median is not None:
                    self.drill_median.labels(d["drill"], phase.removesuffix("_s")).set(median)

    def set_health(self, current: str, checks: dict[str, list[dict]] | None = None) -> None:
        """What /health would answer now, so Prometheus can alert on it like the monitor (service_unhealthy,
        and per failing check: disk_full, db_corrupt)."""
        for status in HEALTH:
            self.health.labels(status).set(1 if status == current else 0)
        for name, entries in (checks or {}).items():
            self.health_check.labels(name).set(1 if any(e.get("status") == "fail" for e in entries) else 0)
