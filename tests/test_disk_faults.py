"""Full and damaged disks are diagnosed: free space and PRAGMA quick_check in /health, their incidents, and a
monitor that keeps an incident in memory (and says so) while it cannot write its own log."""
from __future__ import annotations

import errno
import sqlite3
import time

from incident_logger import IncidentLog, sane_time
from optsim.config import load_config
from optsim.ops.incident_types import INCIDENT_TYPES
from optsim.ops.monitor.detectors import SEVERITY, SIGNAL_TYPES, Assessment, Finding, PollState, assess
from optsim.ops.monitor.grouping import group
from optsim.ops.monitor.observe import Observation
from optsim.ops.monitor.tracker import IncidentTracker
from options_service import create_app
from tests.conftest import AS_OF, seed_single
from tests.snapshots import write_snapshot


def health(tmp_path, **service):
    cfg = load_config(overrides={"service": {"data_dir": str(tmp_path), "as_of": AS_OF, **service}})
    write_snapshot(cfg)
    app = create_app(cfg)
    try:
        client = app.test_client()
        client.post("/orders", json=seed_single())
        r = client.get("/health")
        return r.status_code, r.get_json()["checks"]
    finally:
        app.extensions["desk"].close()


def test_low_disk_space_fails_health(tmp_path):
    code, checks = health(tmp_path, min_free_disk_mb=1e12)
    assert code == 503 and checks["disk:freeSpace"][0]["status"] == "fail"
    assert checks["disk:freeSpace"][0]["observedUnit"] == "MiB"
    code, checks = health(tmp_path)
    assert checks["disk:freeSpace"][0]["status"] in ("pass", "warn")
    assert checks["orders-db:integrity"][0]["status"] == "pass"


def test_a_corrupt_page_in_orders_db_fails_health(tmp_path, caplog):
    health(tmp_path)  # a store with an order in it
    db = sqlite3.connect(tmp_path / "orders.db")
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'legs_symbol'").fetchone()[0]
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    with open(tmp_path / "orders.db", "r+b") as fh:  # garbage over an index page the start-up path never reads
        fh.seek((root - 1) * page_size + 8)
        fh.write(b"\xa5" * 64)
    code, checks = health(tmp_path)
    assert code == 503
    integrity = checks["orders-db:integrity"][0]
    assert integrity["status"] == "fail" and "quick_check" in integrity["output"]
    [logged] = [r for r in caplog.records if r.levelname == "ERROR" and "integrity check failed" in r.getMessage()]
    assert "corrupt" in logged.getMessage() and "orders.db" in logged.getMessage()  # what the runbook greps for


def test_failing_disk_and_integrity_checks_open_their_incidents():
    obs = Observation(at=0.0, reachable=True, health="fail", health_code=503,
                      failing_checks=("disk:freeSpace", "orders-db:integrity"))
    found = {f.type: f for f in assess(PollState(), obs, load_config()).findings}
    assert {"disk_full", "db_corrupt"} <= set(found) and {"disk_full", "db_corrupt"} <= set(INCIDENT_TYPES)
    assert found["disk_full"].severity == SEVERITY["disk_full"] == "SEV1"
    # each stands alone as its own SEV1 incident; the failing /health they explain is attached, not opened
    incidents, absorbed = group(list(found.values()))
    assert sorted((g.type, g.severity) for g in incidents) == [("db_corrupt", "SEV1"), ("disk_full", "SEV1")]
    assert [f.type for f in absorbed] == ["service_unhealthy"]


def test_monitor_keeps_an_incident_it_cannot_write_and_records_it_later(tmp_path, monkeypatch):
    ilog = IncidentLog(tmp_path / "incidents.jsonl", source="monitor")
    notes = []
    tracker = IncidentTracker(ilog, resolve_after_polls=1, notify_unrecorded=lambda inc: notes.append(("trigger", inc)))
    finding = Finding("disk_full:optsim", "disk_full", "SEV1", "disk almost full", {"check": "disk:freeSpace"})

    def full(record):
        raise OSError(errno.ENOSPC, "No space left on device")

    knock_on = Finding("service_unhealthy:optsim", "service_unhealthy", "SEV2", "/health fail: disk:freeSpace",
                       {"failing_checks": ["disk:freeSpace"]})
    monkeypatch.setattr(ilog, "_write", full)
    detected = time.time()
    # the fault lasts three polls, the first with a knock-on signal; the log refuses every write
    for findings in ([finding, knock_on], [finding], [finding]):
        assert tracker.apply(Assessment(findings, frozenset(SIGNAL_TYPES), PollState())) == []
    polled = time.time()
    assert list(tracker.unwritten) == ["disk_full:optsim"]
    assert len(notes) == 1 and notes[0][0] == "trigger" and "unwritable" in notes[0][1].summary
    monkeypatch.undo()
    time.sleep(0.05)
    # the fault is over by the time the disk has room again: the incident is still recorded, as it was detected
    changes = tracker.apply(Assessment([], frozenset(SIGNAL_TYPES), PollState()))
    assert [(action, inc.type) for action, inc in changes] == [("trigger", "disk_full")]
    assert tracker.unwritten == {}
    recorded = ilog.find_open("disk_full:optsim")
    assert recorded.signal_keys() == {"disk_full:optsim", "service_unhealthy:optsim"}
    assert detected - 0.001 <= sane_time(recorded.details["detected_at"]) <= polled + 0.001 < recorded.opened_at
