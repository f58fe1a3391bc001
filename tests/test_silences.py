"""Silences over HTTP: who/why/when validated field by field, listed by state, ended early; matching rules."""
from __future__ import annotations

import time

import pytest

from incident_logger import IncidentLog
from optsim.ops import silences

GOOD = {"matchers": {"type": "routing_degraded", "venue": ["nom"]}, "duration_s": 600, "created_by": "alice",
        "comment": "NOM maintenance"}


def test_create_list_end(client, admin):
    made = client.post("/admin/silences", json=GOOD, headers=admin)
    assert made.status_code == 201
    body = made.get_json()
    assert body["state"] == "active" and body["matchers"] == {"type": ["routing_degraded"], "venue": ["NOM"]}
    assert [s["silence_id"] for s in client.get("/admin/silences", headers=admin).get_json()["silences"]] == [
        body["silence_id"]]
    ended = client.delete(f"/admin/silences/{body['silence_id']}", headers=admin).get_json()
    assert ended["state"] == "expired"
    assert client.get("/admin/silences", headers=admin).get_json()["count"] == 0
    assert client.get("/admin/silences?state=expired", headers=admin).get_json()["count"] == 1
    assert client.delete("/admin/silences/SIL-nope", headers=admin).status_code == 404


def test_a_future_window_is_pending(client, admin):
    start = time.time() + 3600
    made = client.post("/admin/silences", headers=admin, json={**GOOD, "duration_s": None, "starts_at": start,
                                                               "ends_at": start + 600}).get_json()
    assert made["state"] == "pending"


@pytest.mark.parametrize("change, field", [
    ({"matchers": {}}, "matchers"),
    ({"matchers": {"type": "meteor"}}, "matchers.type"),
    ({"matchers": {"colour": "red"}}, "matchers.colour"),
    ({"matchers": {"venue": ["N O M"]}}, "matchers.venue"),
    ({"created_by": ""}, "created_by"),
    ({"comment": 7}, "comment"),
    ({"duration_s": -5}, "duration_s"),
    ({"duration_s": None, "ends_at": "yesterday"}, "ends_at"),
    ({"duration_s": None}, "ends_at"),
    ({"starts_at": 1e300}, "starts_at"),
    ({"who": "x"}, "who"),
    ({"created_by": "x" * 501}, "created_by"),
])
def test_bad_silences_are_422_naming_the_field(client, admin, change, field):
    body = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    answer = client.post("/admin/silences", json=body, headers=admin)
    assert answer.status_code == 422
    assert field in [d["field"] for d in answer.get_json()["details"]]


def test_a_too_long_text_says_so_and_control_characters_cannot_forge_a_log_line(client, admin, caplog):
    long = client.post("/admin/silences", json={**GOOD, "comment": "x" * 501}, headers=admin).get_json()
    assert [(d["field"], d["reason"]) for d in long["details"]] == [("comment", "TOO_LONG")]
    forged = "ops\nCRITICAL forged line"
    assert client.post("/admin/silences", json={**GOOD, "created_by": forged}, headers=admin).status_code == 201
    assert client.post("/admin/kill-switch", json={"state": "REDUCING", "actor": forged, "reason": "r\r\nx"},
                       headers=admin).status_code == 200
    assert not [r for r in caplog.records if "\n" in r.getMessage() or "\r" in r.getMessage()]


def test_silences_need_the_admin_token(client):
    assert client.post("/admin/silences", json=GOOD).status_code == 401


def test_a_silence_covers_an_incident_only_when_every_venue_is_covered(tmp_path):
    log = IncidentLog(tmp_path / "incidents.jsonl")
    sig = lambda v: {"key": f"route_down:{v}", "type": "route_down", "severity": "SEV3", "summary": v,
                     "labels": {"venue": v}}
    inc = log.trigger("routing_degraded:venues", "routing_degraded", "SEV3", "x", signals=[sig("NOM")]).incident
    now = time.time()
    nom = silences.add(tmp_path, {"type": ["routing_degraded"], "venue": ["NOM"]}, now - 1, now + 60, "a", "b")
    assert silences.matching(silences.load(tmp_path), inc.labels(), now) == nom
    wider = log.trigger("routing_degraded:venues", "routing_degraded", "SEV3", "x",
                        signals=[sig("NOM"), sig("CBOE")]).incident
    assert silences.matching(silences.load(tmp_path), wider.labels(), now) is None
    assert silences.matching(silences.load(tmp_path), inc.labels(), now + 120) is None  # expired
