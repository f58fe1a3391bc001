"""Pure detection: (previous poll state, this poll's observation, config) → findings.

Each detector judges one incident type and returns a list of findings (empty = healthy) or None
when this poll cannot judge it (the service is down, so its metrics are unknown). Only types that
were judged count towards the healthy polls that auto-resolve an incident.

Each detector emits *signals* of one type; ``grouping`` folds the signals one fault causes into one
incident. Signal severities and the incident types they group under are the table in
``optsim.ops.incident_types`` (runbook.md has one section per incident type).

``details["band"]`` buckets the observed value; a new band is a material change worth a log line.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from ...config import Config
from ..incident_types import SIGNAL_SEVERITY as SEVERITY
from .observe import FeedReading, Observation
from .scrape import Scrape, bucket_deltas, counter_delta, histogram_quantile

SEQ_GAP_TOLERANCE = 2  # snapshots a poll may see beyond the feed's pace before it is a gap


@dataclass(frozen=True)
class Finding:
    dedup_key: str
    type: str
    severity: str
    summary: str
    details: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PollState:
    """What one poll hands the next: the last good scrape (counter deltas) and the feed's progress."""

    scrape: Scrape | None = None
    feed: FeedReading | None = None
    frozen_polls: int = 0  # consecutive polls that saw the same heartbeat seq


@dataclass(frozen=True)
class Assessment:
    findings: list[Finding]
    judged: frozenset[str]  # incident types this poll could judge
    state: PollState


Detector = Callable[[PollState, PollState, Observation, Config], "list[Finding] | None"]


def band(value: float, threshold: float) -> int:
    """0 up to twice the threshold, then +1 per doubling: a stale feed moves bands at 10s, 20s, 40s..."""
    return max(0, int(math.log2(value / threshold))) if value > 0 and threshold > 0 else 0


def feed_reading(obs: Observation) -> FeedReading | None:
    """The heartbeat file, or the service's view of the feed when the file is unreadable."""
    if obs.heartbeat is not None:
        return obs.heartbeat
    if obs.scrape is None:
        return None
    ts, seq = obs.scrape.value("optsim_feed_last_heartbeat_timestamp_seconds"), obs.scrape.value("optsim_feed_seq")
    if ts is None or seq is None or ts <= 0:
        return None
    return FeedReading(ts, int(seq), origin="metrics")


def next_state(prev: PollState, obs: Observation) -> PollState:
    feed = feed_reading(obs)
    if feed is None:
        return PollState(obs.scrape or prev.scrape, prev.feed, prev.frozen_polls)
    same = prev.feed is not None and feed.seq == prev.feed.seq
    return PollState(obs.scrape or prev.scrape, feed, prev.frozen_polls + 1 if same else 0)


# ---------------------------------------------------------------------- service
def service_down(prev, now, obs, config):
    if obs.reachable:
        return []
    return [Finding("service_down:optsim", "service_down", SEVERITY["service_down"],
                    f"service not answering /health: {obs.error}", {"error": obs.error})]


def service_unhealthy(prev, now, obs, config):
    if not obs.reachable:
        return None
    if obs.health in ("pass", "warn") and (obs.health_code or 200) < 500:
        return []
    what = ", ".join(obs.failing_checks) or "no readable health body"
    return [Finding("service_unhealthy:optsim", "service_unhealthy", SEVERITY["service_unhealthy"],
                    f"/health {obs.health or 'unreadable'} (HTTP {obs.health_code}): {what}",
                    {"status": obs.health, "http_status": obs.health_code, "failing_checks": list(obs.failing_checks),
                     "band": ",".join(obs.failing_checks)})]


def _check_failing(obs: Observation, check: str, kind: str, summary: str):
    """A finding of ``kind`` while /health reports ``check`` failing; None when /health could not be read."""
    if not obs.reachable or obs.health is None:
        return None
    if check not in obs.failing_checks:
        return []
    return [Finding(f"{kind}:optsim", kind, SEVERITY[kind], summary, {"check": check})]


def disk_full(prev, now, obs, config):
    return _check_failing(obs, "disk:freeSpace", "disk_full",
                          "the data dir's disk is almost full: orders are refused (507) once it is")


def db_corrupt(prev, now, obs, config):
    return _check_failing(obs, "orders-db:integrity", "db_corrupt",
                          "orders.db failed PRAGMA quick_check at start: the order store is damaged")


