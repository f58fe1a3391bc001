"""/health (IETF health+json), /livez, /readyz, /metrics (the contract table) and /quotes/status."""
from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ADMIN_TOKEN
from tests.test_risk import AAPL_200C, ALL_VENUES, NOW, make_client, multi, single  # noqa: F401 (fixture)

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

# (name as scraped, type, labels) — docs/architecture.md, "GET /metrics"
CONTRACT = [
    ("optsim_orders_total", "counter", {"underlying", "venue", "status"}),
    ("optsim_order_rejects_total", "counter", {"reason"}),
    ("optsim_fills_total", "counter", {"venue"}),
    ("optsim_filled_contracts_total", "counter", {"venue"}),
    ("optsim_order_latency_seconds", "histogram", set()),
    ("optsim_gc_pause_seconds", "histogram", {"generation"}),
    ("optsim_feed_last_heartbeat_timestamp_seconds", "gauge", set()),
    ("optsim_quote_age_seconds", "gauge", set()),
    ("optsim_feed_seq", "gauge", set()),
    ("optsim_locked_crossed_markets", "gauge", set()),
    ("optsim_route_up", "gauge", {"venue"}),
    ("optsim_risk_utilization_ratio", "gauge", {"limit"}),
    ("optsim_trading_state", "gauge", {"state"}),
    ("optsim_health_status", "gauge", {"status"}),
    ("optsim_open_orders", "gauge", set()),
    ("optsim_build_info", "gauge", {"version", "engine"}),
]


def scrape(client) -> dict[str, tuple[str, list]]:
    """family name -> (type, samples); counters are keyed by their ``_total`` sample name."""
    r = client.get("/metrics")
    assert r.status_code == 200
    out = {}
    for family in text_string_to_metric_families(r.get_data(as_text=True)):
        name = family.name + "_total" if family.type == "counter" else family.name
        out[name] = (family.type, family.samples)
    return out


def value(families, name: str, **labels) -> float:
    for sample in families[name][1]:
        if sample.labels == labels and sample.name in (name, name + "_total"):
            return sample.value
    raise KeyError((name, labels))


# ---------------------------------------------------------------------------------------------- /health
SCENARIOS = [
    # id, snapshot kwargs (None = no feed at all), clock offset s, expected status, HTTP, check that shows it
    ("fresh-feed", {}, 0, "pass", 200, None),
    ("one-venue-down", {"venues_down": ["MIAX"]}, 0, "warn", 200, "route-MIAX:connections"),
    ("feed-slow", {}, 3, "warn", 200, "nbbo-feed:heartbeatAge"),
    ("crossed-market", {"overrides": {AAPL_200C: {"bid": 25.70, "ask": 25.65}}}, 0, "warn", 200,
     "nbbo-feed:lockedCrossed"),
    ("feed-stale", {}, 60, "fail", 503, "nbbo-feed:heartbeatAge"),
    ("feed-absent", None, 0, "fail", 503, "nbbo-feed:heartbeatAge"),
    ("all-venues-down", {"venues_down": ALL_VENUES}, 0, "fail", 503, "route-CBOE:connections"),
]


@pytest.mark.parametrize("snapshot, offset, status, http, check", [pytest.param(*s[1:], id=s[0]) for s in SCENARIOS])
def test_health_status_follows_the_feed_and_the_routes(make_client, snapshot, offset, status, http, check):
    # Arrange
    client = make_client(snapshot=snapshot, no_snapshot=snapshot is None)
    client.clock.now += offset

    # Act
    r = client.get("/health")

    # Assert
    assert r.status_code == http
    assert r.mimetype == "application/health+json"
    body = r.get_json()
    assert body["status"] == status
    assert (body["serviceId"], body["version"]) == ("optsim", body["version"])
    if check:
        assert body["checks"][check][0]["status"] == status
        assert any(note.startswith(check) for note in body["notes"])
    else:
        assert all(entry[0]["status"] == "pass" for entry in body["checks"].values())


@pytest.mark.parametrize("snapshot, offset, status, http, check", [pytest.param(*s[1:], id=s[0]) for s in SCENARIOS])
def test_readyz_is_503_exactly_when_health_fails_and_livez_is_always_200(make_client, snapshot, offset, status, http,
                                                                         check):
    # Arrange
    client = make_client(snapshot=snapshot, no_snapshot=snapshot is None)
    client.clock.now += offset

    # Act
    ready, live = client.get("/readyz"), client.get("/livez")

    # Assert
    assert ready.status_code == (503 if status == "fail" else 200)
    assert ready.get_json() == {"status": status}
    assert live.status_code == 200 and live.get_json() == {"status": "pass"}


