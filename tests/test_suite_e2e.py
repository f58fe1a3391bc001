"""The ops loop end to end: the real feed, service and monitor under run_simulator --all.

Intervals are short (tests/suite.py: feed 0.1 s, monitor polls every 0.3 s, stale after 1 s), so
each fault is seen and cleared in seconds.
"""
from __future__ import annotations

import os
import signal

import pytest

from tests.suite import suite, wait_for  # noqa: F401  (suite is the fixture)

pytestmark = pytest.mark.slow
POLL_S, STALE_AFTER_S = 0.3, 3.0  # as tests/suite.py configures the monitor


def open_incident(s, type_, **detail):
    log = s.incident_log()
    for inc in log.incidents(type=type_):
        if inc.unresolved and all(inc.details.get(k) == v for k, v in detail.items()):
            return inc
    return None


def test_stopped_feed_opens_feed_stale_within_two_polls_and_resolves_when_it_resumes(suite):
    # Arrange: freeze the feed process itself (SIGSTOP), as a hung feed handler would be
    feed_pid = suite.children()["feed"]
    wait_for(lambda: open_incident(suite, "feed_stale") is None, 20, 0.1, "no feed_stale open before the stop")
    os.killpg(feed_pid, signal.SIGSTOP)
    try:
        # Act
        incident = wait_for(lambda: open_incident(suite, "feed_stale"), 20, 0.05, "a feed_stale incident")
    finally:
        os.killpg(feed_pid, signal.SIGCONT)
    # Assert: stale once the heartbeat is older than the threshold, seen within two polls of that. The age is the
    # monitor's own reading (its poll time minus the last beat), so how fast this test notices does not count.
    # the first record with the stale reading (the feed incident may open as feed_frozen first; later ones are older)
    age = next(e["details"]["age_s"] for e in incident.events if "age_s" in (e.get("details") or {}))
    assert STALE_AFTER_S < age <= STALE_AFTER_S + 2 * POLL_S + 0.5, f"detected at heartbeat age {age:.2f}s"
    assert incident.severity == "SEV2"
    assert incident.to_dict()["runbook"] == "runbook.md#feed-stale"
    resolved = wait_for(lambda: (i := suite.incident_log().get(incident.incident_id)) and not i.unresolved and i,
                        10, 0.1, "feed_stale to resolve")
    assert resolved.resolution == "auto"
    assert suite.get("/health").json()["status"] in ("pass", "warn")


def test_venue_marked_down_opens_routing_degraded_for_that_venue_and_resolves(suite):
    # Act
    assert suite.post("/admin/venues/MIAX", json={"status": "down"}, admin=True).status_code == 200
    try:
        incident = wait_for(lambda: open_incident(suite, "routing_degraded"), 10, 0.1, "a routing_degraded incident")
    finally:
        suite.post("/admin/venues/MIAX", json={"status": "up"}, admin=True)
    # Assert
    assert "MIAX" in incident.summary or "MIAX" in str(incident.details)
    assert incident.severity == "SEV3" and incident.details["venues_down"] == ["MIAX"]
    wait_for(lambda: not suite.incident_log().get(incident.incident_id).unresolved, 10, 0.1, "routing to resolve")
    listed = suite.get("/incidents?type=routing_degraded&state=resolved").json()
    assert any(i["incident_id"] == incident.incident_id for i in listed["incidents"])


def test_killed_feed_is_restarted_by_the_supervisor_and_quotes_flow_again(suite):
    # Arrange
    old_pid = suite.children()["feed"]
    old_seq = suite.get("/quotes/status").json()["snapshot_seq"]
    # Act
    os.killpg(old_pid, signal.SIGKILL)
    # Assert: a new feed process, and the service sees new snapshots from it
    new_pid = wait_for(lambda: (p := suite.children()["feed"]) != old_pid and p, 10, 0.1, "the feed to restart")
    wait_for(lambda: suite.get("/quotes/status").json()["heartbeat"]["pid"] == new_pid, 10, 0.1,
             "a heartbeat from the new feed")
    wait_for(lambda: suite.get("/quotes/status").json()["snapshot_seq"] != old_seq, 10, 0.1,
             "the service to take a snapshot from the new feed")  # taken on its own thread, within a poll


def test_seed_orders_are_accepted_by_the_running_suite(suite):
    from tests.conftest import SEED_MULTI, SEED_SINGLE
    single = suite.post("/orders", json=SEED_SINGLE)
    multi = suite.post("/orders/multi", json=SEED_MULTI)
    assert single.status_code == 201, single.text
    assert multi.status_code == 201, multi.text
    assert multi.json()["net_price"] == 0.45
