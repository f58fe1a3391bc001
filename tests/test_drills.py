"""Drill endpoints: each fault lands where it should (feed control file, router, service faults) and clears."""
from __future__ import annotations

import time

import pytest

from optsim.market import feedctl
from optsim.ops import silences
from tests.conftest import seed_single


@pytest.mark.parametrize("body, switch, expected", [
    ({"fault": "feed_stall"}, "stall", True),
    ({"fault": "feed_freeze"}, "freeze_heartbeat", True),
    ({"fault": "crossed_market", "targets": ["AAPL"]}, "crossed", frozenset({"AAPL"})),
    ({"fault": "wide_spreads", "underlyings": ["TSLA"]}, "wide", frozenset({"TSLA"})),
    ({"fault": "venue_dark", "venue": "MIAX"}, "venues_dark", frozenset({"MIAX"})),
    ({"fault": "seq_gap", "count": 3}, "seq_gap", 3),
])
def test_feed_drill_writes_the_control_file_and_clears(client, admin, config, body, switch, expected):
    # Act
    injected = client.post("/admin/drills", json=body, headers=admin)
    # Assert
    assert injected.status_code == 201
    assert body["fault"] in injected.get_json()["injected_at"]
    assert getattr(feedctl.read_faults(config.data_dir), switch) == expected
    cleared = client.delete(f"/admin/drills/{body['fault']}", headers=admin)
    assert cleared.status_code == 200
    assert feedctl.read_faults(config.data_dir).active() == {}


def test_venue_down_drill_moves_routing_and_health(client, admin):
    client.post("/admin/drills", json={"fault": "venue_down", "venue": "C2"}, headers=admin)
    order = client.post("/orders", json=seed_single()).get_json()
    health = client.get("/health").get_json()
    assert order["venue"] != "C2"
    assert health["checks"]["route-C2:connections"][0]["status"] == "warn"
    client.delete("/admin/drills/venue_down", headers=admin)
    assert client.get("/health").get_json()["checks"]["route-C2:connections"][0]["status"] == "pass"


def test_clearing_venue_down_leaves_the_venues_marked_down_by_hand(client, admin):
    client.post("/admin/venues/CBOE", json={"status": "down"}, headers=admin)
    assert "venue_down" not in client.get("/admin/drills", headers=admin).get_json()["service"]  # a hand mark
    client.post("/admin/drills", json={"fault": "venue_down", "venue": "C2"}, headers=admin)
    assert client.get("/admin/drills", headers=admin).get_json()["service"]["venue_down"] == {"venues": ["C2"]}

    client.delete("/admin/drills/venue_down", headers=admin)

    venues = {v["venue"]: v["up"] for v in client.get("/admin/venues", headers=admin).get_json()["venues"]}
    assert (venues["CBOE"], venues["C2"]) == (False, True)


def test_a_venue_drilled_and_marked_by_hand_stays_down_when_the_drill_clears(client, admin):
    client.post("/admin/drills", json={"fault": "venue_down", "venue": "CBOE"}, headers=admin)
    client.post("/admin/venues/CBOE", json={"status": "down"}, headers=admin)
    client.delete("/admin/drills", headers=admin)
    assert client.post("/admin/venues/CBOE", json={"status": "down"}, headers=admin).get_json()["up"] is False
    assert "venue_down" not in client.get("/admin/drills", headers=admin).get_json()["service"]


def test_marking_the_drills_last_venue_up_by_hand_ends_the_drill_and_its_silence(client, admin, app):
    client.post("/admin/drills", json={"fault": "venue_down", "venue": "C2"}, headers=admin)
    # Act
    client.post("/admin/venues/C2", json={"status": "up"}, headers=admin)
    # Assert: nothing left of the drill, so a real outage after it is paged
    drills = client.get("/admin/drills", headers=admin).get_json()
    assert "venue_down" not in drills["service"] and "venue_down" not in drills["injected_at"]
    config = app.extensions["desk"].config
    [silence] = silences.load(config.data_dir)
    assert silence.ends_at <= time.time() + config.drills.silence_grace_s  # ending, not in six hours
    actions = [e["action"] for e in client.get("/admin/audit", headers=admin).get_json()["entries"]]
    assert actions[:2] == ["drill.clear", "venue.mark"]