def test_health_lists_every_contract_check_with_its_unit(make_client):
    # Arrange
    client = make_client()

    # Act
    checks = client.get("/health").get_json()["checks"]

    # Assert
    assert {"nbbo-feed:heartbeatAge", "nbbo-feed:lockedCrossed", "risk:utilization", "risk:tradingState",
            "orders-db:responseTime", "fillsim:engine"} <= set(checks)
    assert {f"route-{v}:connections" for v in ALL_VENUES} <= set(checks)
    assert checks["nbbo-feed:heartbeatAge"][0]["observedUnit"] == "s"
    assert checks["nbbo-feed:heartbeatAge"][0]["observedValue"] == 0
    assert checks["orders-db:responseTime"][0]["componentType"] == "datastore"
    assert checks["risk:utilization"][0]["observedUnit"] == "ratio"
    assert all(entry[0]["time"].endswith("Z") for entry in checks.values())


def test_health_fails_when_the_database_does_not_answer(make_client):
    # Arrange
    client = make_client()

    def broken():
        raise OSError("disk gone")

    client.application.extensions["desk"].store.ping = broken

    # Act
    r = client.get("/health")

    # Assert
    assert r.status_code == 503
    assert r.get_json()["checks"]["orders-db:responseTime"][0]["status"] == "fail"


def test_risk_limit_at_its_edge_warns(make_client):
    # Arrange: one working order uses the whole credit limit
    client = make_client(risk={"credit_limit": 1250})
    assert client.post("/orders", json=single()).status_code == 201

    # Act
    body = client.get("/health").get_json()

    # Assert
    assert body["status"] == "warn"
    assert body["checks"]["risk:utilization"][0]["observedValue"] == 1.0


# ---------------------------------------------------------------------------------------------- /metrics
def test_metrics_parse_and_carry_every_contract_metric(make_client):
    # Arrange: an accepted order, a fill and a reject so every labelled series exists
    client = make_client(risk={"max_contracts": 20})
    client.post("/orders", json=single())
    client.post("/orders", json=single(price=25.65, qty=2))
    client.post("/orders", json=single(qty=50, price=1.05))

    # Act
    families = scrape(client)

    # Assert
    for name, kind, labels in CONTRACT:
        assert name in families, name
        assert families[name][0] == kind, name
        samples = families[name][1]
        assert samples, name
        assert all(set(s.labels) - {"le"} == labels for s in samples), (name, samples[0].labels)


def test_metrics_carry_what_drills_history_answers(make_client):
    # Arrange: no drill yet, then two passed runs and a failed one of feed_stall (the last one without a tta)
    from optsim.ops.drills import log as drill_log
    client = make_client()
    before = scrape(client)
    for run_id, status, ttd, tta in (("DRL-a", "passed", 2.0, 5.0), ("DRL-b", "passed", 4.0, None),
                                     ("DRL-c", "failed", None, None)):
        drill_log.append(client.application.config["OPTSIM_CONFIG"].data_dir,
                         {"event": "finish", "run_id": run_id, "drill": "feed_stall", "status": status,
                          "ttd_s": ttd, "tta_s": tta, "ttm_s": ttd, "ttr_s": ttd})

    # Act
    families = scrape(client)
    history = client.get("/drills/history").get_json()["drills"][0]

    # Assert: the counts and medians GET /drills/history gives; a phase no passed run reached has no series
    assert before["optsim_drill_runs"] == ("gauge", []) and before["optsim_drill_median_seconds"][1] == []
    assert value(families, "optsim_drill_runs", drill="feed_stall", result="passed") == history["passed"] == 2
    assert value(families, "optsim_drill_runs", drill="feed_stall", result="failed") == history["failed"] == 1
    medians = {phase: value(families, "optsim_drill_median_seconds", drill="feed_stall", phase=phase)
               for phase in ("ttd", "tta")}
    assert medians == {"ttd": history["medians"]["ttd_s"], "tta": history["medians"]["tta_s"]} == {"ttd": 3.0, "tta": 5.0}
    assert {s.labels["phase"] for s in families["optsim_drill_median_seconds"][1]} == {"ttd", "tta", "ttm", "ttr"}


