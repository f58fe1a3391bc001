"""The monitor's incident state machine: grouping, one incident per dedup key, hysteresis, restarts, hand resolves."""
from __future__ import annotations

import pytest

from incident_logger import IncidentLog
from optsim.ops.monitor.detectors import SIGNAL_TYPES, Assessment, Finding, PollState
from optsim.ops.monitor.tracker import IncidentTracker

ROUTE = Finding("route_down:MIAX", "route_down", "SEV3", "route to MIAX down", {"venue": "MIAX", "venues": 8})
ALL = frozenset(SIGNAL_TYPES)
KEY = "routing_degraded:venues"
STALE = Finding("feed_stale:nbbo", "feed_stale", "SEV2", "NBBO heartbeat 7.0s old", {"age_s": 7.0, "band": 0})
FROZEN = Finding("feed_frozen:nbbo", "feed_frozen", "SEV2", "feed frozen at seq 9", {"seq": 9, "band": 0})
UNHEALTHY = Finding("service_unhealthy:optsim", "service_unhealthy", "SEV2", "/health fail",
                    {"failing_checks": ["nbbo-feed:heartbeatAge"], "band": "nbbo-feed:heartbeatAge"})
DB_DOWN = Finding("service_unhealthy:optsim", "service_unhealthy", "SEV2", "/health fail",
                  {"failing_checks": ["nbbo-feed:heartbeatAge", "orders-db:responseTime"], "band": "x"})


def poll(*findings, judged=ALL) -> Assessment:
    return Assessment(list(findings), judged, PollState())


def venues_down(*names, of=8):
    return [Finding(f"route_down:{v}", "route_down", "SEV3", f"route to {v} down", {"venue": v, "venues": of})
            for v in names]


@pytest.fixture
def log_path(tmp_path):
    return tmp_path / "incidents.jsonl"


@pytest.fixture
def tracker(log_path):
    return IncidentTracker(IncidentLog(log_path, source="monitor"), resolve_after_polls=2, group_wait_polls=2)


def lines(path):
    return path.read_text().splitlines()


def test_a_lasting_fault_is_one_incident_and_one_line(tracker, log_path):
    for _ in range(10):
        tracker.apply(poll(ROUTE))
    assert len(lines(log_path)) == 1


def test_resolves_only_after_enough_healthy_polls(tracker, log_path):
    tracker.apply(poll(ROUTE))
    assert tracker.apply(poll()) == []  # one healthy poll: still open
    [(action, inc)] = tracker.apply(poll())
    assert action == "resolve" and inc.resolution == "auto" and inc.resolved_by == "monitor"


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
    assert tracker.log.find_open(KEY) is not None


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
    IncidentLog(log_path, source="service").trigger("routing_degraded:BOX", "routing_degraded", "SEV3", "manual page")
    for _ in range(3):
        tracker.apply(poll())
    assert tracker.log.find_open("routing_degraded:BOX") is not None


def test_venues_down_are_one_routing_incident_whose_severity_rises_with_the_share(tracker):
    tracker.apply(poll(*venues_down("MIAX")))
    inc = tracker.log.find_open(KEY)
    assert inc.type == "routing_degraded" and inc.severity == "SEV3"
    tracker.apply(poll(*venues_down("MIAX", "ISE", "BOX", "C2")))
    assert tracker.log.find_open(KEY).severity == "SEV2"  # half the venues
    tracker.apply(poll(*venues_down("CBOE", "C2", "ISE", "PHLX", "NOM", "ARCA", "MIAX", "BOX")))
    [only] = tracker.log.open_incidents()
    assert only.incident_id == inc.incident_id and only.severity == "SEV1" and "every venue" in only.summary
    assert len(only.signal_keys()) == 8 and only.labels()["venue"] == {"CBOE", "C2", "ISE", "PHLX", "NOM", "ARCA",
                                                                       "MIAX", "BOX"}


def test_a_feed_stall_is_one_incident_with_its_related_signals(tracker):
    tracker.apply(poll(FROZEN))  # frozen shows first, then stale and the service's failing health
    tracker.apply(poll(FROZEN, STALE, UNHEALTHY))
    tracker.apply(poll(FROZEN, STALE, UNHEALTHY))
    [inc] = tracker.log.open_incidents()
    assert inc.type == "feed_stale" and inc.dedup_key == "feed:nbbo"
    assert {s["type"] for s in inc.signals.values() if s["active"]} == {"feed_stale", "feed_frozen",
                                                                        "service_unhealthy"}
    assert inc.summary.endswith("(3 signals attached)")  # every signal the incident shows, its own included


def test_a_knock_on_signal_waits_for_its_cause_and_is_folded_in_if_it_came_alone(tracker):
    tracker.apply(poll(UNHEALTHY))  # health fails one poll before the monitor sees the heartbeat age
    assert tracker.log.open_incidents() == []
    tracker.apply(poll(UNHEALTHY, STALE))
    assert [i.type for i in tracker.log.open_incidents()] == ["feed_stale"]


def test_an_unexplained_failing_check_stays_its_own_incident(tracker):
    for _ in range(2):
        tracker.apply(poll(STALE, DB_DOWN))
    assert sorted(i.type for i in tracker.log.open_incidents()) == ["feed_stale", "service_unhealthy"]


def test_a_knock_on_incident_opened_alone_is_resolved_into_the_group(tracker):
    tracker.apply(poll(UNHEALTHY))
    tracker.apply(poll(UNHEALTHY))  # waited long enough: its own incident
    own = tracker.log.find_open("service_unhealthy:optsim")
    assert own is not None
    tracker.apply(poll(UNHEALTHY, STALE))
    assert [i.type for i in tracker.log.open_incidents()] == ["feed_stale"]
    assert tracker.log.get(own.incident_id).note == "grouped under the incident that explains it"


UNUSABLE = Finding("quotes_unusable:nbbo", "quotes_unusable", "SEV2", "market data not fit to trade: snapshot refused",
                   {"snapshot_refused": True, "band": "refused"})


def test_bad_market_data_with_a_fresh_heartbeat_is_its_own_feed_incident(tracker):
    tracker.apply(poll(UNUSABLE))
    [inc] = tracker.log.open_incidents()
    assert inc.type == "quotes_unusable" and inc.severity == "SEV2" and inc.dedup_key == "feed:nbbo"


def test_a_stale_snapshot_from_a_stalled_feed_is_a_signal_of_the_feed_incident(tracker):
    for _ in range(3):
        tracker.apply(poll(FROZEN, STALE, UNUSABLE, UNHEALTHY))
    [inc] = tracker.log.open_incidents()
    assert inc.type == "feed_stale"
    assert {s["type"] for s in inc.signals.values() if s["active"]} == {"feed_stale", "feed_frozen",
                                                                        "quotes_unusable", "service_unhealthy"}