# ---------------------------------------------------------------------- feed
def feed_stale(prev, now, obs, config):
    limit = config.monitor.feed_stale_after_s
    reading = feed_reading(obs)
    if reading is None:
        if obs.scrape is None and obs.heartbeat_error is None:
            return None
        return [Finding("feed_stale:nbbo", "feed_stale", SEVERITY["feed_stale"],
                        f"no feed heartbeat to read ({obs.heartbeat_error})",
                        {"error": obs.heartbeat_error, "threshold_s": limit, "band": "missing"})]
    age = obs.at - reading.ts
    if age <= limit:
        return []
    return [Finding("feed_stale:nbbo", "feed_stale", SEVERITY["feed_stale"],
                    f"NBBO heartbeat {age:.1f}s old (>{limit:g}s), feed status {reading.status}",
                    {"age_s": round(age, 3), "threshold_s": limit, "seq": reading.seq, "origin": reading.origin,
                     "feed_status": reading.status, "band": band(age, limit)})]


def feed_frozen(prev, now, obs, config):
    polls = config.monitor.feed_frozen_polls
    if now.feed is None or feed_reading(obs) is None:
        return None
    if now.frozen_polls < polls:
        return []
    ts_moving = prev.feed is not None and now.feed.ts != prev.feed.ts
    how = "seq stuck while its ts still moves" if ts_moving else "seq and ts both stuck"
    return [Finding("feed_frozen:nbbo", "feed_frozen", SEVERITY["feed_frozen"],
                    f"feed heartbeat frozen at seq {now.feed.seq} for {now.frozen_polls} polls ({how})",
                    {"seq": now.feed.seq, "polls": now.frozen_polls, "ts_moving": ts_moving,
                     "band": band(now.frozen_polls, polls)})]


