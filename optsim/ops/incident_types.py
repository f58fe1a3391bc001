"""Every incident type the simulator raises: its severity, when it opens, and the signals grouped under it.

This is the one table. The monitor's detectors emit *signals* (one per thing they see: a stale
heartbeat, one venue down); the grouping step (``optsim.ops.monitor.grouping``) folds the signals one
fault causes into one *incident* of the types below, with the other signals attached. runbook.md has
one section per type (anchor = the type with ``-`` for ``_``) and repeats this table; Prometheus alert
rules and the docs mirror these names and severities.
"""
from __future__ import annotations

from dataclasses import dataclass

SEVERITIES = ("SEV1", "SEV2", "SEV3", "SEV4")  # SEV1 is the worst


@dataclass(frozen=True)
class IncidentType:
    name: str
    severity: str  # the usual severity; a detector may raise or lower it (noted in ``opens_when``)
    opens_when: str
    groups: tuple[str, ...] = ()  # signal types folded into this incident besides its own
    explains_checks: tuple[str, ...] = ()  # /health check-name prefixes whose failure this incident explains


INCIDENT_TYPES: dict[str, IncidentType] = {t.name: t for t in (
    IncidentType("service_down", "SEV1", "/health refused or timed out"),
    IncidentType("feed_stale", "SEV2", "feed heartbeat older than monitor.feed_stale_after_s",
                 groups=("feed_frozen", "feed_sequence_gap", "service_unhealthy", "reject_rate_spike"),
                 explains_checks=("nbbo-feed", "quotes", "market-data", "snapshot")),
    IncidentType("feed_frozen", "SEV2", "heartbeat seq unchanged for monitor.feed_frozen_polls polls "
                 "(becomes feed_stale when the heartbeat also ages)",
                 groups=("feed_sequence_gap", "service_unhealthy", "reject_rate_spike"),
                 explains_checks=("nbbo-feed", "quotes", "market-data", "snapshot")),
    IncidentType("quotes_unusable", "SEV2", "the snapshot orders trade on is older than monitor.feed_stale_after_s, "
                 "the newest one was refused, or series failed the market-data checks, while the heartbeat is fresh "
                 "(with a stale or frozen feed it is a signal of that incident)",
                 groups=("feed_sequence_gap", "service_unhealthy", "reject_rate_spike"),
                 explains_checks=("nbbo-feed", "quotes", "market-data", "snapshot")),
    IncidentType("kill_switch_engaged", "SEV1", "trading state HALTED (SEV2 while REDUCING)",
                 groups=("reject_rate_spike", "service_unhealthy"), explains_checks=("risk:tradingState",)),
    IncidentType("risk_trip", "SEV1", "an automatic trip (daily loss, drawdown, reject-rate or order-rate runaway, "
                 "a limit breached by fills; [trips] in the config) set trading HALTED (SEV1) or REDUCING (SEV2); "
                 "opened by the service itself, key risk_trip:<cause>"),
    IncidentType("routing_degraded", "SEV3", "one or more venues down (route_down signals): SEV3 under half "
                 "the venues, SEV2 at half or more, SEV1 when every venue is down",
                 groups=("route_down", "service_unhealthy", "reject_rate_spike"), explains_checks=("route-",)),
    IncidentType("disk_full", "SEV1", "/health's disk:freeSpace fails: free space in data_dir below "
                 "service.min_free_disk_mb (orders are refused 507 once the disk is full)",
                 groups=("service_unhealthy", "reject_rate_spike"), explains_checks=("disk:",)),
    IncidentType("db_corrupt", "SEV1", "/health's orders-db:integrity fails: PRAGMA quick_check at start found "
                 "orders.db damaged", groups=("service_unhealthy",), explains_checks=("orders-db:integrity",)),
    IncidentType("service_unhealthy", "SEV2", "/health says fail (HTTP 503) or is unreadable, and no other "
                 "open incident explains the failing checks"),
    IncidentType("feed_sequence_gap", "SEV3", "seq jumped further than the feed's pace allows"),
    IncidentType("market_crossed", "SEV3", "optsim_locked_crossed_markets > 0"),
    IncidentType("risk_limit_breach", "SEV2", "optsim_risk_utilization_ratio{limit} >= "
                 "monitor.risk_utilization_threshold"),
    IncidentType("reject_rate_spike", "SEV3", "rejected / orders between two polls > monitor.reject_rate_threshold"),
    IncidentType("latency_slo_breach", "SEV3", "order p99 latency between two polls > monitor.latency_slo_p99_s"),
)}

# Signals: what the detectors emit. Each is its own incident type unless a firing incident groups it.
SIGNAL_SEVERITY = {"service_down": "SEV1", "service_unhealthy": "SEV2", "feed_stale": "SEV2", "feed_frozen": "SEV2",
                   "feed_sequence_gap": "SEV3", "quotes_unusable": "SEV2", "market_crossed": "SEV3", "route_down": "SEV3",
                   "risk_limit_breach": "SEV2", "kill_switch_engaged": "SEV1", "reject_rate_spike": "SEV3",
                   "latency_slo_breach": "SEV3",
                   "disk_full": "SEV1", "db_corrupt": "SEV1"}

# Which incidents each drill fault is expected to open (the drill runner and drill silences use it).
DRILL_EXPECTS: dict[str, tuple[str, ...]] = {
    "feed_stall": ("feed_stale", "feed_frozen"), "feed_freeze": ("feed_stale", "feed_frozen"),
    "crossed_market": ("market_crossed",), "wide_spreads": ("reject_rate_spike",),
    "venue_dark": ("routing_degraded",), "seq_gap": ("feed_sequence_gap",), "venue_down": ("routing_degraded",),
    "latency_spike": ("latency_slo_breach",), "reject_storm": ("reject_rate_spike",),
}


def worst(*severities: str) -> str:
    """The most severe of ``severities`` (SEV1 beats SEV2)."""
    return min(severities, key=SEVERITIES.index)


def routing_severity(down: int, total: int) -> str:
    """Severity of a routing outage by the share of venues down: all → SEV1, half or more → SEV2, else SEV3."""
    if total and down >= total:
        return "SEV1"
    return "SEV2" if total and down * 2 >= total else "SEV3"


def runbook_anchor(incident_type: str) -> str:
    return f"runbook.md#{incident_type.replace('_', '-')}"
