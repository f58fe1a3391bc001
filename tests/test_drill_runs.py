"""Scored drill runs through the API, with a stand-in monitor: times recorded, a missed detection fails."""
from __future__ import annotations

import threading

import pytest

from incident_logger import IncidentLog
from optsim.ops.drills import log as drill_log, scenarios as drill_scenarios
from tests.suite import wait_for


def finished(client, run_id, timeout=30):
    return wait_for(lambda: (r := client.get(f"/drills/runs/{run_id}").get_json())["status"] != "running" and r,
                    timeout, 0.05, f"drill run {run_id} to finish")


class StandInMonitor:
    """Opens routing_degraded while the router has a venue marked down, resolves it once none is."""

    def __init__(self, app, config):
        self.desk, self.log = app.extensions["desk"], IncidentLog.from_config(config, source="monitor")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop.wait(0.05):
            down = sorted(self.desk.router.marked_down())
            inc = self.log.find_open("routing_degraded:venues")
            if down and inc is None:
                self.log.trigger("routing_degraded:venues", "routing_degraded", "SEV3", f"{down} down",
                                 {"venues_down": down}, signals=[{"key": f"route_down:{v}", "type": "route_down",
                                                                  "severity": "SEV3", "summary": v,
                                                                  "labels": {"venue": v}} for v in down])
            elif not down and inc is not None:
                self.log.resolve(inc.incident_id, actor="monitor", resolution="auto")

    def close(self):
        self.stop.set()
        self.thread.join(5)


@pytest.fixture
def monitor(app, config):
    stand_in = StandInMonitor(app, config)
    yield stand_in
    stand_in.close()


def test_built_in_scenarios_are_valid_chaos_toolkit_shaped_files(client):
    listed = client.get("/drills").get_json()
    assert {"feed_stall", "all_venues_down", "venue_down"} <= {d["drill"] for d in listed["drills"]}
    assert not [d for d in listed["drills"] if "error" in d]
    for name in drill_scenarios.available():
        scenario = drill_scenarios.load(name)
        assert scenario.probes and scenario.method and scenario.rollbacks and scenario.expected


def test_a_drill_run_reports_detect_ack_mitigate_resolve(client, admin, config, monitor):
    started = client.post("/drills/runs", json={"drill": "venue_down", "hold_s": 0.2}, headers=admin)
    assert started.status_code == 202
    run = finished(client, started.get_json()["run_id"])
    assert run["status"] == "passed", run
    times = [run[k] for k in ("ttd_s", "tta_s", "ttm_s", "ttr_s")]
    assert all(isinstance(t, float) for t in times) and times == sorted(times)
    assert run["incident_type"] == "routing_degraded" and run["acknowledged_by"] == "drill-runner"
    inc = IncidentLog.from_config(config).get(run["incident_id"])
    assert inc.status == "resolved" and inc.acknowledged_by == "drill-runner"
    history = client.get("/drills/history").get_json()
    [entry] = history["drills"]
    assert entry["drill"] == "venue_down" and entry["passed"] == 1 and entry["medians"]["ttd_s"] == run["ttd_s"]
    assert not client.get("/admin/drills", headers=admin).get_json()["injected_at"]  # rolled back


def test_a_drill_whose_incident_never_opens_is_failed_and_rolled_back(client, admin, config):
    started = client.post("/drills/runs", json={"drill": "venue_down", "detect_within_s": 0.5}, headers=admin)
    run = finished(client, started.get_json()["run_id"])
    assert run["status"] == "failed" and "no expected incident (routing_degraded)" in run["reason"]
    assert run["ttd_s"] is None and run["ttm_s"] is not None  # the fault was still cleared
    assert not app_marked_down(client, admin)
    [entry] = client.get("/drills/history").get_json()["drills"]
    assert entry["failed"] == 1 and entry["runs"][0]["status"] == "failed" and entry["medians"]["ttd_s"] is None
    assert [r["event"] for r in drill_log_lines(config)] == ["start", "finish"]


def test_a_drill_is_silenced_by_default(client, admin, config, monitor):
    client.post("/admin/drills", json={"fault": "venue_down", "venue": "NOM"}, headers=admin)
    inc = wait_for(lambda: client.get("/incidents?state=unresolved").get_json()["incidents"], 10, 0.05, "incident")[0]
    assert inc["silenced"] and inc["silenced_by"].startswith("SIL-")
    [silence] = client.get("/admin/silences", headers=admin).get_json()["silences"]
    assert silence["drill"] == "venue_down" and silence["matchers"] == {"type": ["routing_degraded"]}
    client.delete("/admin/drills/venue_down", headers=admin)
    ends = client.get("/admin/silences", headers=admin).get_json()["silences"][0]["ends_at"]
    assert ends > silence["created_at"]  # kept for the grace period, so the auto-resolve is not paged either


def test_one_run_at_a_time_and_bad_requests_name_the_field(client, admin, monitor):
    assert client.post("/drills/runs", json={"drill": "nope"}, headers=admin).get_json()["details"][0]["field"] == "drill"
    assert client.post("/drills/runs", json={"drill": "venue_down", "mode": "x"}, headers=admin).status_code == 422
    assert client.post("/drills/runs", json={"drill": "venue_down", "hold_s": -1}, headers=admin).status_code == 422
    assert client.post("/drills/runs", json={"drill": "venue_down"}).status_code == 401
    first = client.post("/drills/runs", json={"drill": "venue_down", "hold_s": 1}, headers=admin)
    second = client.post("/drills/runs", json={"drill": "venue_down"}, headers=admin)
    assert second.status_code == 409
    finished(client, first.get_json()["run_id"])
    assert client.get("/drills/runs/DRL-nope").status_code == 404
    assert client.get("/drills/history?last=0").status_code == 422


def app_marked_down(client, admin):
    return client.get("/admin/drills", headers=admin).get_json()["service"].get("venue_down")


def drill_log_lines(config):
    import json
    return [json.loads(line) for line in (config.data_dir / drill_log.FILE).read_text().splitlines()]


def test_drill_list_reads_the_scenario_files_without_a_service(tmp_path, capsys):
    """`run_simulator.py drill --list` before the suite is up: the scenarios, not a connection error."""
    from run_simulator import main
    (tmp_path / "custom_check.json").write_text("{}")  # a scenario that cannot run is listed with why
    config = tmp_path / "c.toml"
    config.write_text(f'[service]\nport = 18919\n[drills]\nscenario_dir = "{tmp_path}"\n')
    assert main(["drill", "--list", "--config", str(config), "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for name in drill_scenarios.available():
        assert out.count(f"{name} ") >= 1, name
    assert "custom_check" in out and "cannot run" in out