def feed_sequence_gap(prev, now, obs, config):
    if prev.feed is None or now.feed is None or feed_reading(obs) is None or now.feed.origin != prev.feed.origin:
        return None
    advanced, elapsed = now.feed.seq - prev.feed.seq, now.feed.ts - prev.feed.ts
    if advanced <= 0 or elapsed < 0:
        return []  # frozen (feed_frozen's business) or restarted from 0
    expected = round(elapsed / config.feed.interval_s)
    skipped = advanced - expected
    if skipped <= max(SEQ_GAP_TOLERANCE, expected // 10):
        return []
    return [Finding("feed_sequence_gap:nbbo", "feed_sequence_gap", SEVERITY["feed_sequence_gap"],
                    f"feed seq jumped {prev.feed.seq} -> {now.feed.seq}: about {skipped} snapshots skipped",
                    {"from_seq": prev.feed.seq, "to_seq": now.feed.seq, "expected": expected, "skipped": skipped,
                     "band": band(skipped, SEQ_GAP_TOLERANCE)})]


def quotes_unusable(prev, now, obs, config):
    """What orders are priced against, whatever the heartbeat says: a stale snapshot in use, a newest
    snapshot refused at the edge, or series whose quotes failed the checks."""
    scrape = obs.scrape
    age = scrape.value("optsim_quote_age_seconds") if scrape else None
    if age is None:
        return None
    refused = scrape.value("optsim_quote_snapshot_refused") or 0
    unusable = scrape.value("optsim_quote_unusable_series") or 0
    limit = config.monitor.feed_stale_after_s
    faults = ([f"snapshot in use {age:.1f}s old"] if age > limit else []) + \
        (["newest snapshot refused"] if refused else []) + ([f"{unusable:g} series unusable"] if unusable else [])
    if not faults:
        return []
    return [Finding("quotes_unusable:nbbo", "quotes_unusable", SEVERITY["quotes_unusable"],
                    "market data not fit to trade: " + ", ".join(faults),
                    {"snapshot_age_s": round(age, 3), "snapshot_refused": bool(refused), "unusable_series": unusable,
                     "threshold_s": limit, "band": ",".join(f.split(" ")[-1] for f in faults)})]


# ---------------------------------------------------------------------- market and routes
def market_crossed(prev, now, obs, config):
    count = obs.scrape.value("optsim_locked_crossed_markets") if obs.scrape else None
    if count is None:
        return None
    if count <= 0:
        return []
    return [Finding("market_crossed:nbbo", "market_crossed", SEVERITY["market_crossed"],
                    f"{count:g} series with a locked or crossed NBBO", {"series": count, "band": band(count, 1)})]


def route_down(prev, now, obs, config):
    """One signal per venue down; grouping makes them one routing_degraded incident."""
    routes = obs.scrape.series("optsim_route_up") if obs.scrape else []
    if not routes:
        return None
    down = sorted(lab.get("venue", "?") for lab, up in routes if up == 0)
    return [Finding(f"route_down:{venue}", "route_down", SEVERITY["route_down"], f"route to {venue} down",
                    {"venue": venue, "venues": len(routes)}) for venue in down]


# ---------------------------------------------------------------------- risk and trading state
def risk_limit_breach(prev, now, obs, config):
    limits = obs.scrape.series("optsim_risk_utilization_ratio") if obs.scrape else []
    if not limits:
        return None
    threshold = config.monitor.risk_utilization_threshold
    return [Finding(f"risk_limit_breach:{lab.get('limit', '?')}", "risk_limit_breach", SEVERITY["risk_limit_breach"],
                    f"{lab.get('limit', '?')} limit at {ratio:.0%} of its cap (threshold {threshold:.0%})",
                    {"limit": lab.get("limit"), "ratio": ratio, "threshold": threshold, "band": int(ratio * 10)})
            for lab, ratio in limits if ratio >= threshold]


def kill_switch_engaged(prev, now, obs, config):
    states = obs.scrape.series("optsim_trading_state") if obs.scrape else []
    if not states:
        return None
    current = {lab.get("state") for lab, v in states if v == 1}
    state = "HALTED" if "HALTED" in current else "REDUCING" if "REDUCING" in current else None
    if state is None:
        return []
    severity = SEVERITY["kill_switch_engaged"] if state == "HALTED" else "SEV2"
    return [Finding("kill_switch_engaged:trading", "kill_switch_engaged", severity,
                    f"kill switch engaged: trading state {state}", {"state": state, "band": state})]


# ---------------------------------------------------------------------- order flow between two polls
def reject_rate_spike(prev, now, obs, config):
    """Orders refused between two polls: risk and venue rejects, and malformed requests (400/422, status
    ``invalid``) too. A client flooding bad bodies is an incident worth a look, though not a trip: the desk's
    automatic trips count only orders that reached it (``OrderDesk.record_invalid``)."""
    if prev.scrape is None or obs.scrape is None:
        return None
    total = counter_delta(prev.scrape, obs.scrape, "optsim_orders_total")
    rejected = counter_delta(prev.scrape, obs.scrape, "optsim_orders_total", status="rejected")
    if total is None or rejected is None:
        return None
    rejected += counter_delta(prev.scrape, obs.scrape, "optsim_orders_total", status="invalid") or 0.0
    mon = config.monitor
    if total < mon.reject_rate_min_orders:
        return None  # too few orders to judge: a quiet spell is not the fault fixed, so an incident holds
    if rejected / total <= mon.reject_rate_threshold:
        return []
    rate = rejected / total
    return [Finding("reject_rate_spike:orders", "reject_rate_spike", SEVERITY["reject_rate_spike"],
                    f"{rate:.0%} of {total:g} orders rejected or malformed since the last poll "
                    f"(>{mon.reject_rate_threshold:.0%})",
                    {"rejected": rejected, "orders": total, "rate": round(rate, 4),
                     "threshold": mon.reject_rate_threshold, "band": int(rate * 10)})]


def latency_slo_breach(prev, now, obs, config):
    """p99 over the window between polls; needs reject_rate_min_orders orders to judge, like the reject rate
    (fewer: no verdict, so an open breach is resolved by a poll that saw orders fast again, not by a lull)."""
    if prev.scrape is None or obs.scrape is None:
        return None
    deltas = bucket_deltas(prev.scrape, obs.scrape, "optsim_order_latency_seconds")
    if deltas is None:
        return None
    orders = deltas[-1][1] if deltas else 0
    p99 = histogram_quantile(0.99, deltas)
    slo = config.monitor.latency_slo_p99_s
    if orders < config.monitor.reject_rate_min_orders or p99 is None:
        return None
    if p99 <= slo:
        return []
    return [Finding("latency_slo_breach:orders", "latency_slo_breach", SEVERITY["latency_slo_breach"],
                    f"order p99 latency {p99 * 1000:.0f} ms over {orders:g} orders (SLO {slo * 1000:.0f} ms)",
                    {"p99_s": round(p99, 6), "slo_s": slo, "orders": orders, "band": band(p99, slo)})]


DETECTORS: dict[str, Detector] = {
    "service_down": service_down, "service_unhealthy": service_unhealthy, "feed_stale": feed_stale,
    "feed_frozen": feed_frozen, "feed_sequence_gap": feed_sequence_gap, "quotes_unusable": quotes_unusable,
    "market_crossed": market_crossed,
    "route_down": route_down, "risk_limit_breach": risk_limit_breach, "kill_switch_engaged": kill_switch_engaged,
    "reject_rate_spike": reject_rate_spike, "latency_slo_breach": latency_slo_breach,
    "disk_full": disk_full, "db_corrupt": db_corrupt,
}
SIGNAL_TYPES = tuple(DETECTORS)


def assess(prev: PollState, obs: Observation, config: Config) -> Assessment:
    """Run every detector over one poll; returns the findings, the types judged and the next state."""
    now = next_state(prev, obs)
    findings: list[Finding] = []
    judged = set()
    for incident_type, detector in DETECTORS.items():
        result = detector(prev, now, obs, config)
        if result is not None:
            judged.add(incident_type)
            findings.extend(result)
    return Assessment(findings, frozenset(judged), now)
