"""Incident management on the real suite: grouping, escalation to a local webhook, silences, acks, drills.

One suite (tests/suite.py: feed 0.1 s, monitor polls every 0.3 s, stale after 1 s) with a webhook
receiver on a free loopback port and SEV1 re-notify after 1 s; each test leaves the suite healthy.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.suite import CONFIG, ROOT, running_suite, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
VENUES = ("CBOE", "C2", "ISE", "PHLX", "NOM", "ARCA", "MIAX", "BOX")
RENOTIFY_S = 1.0
QUIET = {  # a drill whose expected incident cannot open: wide spreads never cross a market
    "version": "1.0.0", "title": "Quiet fault", "steady-state-hypothesis": {"title": "up", "probes": [
        {"type": "probe", "name": "health", "tolerance": 200, "provider": {"type": "http", "url": "/health"}}]},
    "method": [{"type": "action", "name": "widen", "provider": {
        "type": "http", "url": "/admin/drills", "method": "POST",
        "arguments": {"fault": "wide_spreads", "underlyings": ["TSLA"]}}}],
    "rollbacks": [{"type": "action", "name": "clear", "provider": {
        "type": "http", "url": "/admin/drills/wide_spreads", "method": "DELETE"}}],
    "extensions": [{"name": "optsim", "expected_incidents": ["market_crossed"], "detect_within_s": 3}]}


class Hooks(ThreadingHTTPServer):
    """Collects every JSON body POSTed to it."""

    def __init__(self):
        self.bodies: list[dict] = []
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                hooks.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def about(self, incident_id):
        return [b for b in self.bodies if b["incident_id"] == incident_id]


@pytest.fixture(scope="module")
def hooks():
    server = Hooks()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def suite(tmp_path_factory, hooks):
    tmp = tmp_path_factory.mktemp("ops")
    (tmp / "scenarios").mkdir()
    (tmp / "scenarios" / "quiet.json").write_text(json.dumps(QUIET))
    extra = f"""
[notify]
renotify_after_s = {{SEV1 = {RENOTIFY_S}}}
retries = 1
backoff_s = 0.1

[[notify.webhooks]]
name = "local"
url = "http://127.0.0.1:{hooks.server_port}/hook"

