"""Notification payloads (plain JSON, Slack, Discord) and the pure re-notify/escalation decision."""
from __future__ import annotations

import json

import pytest

from incident_logger import IncidentLog
from optsim.ops.monitor.notify import PAYLOADS, due


class Clock:
    now = 1_767_362_400.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def incident(tmp_path, clock):
    log = IncidentLog(tmp_path / "incidents.jsonl", source="monitor", clock=clock)
    sig = {"key": "route_down:NOM", "type": "route_down", "severity": "SEV3", "summary": "NOM down", "labels": {}}
    inc = log.trigger("routing_degraded:venues", "routing_degraded", "SEV1", "routing degraded: every venue down",
                      {"venues_down": ["NOM"]}, signals=[sig]).incident
    return log, inc


def test_every_shape_carries_severity_status_runbook_and_dedup_key(incident):
    _, inc = incident
    plain = PAYLOADS["json"]("trigger", inc, 1, "backup", "http://ops:8081")
    assert {"severity": "SEV1", "status": "open", "dedup_key": "routing_degraded:venues"}.items() <= plain.items()
    assert plain["runbook_url"] == "http://ops:8081/runbook#routing-degraded"
    assert plain["escalation"] == {"level": 1, "to": "backup"} and plain["signals"][0]["type"] == "route_down"
    slack = json.dumps(PAYLOADS["slack"]("trigger", inc, 1, "backup", "http://ops:8081"))
    discord = PAYLOADS["discord"]("trigger", inc, 1, "backup", "http://ops:8081")
    assert "SEV1" in slack and "routing_degraded:venues" in slack and "/runbook#routing-degraded" in slack
    embed = discord["embeds"][0]
    assert len(discord["content"]) <= 2000 and embed["url"].endswith("#routing-degraded")
    assert discord["allowed_mentions"] == {"parse": []} and "routing_degraded:venues" in embed["footer"]["text"]
    assert {f["name"]: f["value"] for f in embed["fields"]}["Severity"] == "SEV1"


def test_renotify_escalates_one_level_at_a_time_and_stops_at_ack(incident, clock):
    log, inc = incident
    every = {"SEV1": 60.0}
    assert due(inc, clock.now, every, 2) == ("trigger", 0)
    inc = log.notify(inc.incident_id, {"event": "trigger", "outcome": "sent", "level": 0})
    assert due(inc, clock.now + 59, every, 2) is None
    clock.now += 60
    assert due(inc, clock.now, every, 2) == ("renotify", 1)
    inc = log.notify(inc.incident_id, {"event": "renotify", "outcome": "failed", "level": 1})
    clock.now += 60
    assert due(inc, clock.now, every, 2) == ("renotify", 2)
    inc = log.notify(inc.incident_id, {"event": "renotify", "outcome": "sent", "level": 2})
    clock.now += 60
    assert due(inc, clock.now, every, 2) == ("renotify", 2)  # the last level repeats
    inc = log.acknowledge(inc.incident_id, actor="alice")
    assert due(inc, clock.now + 600, every, 2) is None
    inc = log.resolve(inc.incident_id, actor="alice")
    assert due(inc, clock.now, every, 2) == ("resolve", 2)


def test_a_silenced_trigger_owes_no_resolve(incident):
    log, inc = incident
    log.notify(inc.incident_id, {"event": "trigger", "outcome": "silenced", "level": 0, "silence_id": "SIL-x"})
    done = log.resolve(inc.incident_id, actor="monitor", resolution="auto")
    assert due(done, 0, {}, 2) is None
