"""Admin endpoints: the bearer token, the kill switch (HALTED / REDUCING / release) and venue up/down."""
from __future__ import annotations

import pytest

from optsim.config import load_config
from options_service import create_app
from tests.conftest import ADMIN_TOKEN, seed_single
from tests.snapshots import write_snapshot
from tests.test_risk import make_client, single  # noqa: F401 (fixture)

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ADMIN_ROUTES = [
    ("get", "/admin/kill-switch", None),
    ("post", "/admin/kill-switch", {"state": "HALTED"}),
    ("post", "/admin/kill-switch/release", None),
    ("get", "/admin/venues", None),
    ("post", "/admin/venues/CBOE", {"status": "down"}),
]


@pytest.fixture(scope="module")
def shared_client(tmp_path_factory):
    """One app for the token tests: every request is refused, so none changes its state."""
    app = create_app(load_config(overrides={"service": {"data_dir": str(tmp_path_factory.mktemp("admin")),
                                                        "admin_token": ADMIN_TOKEN}}))
    yield app.test_client()
    app.extensions["desk"].close()


@pytest.mark.parametrize("method, path, body", ADMIN_ROUTES)
@pytest.mark.parametrize("headers, status, error, reason", [
    ({}, 401, "unauthorized", "MISSING_TOKEN"),
    ({"Authorization": "Bearer "}, 401, "unauthorized", "MISSING_TOKEN"),
    ({"Authorization": f"Basic {ADMIN_TOKEN}"}, 401, "unauthorized", "MISSING_TOKEN"),
    ({"Authorization": "Bearer wrong-token"}, 403, "forbidden", "BAD_TOKEN"),
    ({"Authorization": f"Bearer {ADMIN_TOKEN}x"}, 403, "forbidden", "BAD_TOKEN"),
])
def test_admin_endpoints_need_the_bearer_token(shared_client, method, path, body, headers, status, error, reason):
    # Act
    r = getattr(shared_client, method)(path, json=body, headers=headers)

    # Assert
    assert r.status_code == status
    assert r.get_json()["error"] == error
    assert r.get_json()["details"][0] == {"field": "Authorization", "reason": reason,
                                          "message": r.get_json()["details"][0]["message"]}


def test_refused_kill_switch_changes_nothing(client):
    # Act
    client.post("/admin/kill-switch", json={"state": "HALTED"}, headers={"Authorization": "Bearer nope"})

    # Assert
    assert client.post("/orders", json=seed_single()).status_code == 201


def test_no_configured_token_refuses_every_token(tmp_path, monkeypatch):
    # Arrange
    monkeypatch.delenv("OPTSIM_ADMIN_TOKEN", raising=False)
    app = create_app(load_config(overrides={"service": {"data_dir": str(tmp_path), "admin_token": ""}}))

    # Act
    r = app.test_client().get("/admin/kill-switch", headers={"Authorization": "Bearer anything"})

    # Assert
    app.extensions["desk"].close()
    assert r.status_code == 403 and r.get_json()["error"] == "forbidden"


def test_halt_cancels_every_working_order_and_rejects_new_ones(client, admin):
    # Arrange
    working = [client.post("/orders", json=seed_single(price=p)).get_json()["order_id"] for p in (1.10, 1.20)]
    filled = client.post("/orders", json=seed_single(price=25.65)).get_json()["order_id"]

    # Act
    r = client.post("/admin/kill-switch", json={"state": "HALTED"}, headers=admin)
    after = client.post("/orders", json=seed_single(price=1.30))

    # Assert
    assert r.status_code == 200
    assert (r.get_json()["state"], r.get_json()["cancelled"]) == ("HALTED", working)
    assert [client.get(f"/orders/{i}").get_json()["status"] for i in working] == ["cancelled", "cancelled"]
    assert client.get(f"/orders/{filled}").get_json()["status"] == "filled"
    assert after.status_code == 403 and after.get_json()["reason"] == "HALTED"
    state = client.get("/admin/kill-switch", headers=admin).get_json()
    assert (state["state"], state["working_orders"], state["set_by"], state["source"]) == ("HALTED", 0, "admin",
                                                                                         "manual")