[drills]
scenario_dir = "{tmp / 'scenarios'}"
silence_grace_s = 5
"""
    # tests/suite.py's 3 s stale threshold: on a loaded 2-core machine 1 s opened real feed incidents
    with running_suite(tmp, extra_config=extra, base_config=CONFIG) as running:
        yield running


def unresolved(s):
    return s.get("/incidents?state=unresolved").json()["incidents"]


def settled(s):
    wait_for(lambda: not unresolved(s) and s.get("/health").status_code == 200, 20, 0.2, "every incident to resolve")


def test_one_feed_stall_is_one_incident_with_its_related_signals(suite):
    assert suite.post("/admin/drills", json={"fault": "feed_stall"}, admin=True).status_code == 201
    try:
        def grouped():
            found = unresolved(suite)
            assert len(found) <= 1, [(i["type"], i["dedup_key"]) for i in found]  # never a second incident
            types = {sig["type"] for sig in found[0]["signals"]} if found else set()
            return {"feed_stale", "service_unhealthy"} <= types and found[0]
        inc = wait_for(grouped, 15, 0.1, "one feed incident carrying service_unhealthy")
        assert inc["type"] == "feed_stale" and inc["severity"] == "SEV2" and inc["silenced"]  # a drill: not paged
        acked = suite.post(f"/incidents/{inc['incident_id']}/ack", json={"actor": "alice"}, admin=True).json()
        assert acked["status"] == "acknowledged"
        assert [i["incident_id"] for i in unresolved(suite)] == [inc["incident_id"]]  # acked is still unresolved
        assert suite.get("/incidents?status=open").json()["count"] == 0
    finally:
        suite.http.delete(suite.url + "/admin/drills/feed_stall", headers=suite.admin, timeout=5)
    settled(suite)
    assert suite.get(f"/incidents/{inc['incident_id']}").json()["resolution"] == "auto"


def test_all_venues_down_is_one_sev1_that_renotifies_until_acked(suite, hooks):
    for venue in VENUES:
        body = {"fault": "venue_down", "venue": venue, "silence": False}
        assert suite.post("/admin/drills", json=body, admin=True).status_code == 201
    try:
        inc = wait_for(lambda: [i for i in unresolved(suite) if i["severity"] == "SEV1"], 15, 0.1, "a SEV1")[0]
        routing = [i for i in unresolved(suite) if i["type"] == "routing_degraded" or "route_down" in
                   {s["type"] for s in i["signals"]}]
        # one incident, not one per venue (compared by id: its notifications may be recorded between the reads)
        assert inc["type"] == "routing_degraded" and [i["incident_id"] for i in routing] == [inc["incident_id"]]
        assert len([s for s in inc["signals"] if s["type"] == "route_down"]) == len(VENUES)
        sent = wait_for(lambda: len(hooks.about(inc["incident_id"])) >= 2 and hooks.about(inc["incident_id"]),
                        RENOTIFY_S + 10, 0.1, "a re-notification")
        first, second = sent[:2]
        assert (first["event"], second["event"]) == ("trigger", "renotify")
        assert second["escalation"]["level"] == 1 and second["severity"] == "SEV1" and second["status"] == "open"
        assert first["dedup_key"] == "routing_degraded:venues" and first["runbook_url"].endswith("#routing-degraded")
        suite.post(f"/incidents/{inc['incident_id']}/ack", json={"actor": "bob"}, admin=True)
        count = len(hooks.about(inc["incident_id"]))
        time.sleep(RENOTIFY_S * 2.5)  # long enough for two more re-notifies, had the ack not stopped them
        assert len(hooks.about(inc["incident_id"])) <= count + 1  # at most one already in flight at the ack
    finally:
        suite.http.delete(suite.url + "/admin/drills/venue_down", headers=suite.admin, timeout=5)
    settled(suite)


def test_a_silence_stops_notification_but_not_recording(suite, hooks):
    created = suite.post("/admin/silences", admin=True, json={
        "matchers": {"type": "market_crossed"}, "duration_s": 120, "created_by": "carol", "comment": "vendor test"})
    assert created.status_code == 201
    suite.post("/admin/drills", json={"fault": "crossed_market", "targets": ["AAPL"], "silence": False}, admin=True)
    try:
        inc = wait_for(lambda: [i for i in unresolved(suite) if i["type"] == "market_crossed"], 15, 0.1,
                       "market_crossed")[0]
        assert inc["silenced_by"] == created.json()["silence_id"]
        wait_for(lambda: suite.get(f"/incidents/{inc['incident_id']}").json()["notifications"], 5, 0.1, "a record")
        notes = suite.get(f"/incidents/{inc['incident_id']}").json()["notifications"]
        assert [n["outcome"] for n in notes] == ["silenced"] and hooks.about(inc["incident_id"]) == []
    finally:
        suite.http.delete(suite.url + "/admin/drills/crossed_market", headers=suite.admin, timeout=5)
    suite.http.delete(suite.url + f"/admin/silences/{created.json()['silence_id']}", headers=suite.admin, timeout=5)
    settled(suite)


def test_drill_command_reports_its_times_and_a_missed_detection_fails(suite):
    env = {**os.environ, "OPTSIM_ADMIN_TOKEN": suite.token}
    cmd = [sys.executable, str(ROOT / "run_simulator.py"), "drill", "--url", suite.url]
    ran = subprocess.run([*cmd, "venue_down", "--json"], capture_output=True, text=True, timeout=120, env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    record = json.loads(ran.stdout[ran.stdout.index("{"):])
    assert record["status"] == "passed"
    assert all(isinstance(record[k], float) for k in ("ttd_s", "tta_s", "ttm_s", "ttr_s"))

    quiet = subprocess.run([*cmd, "quiet"], capture_output=True, text=True, timeout=120, env=env)
    assert quiet.returncode == 1 and "FAILED: no expected incident (market_crossed)" in quiet.stdout
    history = {d["drill"]: d for d in suite.get("/drills/history").json()["drills"]}
    assert history["venue_down"]["passed"] == 1 and history["venue_down"]["medians"]["ttd_s"] == record["ttd_s"]
    assert history["quiet"]["failed"] == 1 and history["quiet"]["runs"][0]["status"] == "failed"
