"""GET/POST /incidents: filters with field-level 422s, 404, admin guard, 409 on a resolved incident."""
from __future__ import annotations

import pytest
from flask import Flask

import optsim.errors
from incident_logger import IncidentLog
from optsim.api.incidents import bp
from optsim.config import load_config

ADMIN = {"Authorization": "Bearer t"}


@pytest.fixture
def app(tmp_path):
    app = Flask(__name__)
    app.config["OPTSIM_CONFIG"] = load_config(overrides={"service": {"data_dir": str(tmp_path), "admin_token": "t"}})
    optsim.errors.init_app(app)
    app.register_blueprint(bp)
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def monitor_log(tmp_path):
    """The monitor, a separate writer of the same file."""
    return IncidentLog(tmp_path / "incidents.jsonl", source="monitor")


@pytest.fixture
def route_down(monitor_log):
    return monitor_log.trigger("route_down:MIAX", "route_down", "SEV3", "route to MIAX down").incident.incident_id


def test_list_shows_what_the_monitor_wrote(client, monitor_log, route_down):
    monitor_log.trigger("feed_stale:nbbo", "feed_stale", "SEV2", "heartbeat 9s old")

    body = client.get("/incidents").get_json()

    assert body["count"] == 2 and [i["type"] for i in body["incidents"]] == ["feed_stale", "route_down"]
    assert body["incidents"][1]["runbook"] == "runbook.md#route-down"
    assert [i["type"] for i in client.get("/incidents?type=route_down").get_json()["incidents"]] == ["route_down"]
    assert client.get("/incidents?status=resolved").get_json()["count"] == 0
    assert client.get("/incidents?limit=1").get_json()["count"] == 1
    assert client.get("/incidents?since=2999-01-01T00:00:00Z").get_json()["count"] == 0
    assert client.get("/incidents?since=0").get_json()["count"] == 2


@pytest.mark.parametrize("query,field,reason", [
    ("status=closed", "status", "INVALID_CHOICE"),
    ("type=Route%20Down", "type", "INVALID_CHOICE"),
    ("type=nope", "type", "INVALID_CHOICE"),  # not a type the simulator raises nor one in the log
    ("type=feed_stale,nope", "type", "INVALID_CHOICE"),
    ("since=yesterday", "since", "INVALID_TIME"),
    ("limit=0", "limit", "OUT_OF_RANGE"),
    ("limit=abc", "limit", "OUT_OF_RANGE"),
])
def test_bad_filter_is_422_naming_the_field(client, query, field, reason):
    resp = client.get(f"/incidents?{query}")
    assert resp.status_code == 422
    body = resp.get_json()
    assert body["error"] == "validation_failed"
    assert body["details"][0]["field"] == field and body["details"][0]["reason"] == reason


def test_a_type_filter_names_the_allowed_types_and_takes_any_type_in_the_log(client, monitor_log):
    monitor_log.trigger("custom:1", "custom_check", "SEV4", "raised by hand")
    [problem] = client.get("/incidents?type=nope").get_json()["details"]
    assert "routing_degraded" in problem["message"] and "custom_check" in problem["message"]
    assert client.get("/incidents?type=routing_degraded").get_json()["count"] == 0  # known, none yet
    assert client.get("/incidents?type=custom_check").get_json()["count"] == 1


def test_get_one_has_its_timeline_and_unknown_is_404(client, route_down):
    body = client.get(f"/incidents/{route_down}").get_json()
    assert body["incident_id"] == route_down and [e["action"] for e in body["events"]] == ["trigger"]
    resp = client.get("/incidents/INC-20000101-0001")
    assert resp.status_code == 404 and resp.get_json()["error"] == "not_found"


def test_ack_then_resolve_then_409(client, route_down, monitor_log):
    acked = client.post(f"/incidents/{route_down}/ack", json={"actor": "alice", "note": "calling MIAX"}, headers=ADMIN)
    assert acked.status_code == 200 and acked.get_json()["status"] == "acknowledged"
    assert acked.get_json()["acknowledged_by"] == "alice"

    resolved = client.post(f"/incidents/{route_down}/resolve", headers=ADMIN)  # body is optional
    assert resolved.status_code == 200 and resolved.get_json()["resolution"] == "manual"
    assert monitor_log.get(route_down).status == "resolved"  # the monitor sees the service's write

    again = client.post(f"/incidents/{route_down}/resolve", headers=ADMIN)
    assert again.status_code == 409 and again.get_json()["error"] == "conflict"
    assert client.post(f"/incidents/{route_down}/ack", headers=ADMIN).status_code == 409


def test_changes_need_the_admin_token(client, route_down):
    assert client.post(f"/incidents/{route_down}/ack").status_code == 401
    assert client.post(f"/incidents/{route_down}/resolve", headers={"Authorization": "Bearer nope"}).status_code == 403
    assert client.get(f"/incidents/{route_down}").get_json()["status"] == "open"


def test_ack_unknown_is_404(client):
    assert client.post("/incidents/INC-20000101-0001/ack", headers=ADMIN).status_code == 404


@pytest.mark.parametrize("data,status,reason", [
    ("{not json", 400, None),
    ("[1]", 422, "NOT_AN_OBJECT"),
    ('{"actor": 7}', 422, "NOT_A_STRING"),
    ('{"actor": "a", "severity": "SEV4"}', 422, "UNKNOWN_FIELD"),
])
def test_bad_ack_body_is_refused_and_changes_nothing(client, route_down, data, status, reason):
    resp = client.post(f"/incidents/{route_down}/ack", data=data, content_type="application/json", headers=ADMIN)
    assert resp.status_code == status
    if reason:
        assert resp.get_json()["details"][0]["reason"] == reason
    assert client.get(f"/incidents/{route_down}").get_json()["status"] == "open"