def test_a_drill_injected_again_within_the_grace_gets_a_full_silence(client, admin, app):
    client.post("/admin/drills", json={"fault": "venue_down", "venue": "C2"}, headers=admin)
    client.delete("/admin/drills/venue_down", headers=admin)  # its silence now ends after the grace
    # Act
    client.post("/admin/drills", json={"fault": "venue_down", "venue": "NOM"}, headers=admin)
    # Assert: one silence in force, for the drill's whole length, not the cleared one's last minutes
    config, now = app.extensions["desk"].config, time.time()
    [live] = [s for s in silences.load(config.data_dir) if s.state(now) == "active"]
    assert live.ends_at > now + config.drills.silence_grace_s


def test_reject_storm_rejects_with_venue_reject_and_counts_it(client, admin):
    client.post("/admin/drills", json={"fault": "reject_storm", "fraction": 1.0}, headers=admin)
    answer = client.post("/orders", json=seed_single())
    assert answer.status_code == 422
    assert answer.get_json()["reason"] == "VENUE_REJECT"
    venue = answer.get_json()["order"]["venue"]
    assert venue is not None and answer.get_json()["message"].startswith(f"{venue} rejected")
    assert 'optsim_order_rejects_total{reason="VENUE_REJECT"} 1.0' in client.get("/metrics").get_data(as_text=True)
    client.delete("/admin/drills", headers=admin)
    assert client.post("/orders", json=seed_single(price=1.3)).status_code == 201


def test_latency_spike_shows_in_the_latency_histogram(client, admin):
    client.post("/admin/drills", json={"fault": "latency_spike", "ms": 60}, headers=admin)
    client.post("/orders", json=seed_single())
    text = client.get("/metrics").get_data(as_text=True)
    assert 'optsim_order_latency_seconds_bucket{le="0.05"} 0.0' in text
    assert client.get("/admin/drills", headers=admin).get_json()["service"]["latency_spike"]["ms"] == 60


@pytest.mark.parametrize("body, field", [
    ({"fault": "meteor_strike"}, "fault"),
    ({"fault": "venue_down", "venue": "NYSE"}, "venue"),
    ({"fault": "reject_storm", "fraction": 2}, "fraction"),
    ({"fault": "latency_spike", "ms": "slow"}, "ms"),
    ({"fault": "crossed_market", "targets": []}, "targets"),
    ({"fault": "seq_gap", "count": True}, "count"),
    ({"fault": "latency_spike", "ms": 2500, "jitter_ms": "x"}, "jitter_ms"),
    ({"fault": "venue_down", "venue": "CBOE", "silence": "maybe"}, "silence"),
    ({"fault": "feed_stall", "silence": 1}, "silence"),
    ({"fault": "latency_spike", "ms": 100, "extra": 1}, "extra"),
    ({"fault": "venue_down", "venue": "C2", "venues": ["ISE"]}, "venues"),
])
def test_bad_drill_is_a_422_naming_the_field_and_injects_nothing(client, admin, body, field):
    before = client.get("/admin/drills", headers=admin).get_json()
    answer = client.post("/admin/drills", json=body, headers=admin)
    assert answer.status_code == 422
    assert answer.get_json()["details"][0]["field"] == field
    assert client.get("/admin/drills", headers=admin).get_json() == before


def test_drills_need_the_admin_token(client):
    assert client.post("/admin/drills", json={"fault": "feed_stall"}).status_code == 401
    assert client.get("/admin/drills", headers={"Authorization": "Bearer nope"}).status_code == 403
