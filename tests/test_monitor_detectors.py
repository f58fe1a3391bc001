"""Pure detectors: each incident type fires on its fault, clears when it is gone, and abstains when blind."""
from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from optsim.config import load_config
from optsim.ops.monitor.detectors import SEVERITY, SIGNAL_TYPES, PollState, assess, band
from optsim.ops.monitor.observe import FeedReading, Observation, parse_health, parse_heartbeat
from optsim.ops.monitor.scrape import Scrape, histogram_quantile

NOW = 1_767_362_400.0
CONFIG = load_config()
VENUES = ("CBOE", "ISE", "MIAX")


def exposition(*, down=(), crossed=0, risk=None, state="ACTIVE", accepted=0, rejected=0, invalid=0, latencies=(),
               feed_seq=None, heartbeat_ts=None, quote_age=0.2, snapshot_refused=0, unusable=0) -> str:
    """What the service's /metrics would say, built with prometheus_client itself."""
    reg = CollectorRegistry()
    orders = Counter("optsim_orders", "orders", ["underlying", "venue", "status"], registry=reg)
    orders.labels("AAPL", "CBOE", "accepted").inc(accepted)
    orders.labels("AAPL", "CBOE", "rejected").inc(rejected)
    if invalid:
        orders.labels("unknown", "none", "invalid").inc(invalid)
    latency = Histogram("optsim_order_latency_seconds", "latency", registry=reg,
                        buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0))
    for value in latencies:
        latency.observe(value)
    Gauge("optsim_locked_crossed_markets", "crossed", registry=reg).set(crossed)
    Gauge("optsim_quote_age_seconds", "age", registry=reg).set(quote_age)
    Gauge("optsim_quote_snapshot_refused", "refused", registry=reg).set(snapshot_refused)
    Gauge("optsim_quote_unusable_series", "unusable", registry=reg).set(unusable)
    route = Gauge("optsim_route_up", "route", ["venue"], registry=reg)
    for venue in VENUES:
        route.labels(venue).set(0 if venue in down else 1)
    util = Gauge("optsim_risk_utilization_ratio", "risk", ["limit"], registry=reg)
    for limit, ratio in {"notional": 0.1, "credit": 0.2, **(risk or {})}.items():
        util.labels(limit).set(ratio)
    trading = Gauge("optsim_trading_state", "state", ["state"], registry=reg)
    for name in ("ACTIVE", "REDUCING", "HALTED"):
        trading.labels(name).set(1 if name == state else 0)
    if feed_seq is not None:
        Gauge("optsim_feed_seq", "seq", registry=reg).set(feed_seq)
        Gauge("optsim_feed_last_heartbeat_timestamp_seconds", "ts", registry=reg).set(heartbeat_ts)
    return generate_latest(reg).decode()


def seen(at=NOW, *, reachable=True, health="pass", code=200, failing=(), metrics=None, heartbeat=(NOW - 0.3, 100),
         heartbeat_error=None) -> Observation:
    scrape = Scrape.parse(metrics if metrics is not None else exposition()) if reachable else None
    hb = FeedReading(*heartbeat) if heartbeat else None
    if not reachable:
        return Observation(at, reachable=False, error="connection refused or reset", heartbeat=hb,
                           heartbeat_error=heartbeat_error)
    return Observation(at, reachable=True, health=health, health_code=code, failing_checks=tuple(failing),
                       scrape=scrape, heartbeat=hb, heartbeat_error=heartbeat_error)


def run(*observations, config=CONFIG):
    """Assess a sequence of polls; returns the last assessment."""
    state, result = PollState(), None
    for obs in observations:
        result = assess(state, obs, config)
        state = result.state
    return result


def keys(result, incident_type=None):
    return sorted(f.dedup_key for f in result.findings if incident_type in (None, f.type))


def test_healthy_poll_judges_everything_and_finds_nothing():
    result = run(seen(NOW - 2, heartbeat=(NOW - 2.2, 92), metrics=exposition(accepted=100, latencies=[0.002] * 100)),
                 seen(metrics=exposition(accepted=150, latencies=[0.002] * 150)))
    assert result.findings == [] and result.judged == frozenset(SIGNAL_TYPES)
    assert set(SEVERITY) == set(SIGNAL_TYPES)


# ---------------------------------------------------------------------- service
def test_service_down_fires_and_metric_types_are_not_judged():
    result = run(seen(reachable=False))
    assert keys(result) == ["service_down:optsim"] and result.findings[0].severity == "SEV1"
    assert "route_down" not in result.judged and "service_unhealthy" not in result.judged
    assert "feed_stale" in result.judged  # the heartbeat file is still readable
    assert keys(run(seen(reachable=False), seen())) == []


@pytest.mark.parametrize("health,code,failing", [("fail", 503, ("nbbo-feed:heartbeatAge",)), (None, 200, ()),
                                                 ("pass", 500, ())])