@pytest.mark.parametrize("path, body", [("/admin/kill-switch", {"stat": "REDUCING"}),
                                        ("/admin/kill-switch", {"state": "REDUCING", "who": "me"}),
                                        ("/admin/kill-switch/release", {"actor": "me", "why": "x"}),
                                        ("/admin/venues/NOM", {"status": "down", "venue": "ISE"})])
def test_a_misspelt_admin_field_is_refused_and_changes_nothing(client, admin, path, body):
    working = client.post("/orders", json=seed_single()).get_json()["order_id"]
    r = client.post(path, json=body, headers=admin)
    unknown = sorted(set(body) - {"state", "actor", "reason", "status"})
    assert r.status_code == 422 and [(d["field"], d["reason"]) for d in r.get_json()["details"]] == \
        [(k, "UNKNOWN_FIELD") for k in unknown]
    assert client.get("/admin/kill-switch", headers=admin).get_json()["state"] == "ACTIVE"
    assert client.get(f"/orders/{working}").get_json()["status"] == "working"
    assert all(v["up"] for v in client.get("/admin/venues", headers=admin).get_json()["venues"])


def test_kill_switch_without_a_body_halts(client, admin):
    # Act
    r = client.post("/admin/kill-switch", headers=admin)

    # Assert
    assert r.get_json()["state"] == "HALTED"


def test_the_kill_switch_log_line_has_the_defaulted_reason(client, admin, caplog):
    r = client.post("/admin/kill-switch", headers=admin)
    assert r.get_json()["reason"] == "HALTED by hand"
    assert "trading state HALTED by 'admin' ('HALTED by hand')" in caplog.text


def test_halt_shows_in_health_and_metrics(client, admin):
    # Arrange
    client.post("/orders", json=seed_single())

    # Act
    client.post("/admin/kill-switch", json={"state": "HALTED"}, headers=admin)
    health = client.get("/health")
    metrics = client.get("/metrics").get_data(as_text=True)

    # Assert
    assert health.status_code == 200 and health.get_json()["status"] == "warn"
    assert health.get_json()["checks"]["risk:tradingState"][0]["observedValue"] == "HALTED"
    assert 'optsim_trading_state{state="HALTED"} 1.0' in metrics
    assert 'optsim_trading_state{state="ACTIVE"} 0.0' in metrics
    assert "optsim_open_orders 0.0" in metrics
    assert 'optsim_cancels_total{cause="kill_switch"} 1.0' in metrics


def test_release_restores_trading(client, admin):
    # Arrange
    client.post("/admin/kill-switch", json={"state": "HALTED"}, headers=admin)

    # Act
    r = client.post("/admin/kill-switch/release", headers=admin)
    order = client.post("/orders", json=seed_single())

    # Assert
    assert (r.get_json()["state"], r.get_json()["cancelled"]) == ("ACTIVE", [])
    assert order.status_code == 201
    assert client.get("/health").get_json()["checks"]["risk:tradingState"][0]["status"] == "pass"


@pytest.mark.parametrize("side, qty, price, accepted", [
    ("SELL", 5, 25.10, True),  # shrinks the long 10
    ("SELL", 10, 25.10, True),  # closes it
    ("SELL", 11, 25.10, False),  # would flip it short
    ("BUY", 5, 25.65, False),  # adds to it
])
def test_reducing_admits_only_orders_that_shrink_a_position(client, admin, side, qty, price, accepted):
    # Arrange: long 10 AAPL 200C
    assert client.post("/orders", json=seed_single(price=25.65)).get_json()["status"] == "filled"
    client.post("/admin/kill-switch", json={"state": "REDUCING"}, headers=admin)

    # Act
    r = client.post("/orders", json=seed_single(side=side, qty=qty, price=price))

    # Assert
    if accepted:
        assert r.status_code == 201, r.get_json()
    else:
        assert r.status_code == 403 and r.get_json()["reason"] == "REDUCE_ONLY"


