"""/dashboard and /api/summary: same-origin page under a strict CSP, and a summary whose numbers are
right and whose cost does not grow with history."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from incident_logger import LOG_NAME, IncidentLog
from options_service import create_app
from optsim.ops.stats import LATENCY_BUCKETS_KEPT, Stats
from tests.conftest import seed_multi, seed_single

STATIC = Path(__file__).resolve().parent.parent / "static"


@pytest.fixture
def ilog(config):
    return IncidentLog(config.data_dir / LOG_NAME, source="monitor")


def test_dashboard_is_same_origin_under_a_strict_csp(client):
    with client.get("/dashboard") as res:  # a file response: close it
        assert res.status_code == 200 and res.mimetype == "text/html"
        csp = res.headers["Content-Security-Policy"]
        page = res.get_data(as_text=True)
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    refs = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert "/static/dashboard.js" in refs and "/static/dashboard.css" in refs
    assert all(ref.startswith("/") for ref in refs), refs
    assert "<script>" not in page and " style=" not in page  # nothing inline for the CSP to refuse
    for name in ("dashboard.js", "dashboard.css", "favicon.svg"):
        with client.get(f"/static/{name}") as res:
            assert res.status_code == 200


def test_static_files_fetch_nothing_from_outside_and_never_use_inner_html():
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        outside = [u for u in re.findall(r"https?://[^\s\"')]+", text) if u != "http://www.w3.org/2000/svg"]
        assert not outside, f"{path.name} refers to {outside}"
    js = (STATIC / "dashboard.js").read_text(encoding="utf-8")
    code = "\n".join(line for line in js.splitlines() if not line.strip().startswith("//"))
    assert "innerHTML" not in code
    assert "insertAdjacentHTML" not in js and "document.write" not in js and "eval(" not in js


def test_summary_counts_orders_fills_and_rejects(client):
    assert client.post("/orders", json=seed_single()).status_code == 201
    assert client.post("/orders/multi", json=seed_multi()).status_code == 201
    assert client.post("/orders", json=seed_single(price=1.253, qty=3)).json["reason"] == "BAD_TICK"
    first = client.get("/api/summary").json
    order_id = client.get("/orders?status=working").json["orders"][0]["order_id"]
    assert client.delete(f"/orders/{order_id}").status_code == 200

    s = client.get("/api/summary").json
    assert set(s) == {"generated_at", "health", "feed", "venues", "trading_state", "risk_utilization", "orders",
                      "latency", "incidents"}
    o = s["orders"]
    assert o["by_underlying"] == {"AAPL": 2} and o["reject_reasons"] == {"BAD_TICK": 1}
    assert sum(o["by_venue"].values()) == 2
    assert o["by_status"]["cancelled"] == 1 and o["by_status"]["rejected"] == 1
    assert first["orders"]["by_status"].get("cancelled", 0) == 0
    filled = o["by_status"].get("filled", 0)
    assert o["fill_rate"] == round(filled / (filled + 1 + 1), 4)
    assert o["open"] == o["by_status"].get("working", 0) + o["by_status"].get("partially_filled", 0)
    assert s["trading_state"] == "ACTIVE"
    assert s["health"]["status"] == client.get("/health").json["status"]
    assert {v["venue"] for v in s["venues"]} == {k[6:].split(":")[0] for k in s["health"]["checks"]
                                                 if k.startswith("route-")}
    assert s["feed"]["stale_after_s"] == 5.0 and s["feed"]["warn_after_s"] == 2.0
    assert s["latency"]["series"][-1]["partial"] is True and s["latency"]["series"][-1]["n"] >= 3


def test_summary_reads_no_order_rows_at_all(app, client):
    for qty in (1, 2, 3):
        assert client.post("/orders", json=seed_single(qty=qty)).status_code == 201
    client.get("/api/summary")
    statements: list[str] = []
    db = app.extensions["desk"].store.conn()  # the test client serves on this thread, so on this connection
    db.set_trace_callback(statements.append)
    try:
        client.get("/api/summary")
    finally:
        db.set_trace_callback(None)
    assert not [s for s in statements if "FROM orders" in s], statements
    assert not any("GROUP BY" in s or "FROM fills" in s or "FROM legs" in s for s in statements), statements


def test_status_tally_follows_changes_and_a_restart_counts_history_the_same(config, app, client):
    # Arrange: one order cancelled, one rejected, one working
    client.post("/orders", json=seed_single())
    order_id = client.get("/orders").json["orders"][0]["order_id"]
    client.delete(f"/orders/{order_id}")
    client.post("/orders", json=seed_single(price=1.253))
    client.post("/orders", json=seed_single(qty=2))
    # Act
    live = client.get("/api/summary").json["orders"]["by_status"]
    app.extensions["desk"].close()
    restarted = create_app(config)
    # Assert
    assert live == {"cancelled": 1, "rejected": 1, "working": 1}
    assert restarted.test_client().get("/api/summary").json["orders"]["by_status"] == live
    restarted.extensions["desk"].close()


def test_summary_incidents_by_severity_table_and_over_time(client, ilog, admin):
    stale = ilog.trigger("feed_stale:nbbo", "feed_stale", "SEV2", "NBBO heartbeat 12.4s old").incident
    route = ilog.trigger("route_down:NOM", "route_down", "SEV3", "route to NOM down").incident
    gone = ilog.trigger("market_crossed:nbbo", "market_crossed", "SEV3", "<b>crossed</b>").incident
    ilog.resolve(gone.incident_id, actor="monitor", resolution="auto")
    assert client.post(f"/incidents/{route.incident_id}/ack", headers=admin).status_code == 200

    inc = client.get("/api/summary").json["incidents"]
    assert inc["open"] == 2
    assert inc["open_by_severity"] == {"SEV1": 0, "SEV2": 1, "SEV3": 1, "SEV4": 0}
    rows = {r["incident_id"]: r for r in inc["table"]}
    assert [r["incident_id"] for r in inc["table"]][:2] == [route.incident_id, stale.incident_id]
    assert rows[route.incident_id]["status"] == "acknowledged"
    assert rows[stale.incident_id]["runbook"] == "/runbook#feed-stale"
    assert rows[gone.incident_id]["status"] == "resolved" and rows[gone.incident_id]["summary"] == "<b>crossed</b>"
    over = inc["over_time"]
    assert {t: sum(v) for t, v in over["by_type"].items()} == {"feed_stale": 1, "route_down": 1, "market_crossed": 1}
    assert all(len(v) == over["buckets"] for v in over["by_type"].values())
    assert inc["totals"]["by_status"] == {"open": 1, "acknowledged": 1, "resolved": 1}


def test_latency_series_keeps_bounded_closed_buckets_and_a_live_one():
    stats = Stats()
    base = 1_000_000.0  # a multiple of the 5 s bucket
    for i, ms in enumerate((1, 2, 3, 4, 100)):
        stats.latencies.append((base + 0.5 + i * 0.1, ms / 1000))
    stats.latencies.append((base + 12.0, 0.007))
    series = stats.latency_series(now=base + 12.5)
    assert [p["t"] for p in series] == [base, base + 5, base + 10]
    first = series[0]
    assert (first["n"], first["p50"], first["p95"], first["p99"]) == (5, 0.003, 0.1, 0.1)
    assert series[1]["n"] == 0 and series[1]["p99"] is None  # a quiet bucket is a gap, not a zero
    assert series[2] == {"t": base + 10, "n": 1, "p50": 0.007, "p95": 0.007, "p99": 0.007, "partial": True}

    later = stats.latency_series(now=base + 5 * (LATENCY_BUCKETS_KEPT + 50))
    assert len(later) == LATENCY_BUCKETS_KEPT + 1
    assert later[-2]["t"] == base + 5 * (LATENCY_BUCKETS_KEPT + 49)


def test_the_bare_address_leads_to_the_dashboard(client):
    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/dashboard")