def test_service_unhealthy_on_fail_or_unreadable_health(health, code, failing):
    result = run(seen(health=health, code=code, failing=failing))
    assert keys(result) == ["service_unhealthy:optsim"]
    assert result.findings[0].details["failing_checks"] == list(failing)
    assert keys(run(seen(health="warn"))) == []


def test_parse_health_reads_the_draft_shape():
    body = {"status": "fail", "checks": {"nbbo-feed:heartbeatAge": [{"status": "fail"}],
                                        "route-CBOE:connections": [{"status": "pass"}], "junk": "x"}}
    assert parse_health(body) == ("fail", ("nbbo-feed:heartbeatAge",))
    assert parse_health({"status": "UP"}) == ("pass", ())
    assert parse_health(["not", "a", "dict"]) == (None, ())


# ---------------------------------------------------------------------- feed
def test_feed_stale_fires_past_the_threshold_with_age_bands():
    result = run(seen(heartbeat=(NOW - 12.4, 100)))
    [finding] = result.findings
    assert finding.dedup_key == "feed_stale:nbbo" and finding.severity == "SEV2"
    assert finding.details["age_s"] == pytest.approx(12.4) and finding.details["band"] == 1
    assert "12.4s old" in finding.summary
    assert run(seen(heartbeat=(NOW - 45, 100))).findings[0].details["band"] == 3
    assert keys(run(seen(heartbeat=(NOW - 4.9, 100)))) == []


def test_feed_stale_uses_the_service_view_when_the_heartbeat_file_is_unreadable():
    metrics = exposition(feed_seq=50, heartbeat_ts=NOW - 30)
    result = run(seen(metrics=metrics, heartbeat=None, heartbeat_error="feed_heartbeat.json unreadable"))
    assert keys(result) == ["feed_stale:nbbo"] and result.findings[0].details["origin"] == "metrics"
    missing = run(seen(reachable=False, heartbeat=None, heartbeat_error="feed_heartbeat.json missing"))
    assert keys(missing, "feed_stale") == ["feed_stale:nbbo"] and "missing" in missing.findings[-1].summary


def test_feed_frozen_after_n_polls_with_the_same_seq():
    polls = [seen(NOW + i * 2, heartbeat=(NOW + i * 2, 100)) for i in range(4)]  # ts moves, seq stuck
    assert keys(run(*polls[:3])) == []
    result = run(*polls)
    assert keys(result) == ["feed_frozen:nbbo"] and result.findings[0].details["ts_moving"] is True
    assert keys(run(*polls, seen(NOW + 8, heartbeat=(NOW + 8, 101)))) == []


def test_fully_frozen_heartbeat_is_frozen_and_stale():
    polls = [seen(NOW + i * 2, heartbeat=(NOW - 1, 100)) for i in range(4)]
    result = run(*polls)
    assert keys(result) == ["feed_frozen:nbbo", "feed_stale:nbbo"]
    assert "both stuck" in next(f.summary for f in result.findings if f.type == "feed_frozen")


def test_feed_sequence_gap_when_seq_outruns_the_feed_pace():
    steady = run(seen(NOW, heartbeat=(NOW, 100)), seen(NOW + 2, heartbeat=(NOW + 2, 108)))  # 0.25s per snapshot
    assert keys(steady) == []
    gap = run(seen(NOW, heartbeat=(NOW, 100)), seen(NOW + 2, heartbeat=(NOW + 2, 608)))
    assert keys(gap) == ["feed_sequence_gap:nbbo"] and gap.findings[0].details["skipped"] == 500
    restart = run(seen(NOW, heartbeat=(NOW, 100)), seen(NOW + 2, heartbeat=(NOW + 2, 3)))
    assert keys(restart) == []


# ---------------------------------------------------------------------- the snapshot orders trade on
@pytest.mark.parametrize("metrics, band", [
    (dict(quote_age=60.0), "old"),
    (dict(snapshot_refused=1), "refused"),
    (dict(unusable=3), "unusable"),
    (dict(quote_age=60.0, snapshot_refused=1), "old,refused"),
])
def test_quotes_unusable_judges_the_snapshot_even_with_a_fresh_heartbeat(metrics, band):
    # Arrange: the heartbeat is 0.3 s old (seen's default); only the snapshot is at fault
    result = run(seen(metrics=exposition(**metrics)))
    # Assert
    assert keys(result) == ["quotes_unusable:nbbo"]
    assert (result.findings[0].severity, result.findings[0].details["band"]) == ("SEV2", band)


def test_quotes_unusable_is_not_judged_without_the_services_metrics():
    assert "quotes_unusable" not in run(seen(reachable=False)).judged


# ---------------------------------------------------------------------- market, routes, risk, trading state
def test_market_crossed():
    assert keys(run(seen(metrics=exposition(crossed=3)))) == ["market_crossed:nbbo"]


