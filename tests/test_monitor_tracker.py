"""The monitor's incident state machine: one incident per dedup key, hysteresis, restarts, hand resolves."""
from __future__ import annotations

import logging

import pytest

from incident_logger import IncidentLog
from optsim.monitor.detectors import INCIDENT_TYPES, Assessment, Finding, PollState
from optsim.monitor.notify import Webhook, message
from optsim.monitor.tracker import IncidentTracker

ROUTE = Finding("route_down:MIAX", "route_down", "SEV3", "route to MIAX down", {"venue": "MIAX", "band": "SEV3"})
ALL = frozenset(INCIDENT_TYPES)


def poll(*findings, judged=ALL) -> Assessment:
    return Assessment(list(findings), judged, PollState())


@pytest.fixture
def log_path(tmp_path):
    return tmp_path / "incidents.jsonl"


@pytest.fixture
def notes():
    return []


@pytest.fixture
def tracker(log_path, notes):
    ilog = IncidentLog(log_path, source="monitor")
    return IncidentTracker(ilog, resolve_after_polls=2, notify=lambda action, inc: notes.append((action, inc.dedup_key)))


def lines(path):
    return path.read_text().splitlines()


def test_a_lasting_fault_is_one_incident_and_one_line(tracker, log_path, notes):
    for _ in range(10):
        tracker.apply(poll(ROUTE))
    assert len(lines(log_path)) == 1 and notes == [("trigger", "route_down:MIAX")]


def test_resolves_only_after_enough_healthy_polls(tracker, log_path, notes):
    tracker.apply(poll(ROUTE))
    assert tracker.apply(poll()) == []  # one healthy poll: still open
    [(action, inc)] = tracker.apply(poll())
    assert action == "resolve" and inc.resolution == "auto" and inc.resolved_by == "monitor"
    assert notes[-1] == ("resolve", "route_down:MIAX")


def test_a_flap_restarts_the_healthy_count(tracker):
    tracker.apply(poll(ROUTE))
    tracker.apply(poll())
    tracker.apply(poll(ROUTE))  # back before the second healthy poll
    assert tracker.apply(poll()) == []
    assert [a for a, _ in tracker.apply(poll())] == ["resolve"]


def test_polls_that_cannot_judge_the_type_never_resolve_it(tracker):
    tracker.apply(poll(ROUTE))
    blind = ALL - {"route_down"}  # the service is down: its metrics are unknown
    for _ in range(5):
        assert tracker.apply(poll(judged=blind)) == []
    assert tracker.log.find_open("route_down:MIAX") is not None


def test_restarted_monitor_does_not_trigger_again(tracker, log_path):
    first = tracker.apply(poll(ROUTE))[0][1]
    restarted = IncidentTracker(IncidentLog(log_path, source="monitor"), resolve_after_polls=2)
    assert restarted.apply(poll(ROUTE)) == []
    assert len(lines(log_path)) == 1
    restarted.apply(poll())
    assert restarted.apply(poll())[0][1].incident_id == first.incident_id


def test_hand_resolved_incident_reopens_as_a_new_one(tracker, log_path):
    first = tracker.apply(poll(ROUTE))[0][1]
    IncidentLog(log_path, source="service").resolve(first.incident_id, actor="alice")
    [(action, second)] = tracker.apply(poll(ROUTE))
    assert action == "trigger" and second.incident_id != first.incident_id


def test_hand_resolve_between_polls_is_not_an_error(tracker, log_path):
    first = tracker.apply(poll(ROUTE))[0][1]
    tracker.apply(poll())
    IncidentLog(log_path, source="service").resolve(first.incident_id, actor="alice")
    assert tracker.apply(poll()) == []


def test_incidents_the_monitor_did_not_open_are_left_alone(tracker, log_path):
    IncidentLog(log_path, source="service").trigger("route_down:BOX", "route_down", "SEV3", "manual page")
    for _ in range(3):
        tracker.apply(poll())
    assert tracker.log.find_open("route_down:BOX") is not None


def test_severity_escalation_is_written(tracker, log_path):
    tracker.apply(poll(ROUTE))
    everything = Finding("route_down:MIAX", "route_down", "SEV2", "route to MIAX down (all venues down)",
                         {"venue": "MIAX", "band": "SEV2"})
    assert [a for a, _ in tracker.apply(poll(everything))] == ["update"]
    assert tracker.log.find_open("route_down:MIAX").severity == "SEV2"


def test_webhook_failure_is_logged_not_raised(tracker, caplog):
    inc = tracker.apply(poll(ROUTE))[0][1]
    with caplog.at_level(logging.WARNING):
        Webhook("http://127.0.0.1:9/hook", timeout_s=0.2)("trigger", inc)
    assert "webhook post" in caplog.text
    Webhook("", timeout_s=0.2)("trigger", inc)  # no URL configured: nothing to do
    assert "SEV3 TRIGGERED" in message("trigger", inc) and "runbook.md#route-down" in message("trigger", inc)