def test_metrics_count_orders_fills_and_rejects(make_client):
    # Arrange
    client = make_client(risk={"max_contracts": 20})
    client.post("/orders", json=single())  # rests at C2
    client.post("/orders", json=single(price=25.65, qty=2))  # fills 2 at CBOE
    client.post("/orders", json=single(qty=50, price=1.05))  # QTY_LIMIT
    client.post("/orders", data="{", content_type="application/json")  # invalid

    # Act
    f = scrape(client)

    # Assert
    assert value(f, "optsim_orders_total", underlying="AAPL", venue="C2", status="accepted") == 1
    assert value(f, "optsim_orders_total", underlying="AAPL", venue="CBOE", status="accepted") == 1
    assert value(f, "optsim_orders_total", underlying="AAPL", venue="none", status="rejected") == 1
    assert value(f, "optsim_order_rejects_total", reason="QTY_LIMIT") == 1
    assert value(f, "optsim_order_rejects_total", reason="VALIDATION") == 1
    assert value(f, "optsim_fills_total", venue="CBOE") == 1
    assert value(f, "optsim_filled_contracts_total", venue="CBOE") == 2
    assert value(f, "optsim_open_orders") == 1
    count = [s.value for s in f["optsim_order_latency_seconds"][1] if s.name == "optsim_order_latency_seconds_count"]
    assert count == [4]


def test_metrics_gauges_follow_the_feed(make_client):
    # Arrange
    client = make_client(snapshot={"seq": 77, "venues_down": ["BOX"],
                                   "overrides": {AAPL_200C: {"bid": 25.70, "ask": 25.65}}})
    client.clock.now += 1.5

    # Act
    f = scrape(client)

    # Assert
    assert value(f, "optsim_feed_seq") == 77
    assert value(f, "optsim_quote_age_seconds") == pytest.approx(1.5)
    assert value(f, "optsim_feed_last_heartbeat_timestamp_seconds") == NOW
    assert value(f, "optsim_locked_crossed_markets") == 1
    assert value(f, "optsim_route_up", venue="BOX") == 0
    assert value(f, "optsim_route_up", venue="CBOE") == 1
    assert value(f, "optsim_trading_state", state="ACTIVE") == 1
    build = f["optsim_build_info"][1][0]
    assert build.value == 1 and build.labels["engine"] == client.application.extensions["desk"].execution.engine


@pytest.mark.parametrize("snapshot, offset, status, http, check", [pytest.param(*s[1:], id=s[0]) for s in SCENARIOS])
def test_metrics_health_status_is_what_health_answers(make_client, snapshot, offset, status, http, check):
    # Arrange
    client = make_client(snapshot=snapshot, no_snapshot=snapshot is None)
    client.clock.now += offset

    # Act
    f = scrape(client)

    # Assert: one-hot, on the status /health gives at the same moment
    assert {s: value(f, "optsim_health_status", status=s) for s in ("pass", "warn", "fail")} == {
        s: (1 if s == status else 0) for s in ("pass", "warn", "fail")}
    assert client.get("/health").get_json()["status"] == status


def test_metrics_content_type_is_prometheus_text(make_client):
    # Act
    r = make_client().get("/metrics")

    # Assert
    assert r.headers["Content-Type"].startswith("text/plain; version=")


# ---------------------------------------------------------------------------------------------- /quotes/status
@pytest.mark.parametrize("snapshot, offset, state", [
    ({}, 0, "fresh"), ({}, 3, "slow"), ({}, 60, "stale"), (None, 0, "absent"),
])
def test_quotes_status_reports_feed_freshness(make_client, snapshot, offset, state):
    # Arrange
    client = make_client(snapshot=snapshot, no_snapshot=snapshot is None)
    client.clock.now += offset

    # Act
    body = client.get("/quotes/status").get_json()

    # Assert
    assert body["state"] == state
    if snapshot is None:
        assert (body["snapshot_seq"], body["series"], body["heartbeat"]) == (None, 0, None)
    else:
        assert body["snapshot_seq"] == 1 and body["series"] > 1000
        assert body["snapshot_age_s"] == pytest.approx(offset)
        assert body["heartbeat_age_s"] == pytest.approx(offset)


def test_quotes_status_lists_venues_down_and_crossed_series(make_client):
    # Arrange
    client = make_client(snapshot={"venues_down": ["MIAX", "BOX"],
                                   "overrides": {AAPL_200C: {"bid": 25.70, "ask": 25.65}}})

    # Act
    body = client.get("/quotes/status").get_json()

    # Assert
    assert body["venues_down"] == ["BOX", "MIAX"]
    assert body["locked_crossed"] == 1