def test_route_down_is_one_signal_per_venue():
    result = run(seen(metrics=exposition(down=("MIAX", "ISE"))))
    assert keys(result) == ["route_down:ISE", "route_down:MIAX"]
    assert {f.severity for f in result.findings} == {"SEV3"}
    assert {f.details["venues"] for f in result.findings} == {len(VENUES)}


def test_risk_limit_breach_at_or_above_the_threshold():
    result = run(seen(metrics=exposition(risk={"delta": 1.0, "vega": 0.99})))
    assert keys(result) == ["risk_limit_breach:delta"] and result.findings[0].details["ratio"] == 1.0


@pytest.mark.parametrize("state,severity", [("HALTED", "SEV1"), ("REDUCING", "SEV2")])
def test_kill_switch_engaged(state, severity):
    result = run(seen(metrics=exposition(state=state)))
    assert keys(result) == ["kill_switch_engaged:trading"] and result.findings[0].severity == severity


# ---------------------------------------------------------------------- order flow between polls
def test_reject_rate_spike_from_counter_deltas():
    before = seen(NOW - 2, metrics=exposition(accepted=1000, rejected=10))
    spike = run(before, seen(metrics=exposition(accepted=1030, rejected=20)))  # 10 of 40 rejected
    assert keys(spike) == ["reject_rate_spike:orders"] and spike.findings[0].details["rate"] == 0.25
    quiet = run(before, seen(metrics=exposition(accepted=1005, rejected=15)))  # only 10 orders: too few
    assert keys(quiet) == [] and "reject_rate_spike" not in quiet.judged  # no verdict: an open spike holds
    calm = run(before, seen(metrics=exposition(accepted=1040, rejected=10)))  # 40 orders, none rejected
    assert keys(calm) == [] and "reject_rate_spike" in calm.judged
    reset = run(before, seen(metrics=exposition(accepted=5, rejected=5)))  # service restarted
    assert "reject_rate_spike" not in reset.judged


def test_a_flood_of_malformed_requests_is_a_reject_rate_spike():
    """400/422s never reach the desk (no trip), but a broken client is worth an incident."""
    before = seen(NOW - 2, metrics=exposition(accepted=1000, invalid=1))
    flood = run(before, seen(metrics=exposition(accepted=1030, invalid=11)))  # 10 malformed of 40
    assert keys(flood) == ["reject_rate_spike:orders"] and flood.findings[0].details["rejected"] == 10


def test_latency_slo_breach_from_bucket_deltas():
    before = seen(NOW - 2, metrics=exposition(latencies=[0.002] * 50))
    slow = run(before, seen(metrics=exposition(latencies=[0.002] * 50 + [0.3] * 30)))
    [finding] = slow.findings
    assert finding.type == "latency_slo_breach" and 0.25 < finding.details["p99_s"] <= 0.5
    fast = run(before, seen(metrics=exposition(latencies=[0.002] * 50 + [0.3] + [0.002] * 100)))
    assert keys(fast) == [] and "latency_slo_breach" in fast.judged
    lull = run(before, seen(metrics=exposition(latencies=[0.002] * 50 + [0.002] * 5)))  # 5 orders: too few
    assert keys(lull) == [] and "latency_slo_breach" not in lull.judged


def test_histogram_quantile_interpolates_like_prometheus():
    buckets = [(0.1, 10.0), (0.5, 90.0), (1.0, 100.0), (math.inf, 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1 + 0.4 * 40 / 80)
    assert histogram_quantile(0.05, buckets) == pytest.approx(0.05)  # first bucket starts at 0
    assert histogram_quantile(0.99, [(0.1, 0.0), (math.inf, 5.0)]) == 0.1  # rank in +Inf: top finite bound
    assert histogram_quantile(0.99, [(0.1, 0.0), (math.inf, 0.0)]) is None


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize("text", ["garbage here\n", "x{a=\"1\"} notanumber\n", "\x00\x01"])
def test_garbage_metrics_are_a_value_error(text):
    with pytest.raises(ValueError):
        Scrape.parse(text)


def test_nan_and_inf_samples_are_dropped():
    scrape = Scrape.parse('optsim_locked_crossed_markets NaN\noptsim_route_up{venue="X"} +Inf\n')
    assert scrape.value("optsim_locked_crossed_markets") is None and scrape.series("optsim_route_up") == []


@pytest.mark.parametrize("doc", [[1], {"ts": "soon", "seq": 1}, {"ts": 1.0, "seq": 1.5}, {"ts": float("nan"), "seq": 1},
                                 {"ts": True, "seq": 1}])
def test_bad_heartbeat_documents_are_refused(doc):
    with pytest.raises(ValueError):
        parse_heartbeat(doc)


def test_band_doubles():
    assert [band(v, 5) for v in (5.1, 9.9, 10, 20, 40)] == [0, 0, 1, 2, 3] and band(0, 5) == 0