def test_reducing_keeps_working_orders(client, admin):
    # Arrange
    order_id = client.post("/orders", json=seed_single()).get_json()["order_id"]

    # Act
    r = client.post("/admin/kill-switch", json={"state": "REDUCING"}, headers=admin)

    # Assert
    assert (r.get_json()["state"], r.get_json()["cancelled"]) == ("REDUCING", [])
    assert client.get(f"/orders/{order_id}").get_json()["status"] == "working"


@pytest.mark.parametrize("path, body, status, field", [
    ("/admin/kill-switch", {"state": "ACTIVE"}, 422, "state"),
    ("/admin/kill-switch", {"state": "halted"}, 422, "state"),
    ("/admin/kill-switch", [1], 422, ""),
    ("/admin/venues/CBOE", {"status": "sideways"}, 422, "status"),
    ("/admin/venues/CBOE", {}, 422, "status"),
    ("/admin/venues/NYSE", {"status": "down"}, 404, "venue"),
])
def test_bad_admin_requests_are_4xx_with_the_field(client, admin, path, body, status, field):
    # Act
    r = client.post(path, json=body, headers=admin)

    # Assert
    assert r.status_code == status
    assert r.get_json()["details"][0]["field"] == field


@pytest.mark.parametrize("kwargs, status", [
    ({"data": "{not json", "content_type": "application/json"}, 400),
    ({"data": "state=HALTED", "content_type": "application/x-www-form-urlencoded"}, 415),
])
def test_admin_body_that_is_not_json_is_refused(client, admin, kwargs, status):
    # Act
    r = client.post("/admin/kill-switch", headers=admin, **kwargs)

    # Assert
    assert r.status_code == status
    assert client.get("/admin/kill-switch", headers=admin).get_json()["state"] == "ACTIVE"


def test_venue_down_and_up_is_reported_by_admin_health_and_metrics(config, client, admin):
    # Act
    down = client.post("/admin/venues/MIAX", json={"status": "down"}, headers=admin)
    listing = client.get("/admin/venues", headers=admin).get_json()["venues"]
    health = client.get("/health").get_json()
    metrics = client.get("/metrics").get_data(as_text=True)
    up = client.post("/admin/venues/MIAX", json={"status": "up"}, headers=admin)

    # Assert
    assert down.get_json() == {"venue": "MIAX", "up": False, "marked_down": True}
    assert {v["venue"]: v["up"] for v in listing}["MIAX"] is False
    assert health["status"] == "warn" and health["checks"]["route-MIAX:connections"][0]["observedValue"] == 0
    assert 'optsim_route_up{venue="MIAX"} 0.0' in metrics
    assert up.get_json() == {"venue": "MIAX", "up": True, "marked_down": False}
    write_snapshot(config, seq=2)  # a fresh snapshot: on a busy machine the first may be past the 2 s warn age
    assert client.get("/health").get_json()["status"] == "pass"


def test_venue_marks_survive_a_restart_like_the_kill_switch(config, snapshot, admin):
    """A crash (the supervisor restarts the service) must not bring a venue marked down by hand back up."""
    first = create_app(config)
    c = first.test_client()
    c.post("/admin/venues/CBOE", json={"status": "down"}, headers=admin)
    c.post("/admin/drills", json={"fault": "venue_down", "venue": "C2"}, headers=admin)
    c.post("/admin/venues/MIAX", json={"status": "down"}, headers=admin)
    c.post("/admin/venues/MIAX", json={"status": "up"}, headers=admin)
    first.extensions["desk"].close()

    again = create_app(config)
    try:
        c = again.test_client()
        venues = {v["venue"]: v["up"] for v in c.get("/admin/venues", headers=admin).get_json()["venues"]}
        drills = c.get("/admin/drills", headers=admin).get_json()
        assert (venues["CBOE"], venues["C2"], venues["MIAX"]) == (False, False, True)
        assert drills["service"]["venue_down"] == {"venues": ["C2"]} and "venue_down" in drills["injected_at"]
        c.delete("/admin/drills/venue_down", headers=admin)
        venues = {v["venue"]: v["up"] for v in c.get("/admin/venues", headers=admin).get_json()["venues"]}
        assert (venues["CBOE"], venues["C2"]) == (False, True)
    finally:
        again.extensions["desk"].close()
