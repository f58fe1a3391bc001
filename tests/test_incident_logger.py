"""incidents.jsonl: the fold, dedupe, several writer processes, torn/corrupt lines, rotation, the CLI."""
from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from incident_logger import (IncidentAlreadyResolved, IncidentLog, IncidentNotFound, main, parse_time,
                             rfc3339, tail)

ROOT = Path(__file__).resolve().parents[1]


class FakeClock:
    def __init__(self, now: float = 1_767_362_400.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def log_path(tmp_path):
    return tmp_path / "incidents.jsonl"


@pytest.fixture
def ilog(log_path, clock):
    return IncidentLog(log_path, source="monitor", update_every_s=30, clock=clock)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def stale(ilog, age=12.4, band=0, severity="SEV2"):
    return ilog.trigger("feed_stale:nbbo", "feed_stale", severity, f"NBBO heartbeat {age}s old (>5s)",
                        {"age_s": age, "threshold_s": 5, "band": band})


# ------------------------------------------------------------------ lifecycle and fold
def test_trigger_update_ack_resolve_folds_into_one_incident(ilog, log_path, clock):
    # Arrange / Act
    opened = stale(ilog).incident
    clock.now += 1
    stale(ilog, age=25.0, band=2)
    clock.now += 1
    ilog.acknowledge(opened.incident_id, actor="alice", note="feed host rebooting")
    clock.now += 1
    done = ilog.resolve(opened.incident_id, actor="alice", note="feed back")

    # Assert: four lines, one incident, every field of the fold
    assert [r["action"] for r in records(log_path)] == ["trigger", "update", "acknowledge", "resolve"]
    assert [r["status"] for r in records(log_path)] == ["open", "open", "acknowledged", "resolved"]
    assert done.incident_id == opened.incident_id and opened.incident_id.startswith("INC-20260102-")
    assert done.status == "resolved" and done.resolution == "manual" and done.resolved_by == "alice"
    assert done.acknowledged_by == "alice" and done.count == 2 and done.note == "feed back"
    assert done.details["age_s"] == 25.0
    fresh = IncidentLog(log_path).get(opened.incident_id)  # another reader folds the same state
    assert fresh.to_dict(with_events=True) == done.to_dict(with_events=True)


def test_record_shape_matches_the_contract(ilog, log_path):
    stale(ilog)
    rec = records(log_path)[0]
    assert {"schema", "event_id", "incident_id", "dedup_key", "action", "status", "type", "severity", "summary",
            "details", "source", "actor", "ts", "runbook"} <= rec.keys()
    assert rec["ts"] == "2026-01-02T14:00:00.000Z" and rec["runbook"] == "runbook.md#feed-stale"
    assert rec["source"] == "monitor" and rec["severity"] == "SEV2"


def test_trigger_after_resolve_opens_a_new_incident(ilog):
    first = stale(ilog).incident
    ilog.resolve(first.incident_id, actor="monitor", resolution="auto")
    second = stale(ilog)
    assert second.action == "trigger" and second.incident.incident_id != first.incident_id
    assert ilog.find_open("feed_stale:nbbo").incident_id == second.incident.incident_id


def test_repeat_detection_writes_nothing_until_material_or_due(ilog, log_path, clock):
    stale(ilog)
    for _ in range(5):  # same band, within update_every_s: counted, not written
        clock.now += 2
        assert stale(ilog, age=13).action is None
    assert len(records(log_path)) == 1
    clock.now += 30  # due: one update carrying every repeat seen
    change = stale(ilog, age=14)
    assert change.action == "update" and change.incident.count == 7
    assert stale(ilog, severity="SEV1").action == "update"  # a severity change is always written
    assert len(records(log_path)) == 3


def test_acknowledged_incident_stays_acknowledged_on_repeats(ilog):
    inc = stale(ilog).incident
    ilog.acknowledge(inc.incident_id, actor="bob")
    change = stale(ilog, band=3)
    assert change.action == "update" and change.incident.status == "acknowledged"
    assert ilog.acknowledge(inc.incident_id, actor="carol").acknowledged_by == "bob"  # idempotent


def test_ack_or_resolve_unknown_or_resolved_is_refused(ilog):
    with pytest.raises(IncidentNotFound):
        ilog.acknowledge("INC-20260102-9999", actor="x")
    inc = stale(ilog).incident
    ilog.resolve(inc.incident_id, actor="x")
    with pytest.raises(IncidentAlreadyResolved):
        ilog.resolve(inc.incident_id, actor="x")
    with pytest.raises(IncidentAlreadyResolved):
        ilog.acknowledge(inc.incident_id, actor="x")


@pytest.mark.parametrize("severity,type_", [("critical", "feed_stale"), ("SEV2", "Feed Stale")])
def test_bad_severity_or_type_is_refused(ilog, severity, type_):
    with pytest.raises(ValueError):
        ilog.trigger("k", type_, severity, "s")


def test_restarted_writer_does_not_trigger_twice(ilog, log_path, clock):
    first = stale(ilog).incident
    restarted = IncidentLog(log_path, source="monitor", clock=clock)
    change = stale(restarted, band=1)
    assert change.action == "update" and change.incident.incident_id == first.incident_id


# ------------------------------------------------------------------ queries
def test_queries_filter_by_status_type_window_and_count(ilog, clock):
    route = ilog.trigger("route_down:MIAX", "route_down", "SEV3", "MIAX down").incident
    clock.now += 100
    stale(ilog)
    clock.now += 100
    ilog.resolve(route.incident_id, actor="monitor", resolution="auto")

    assert [i.type for i in ilog.incidents()] == ["feed_stale", "route_down"]  # newest first
    assert [i.type for i in ilog.open_incidents()] == ["feed_stale"]
    assert [i.type for i in ilog.incidents(status="resolved")] == ["route_down"]
    assert [i.type for i in ilog.incidents(type="feed_stale")] == ["feed_stale"]
    assert [i.type for i in ilog.incidents(since=clock.now - 50)] == ["route_down"]  # updated in window
    assert [i.type for i in ilog.incidents(until=clock.now - 150)] == ["route_down"]  # opened before
    assert len(ilog.incidents(limit=1)) == 1
    assert ilog.counts() == {"by_type": {"route_down": 1, "feed_stale": 1},
                             "by_severity": {"SEV3": 1, "SEV2": 1},
                             "by_status": {"resolved": 1, "open": 1}}


def test_parse_time_takes_rfc3339_or_epoch():
    assert parse_time("2026-01-02T14:00:00Z") == 1_767_362_400.0
    assert parse_time("2026-01-02T09:00:00-05:00") == 1_767_362_400.0
    assert parse_time("1767362400") == parse_time(1_767_362_400) == 1_767_362_400.0
    assert rfc3339(1_767_362_400.4121) == "2026-01-02T14:00:00.412Z"
    for bad in ("yesterday", "2026-01-02T14:00:00", "", True):
        with pytest.raises(ValueError):
            parse_time(bad)


# ------------------------------------------------------------------ damaged files
def test_corrupt_line_in_the_middle_is_skipped_with_its_line_number(ilog, log_path, caplog):
    stale(ilog)
    with open(log_path, "ab") as fh:
        fh.write(b'{"incident_id": "INC-x", "act\n[1, 2]\n')
    ilog.trigger("route_down:BOX", "route_down", "SEV3", "BOX down")

    reader = IncidentLog(log_path)
    assert [(p.file, p.lineno) for p in reader.problems] == [("incidents.jsonl", 2), ("incidents.jsonl", 3)]
    assert "not valid JSON" in reader.problems[0].reason and "not a JSON object" in reader.problems[1].reason
    assert {i.type for i in reader.incidents()} == {"feed_stale", "route_down"}
    assert "incidents.jsonl line 2" in caplog.text


def test_torn_last_line_is_reported_and_the_next_write_stays_intact(ilog, log_path):
    stale(ilog)
    with open(log_path, "ab") as fh:
        fh.write(b'{"schema":1,"event_id":"0d6')  # power cut mid-line
    reader = IncidentLog(log_path)
    assert [(p.lineno, p.reason.split(" (")[0]) for p in reader.problems] == [(2, "torn line")]

    ilog.trigger("route_down:BOX", "route_down", "SEV3", "BOX down")  # lands on its own line

    assert {i.type for i in reader.incidents()} == {"feed_stale", "route_down"}
    assert [p.lineno for p in reader.problems] == [2]
    assert json.loads(log_path.read_text().splitlines()[2])["type"] == "route_down"


WRITER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from incident_logger import IncidentLog
    log = IncidentLog({path!r}, source=sys.argv[1])
    for i in range(int(sys.argv[2])):
        log.trigger(f"{{sys.argv[1]}}:{{i}}", "route_down", "SEV3", f"writer {{sys.argv[1]}} #{{i}}", {{"i": i}})
""")


def spawn_writer(log_path: Path, name: str, n: int) -> subprocess.Popen:
    script = WRITER.format(root=str(ROOT), path=str(log_path))
    return subprocess.Popen([sys.executable, "-c", script, name, str(n)])


def test_two_writer_processes_lose_and_tear_nothing(log_path):
    writers = [spawn_writer(log_path, name, 4_000) for name in ("a", "b")]
    for proc in writers:
        assert proc.wait(timeout=120) == 0

    lines = log_path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 8_001
    recs = [json.loads(line) for line in lines[:-1]]
    assert len({r["incident_id"] for r in recs}) == 8_000  # ids unique across writers
    for name in ("a", "b"):
        assert sorted(r["details"]["i"] for r in recs if r["source"] == name) == list(range(4_000))
    reader = IncidentLog(log_path)
    assert reader.problems == [] and len(reader.open_incidents()) == 8_000


def test_writer_killed_mid_stream_leaves_a_readable_log(log_path):
    proc = spawn_writer(log_path, "k", 1_000_000)
    deadline = time.monotonic() + 20
    while (not log_path.exists() or log_path.stat().st_size < 50_000) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)

    reader = IncidentLog(log_path)
    total = len(log_path.read_bytes().split(b"\n")) - 1
    assert total > 100
    assert all(p.lineno == total + 1 for p in reader.problems) and len(reader.problems) <= 1
    assert len(reader.incidents()) == total
    IncidentLog(log_path, source="after").trigger("after:1", "route_down", "SEV3", "next writer")
    assert IncidentLog(log_path).find_open("after:1") is not None


# ------------------------------------------------------------------ rotation
def test_rotation_keeps_every_record_readable(log_path, clock):
    ilog = IncidentLog(log_path, rotate_bytes=4096, keep_rotated=50, clock=clock)
    opened = [ilog.trigger(f"route_down:V{i}", "route_down", "SEV3", "venue down " + "x" * 200).incident
              for i in range(40)]
    ilog.resolve(opened[0].incident_id, actor="ops")  # its trigger lives in the oldest file

    assert len(ilog.files()) > 2 and all(p.stat().st_size <= 4096 for p in ilog.files())
    reader = IncidentLog(log_path, keep_rotated=50)
    assert len(reader.incidents()) == 40 and len(reader.open_incidents()) == 39
    assert reader.get(opened[0].incident_id).status == "resolved"
    assert len({i.incident_id for i in reader.incidents()}) == 40


def test_rotation_drops_files_beyond_keep_rotated(log_path):
    ilog = IncidentLog(log_path, rotate_bytes=4096, keep_rotated=2)
    for i in range(60):
        ilog.trigger(f"route_down:V{i}", "route_down", "SEV3", "venue down " + "x" * 200)
    names = sorted(p.name for p in log_path.parent.glob("incidents.jsonl*") if not p.name.endswith(".lock"))
    assert names == ["incidents.jsonl", "incidents.jsonl.1", "incidents.jsonl.2"]
    assert IncidentLog(log_path, keep_rotated=2).problems == []


def test_reading_a_missing_log_is_empty(tmp_path):
    ilog = IncidentLog(tmp_path / "nowhere" / "incidents.jsonl")
    assert ilog.incidents() == [] and ilog.counts()["by_type"] == {} and ilog.problems == []


# ------------------------------------------------------------------ CLI
def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "incident_logger.py"), "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=30, cwd=ROOT)


def test_cli_list_show_ack_resolve(tmp_path):
    ilog = IncidentLog(tmp_path / "incidents.jsonl", source="monitor")
    iid = ilog.trigger("route_down:MIAX", "route_down", "SEV3", "MIAX route down").incident.incident_id

    listed = cli(tmp_path, "list")
    assert listed.returncode == 0 and "ID" in listed.stdout and iid in listed.stdout and "MIAX route down" in listed.stdout
    assert json.loads(cli(tmp_path, "--json", "list").stdout)[0]["incident_id"] == iid
    assert cli(tmp_path, "show", iid).stdout.count("trigger") == 1

    acked = cli(tmp_path, "ack", iid, "--actor", "alice", "--note", "calling MIAX")
    assert acked.returncode == 0 and "acknowledged" in acked.stdout
    resolved = cli(tmp_path, "--json", "resolve", iid, "--actor", "alice", "--note", "MIAX back")
    assert json.loads(resolved.stdout)["status"] == "resolved"

    assert iid not in cli(tmp_path, "list").stdout  # default view: unresolved only
    assert iid in cli(tmp_path, "list", "--all").stdout
    shown = json.loads(cli(tmp_path, "--json", "show", iid).stdout)
    assert [e["action"] for e in shown["events"]] == ["trigger", "acknowledge", "resolve"]
    assert shown["resolved_by"] == "alice" and shown["note"] == "MIAX back"
    assert "acknowledge" in cli(tmp_path, "tail", "-n", "5").stdout


def test_cli_refuses_unknown_or_resolved_with_exit_1(tmp_path, capsys):
    ilog = IncidentLog(tmp_path / "incidents.jsonl")
    iid = ilog.trigger("k", "route_down", "SEV3", "s").incident.incident_id
    ilog.resolve(iid, actor="x")
    assert main(["--data-dir", str(tmp_path), "resolve", iid]) == 1
    assert main(["--data-dir", str(tmp_path), "show", "INC-nope"]) == 1
    assert main(["--data-dir", str(tmp_path), "list", "--since", "last tuesday"]) == 2
    assert "already resolved" in capsys.readouterr().err


def test_tail_follow_is_gapless_while_writers_append(tmp_path):
    """Records written while tail reads the history and starts following are printed exactly once."""
    writer = IncidentLog(tmp_path / "incidents.jsonl", source="monitor", rotate_bytes=64 * 1024, keep_rotated=3)
    for i in range(50):
        writer.trigger(f"k:{i}", "route_down", "SEV3", f"before #{i}")
    seen, stop = [], threading.Event()

    def write_more():
        for i in range(300):
            writer.trigger(f"k:{i + 50}", "route_down", "SEV3", f"during #{i}")

    during = threading.Thread(target=write_more)
    during.start()
    follower = threading.Thread(target=tail, args=(IncidentLog(writer.path), 10_000, True, seen.append),
                                kwargs={"poll_s": 0.01, "stop": stop})
    follower.start()
    during.join(timeout=60)
    try:
        deadline = time.monotonic() + 30
        while len(seen) < 350 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        follower.join(timeout=10)
    assert not follower.is_alive()
    ids = [r["event_id"] for r in seen]
    assert len(ids) == len(set(ids)) == 350  # across rotations too: nothing lost, nothing twice


def test_cli_tail_follow_prints_new_records_as_they_land(tmp_path):
    """The real command, read with a deadline on every line so a regression fails instead of hanging."""
    ilog = IncidentLog(tmp_path / "incidents.jsonl", source="monitor")
    ilog.trigger("route_down:MIAX", "route_down", "SEV3", "MIAX route down")
    proc = subprocess.Popen([sys.executable, str(ROOT / "incident_logger.py"), "--data-dir", str(tmp_path), "tail",
                             "-f", "-n", "1"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    try:
        assert "MIAX route down" in lines.get(timeout=20)
        ilog.trigger("feed_stale:nbbo", "feed_stale", "SEV2", "heartbeat 12s old")
        assert "heartbeat 12s old" in lines.get(timeout=20)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


# ------------------------------------------------------------------ poisoned records (issue 12 item 8)
POISON_TS = st.one_of(st.sampled_from([1e300, -1e18, float("nan"), float("inf"), "NaN", "9999999999999",
                                       "10000-01-01T00:00:00Z", True, None, [], {}]),
                      st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.text(max_size=30))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ts=POISON_TS, field=st.sampled_from(["ts", "last_seen", "count", "details", "signals", "severity"]))
def test_a_poisoned_record_is_skipped_and_counted_never_a_crash(tmp_path_factory, ts, field):
    data_dir = tmp_path_factory.mktemp("poison")
    good = IncidentLog(data_dir / "incidents.jsonl", source="monitor")
    iid = good.trigger("feed_stale:nbbo", "feed_stale", "SEV2", "good").incident.incident_id
    rec = {**records(good.path)[0], "incident_id": "INC-20250102-0099", "dedup_key": "poison", field: ts}
    with open(good.path, "a") as fh:  # Python's json writes NaN/Infinity as bare words, as a bad writer would
        fh.write(json.dumps(rec) + "\n")
    reader = IncidentLog(good.path)
    listed = [inc.to_dict(with_events=True) for inc in reader.incidents()]
    json.dumps(listed, allow_nan=False)  # what the API and CLI print is valid JSON
    assert iid in [d["incident_id"] for d in listed]
    assert reader.skipped in (0, 1) and len(listed) == 2 - reader.skipped
    assert main(["--data-dir", str(data_dir), "list", "--all"]) == 0


def test_the_cli_says_how_many_records_it_skipped(tmp_path, capsys):
    IncidentLog(tmp_path / "incidents.jsonl").trigger("k", "feed_stale", "SEV2", "good")
    with open(tmp_path / "incidents.jsonl", "a") as fh:
        fh.write(json.dumps({**records(tmp_path / "incidents.jsonl")[0], "ts": 1e300}) + "\n")
    assert main(["--data-dir", str(tmp_path), "list"]) == 0
    out = capsys.readouterr()
    assert "good" in out.out and "1 unreadable record(s) skipped" in out.err


# ------------------------------------------------------------------ queries, signals, notifications
def test_state_unresolved_keeps_acknowledged_incidents(ilog):
    a = ilog.trigger("a", "feed_stale", "SEV2", "a").incident.incident_id
    b = ilog.trigger("b", "routing_degraded", "SEV1", "b").incident.incident_id
    c = ilog.trigger("c", "market_crossed", "SEV3", "c").incident.incident_id
    ilog.acknowledge(a, actor="alice")
    ilog.resolve(c, actor="bob")
    assert [i.incident_id for i in ilog.incidents(state="unresolved")] == [b, a]
    assert [i.incident_id for i in ilog.incidents(state="open")] == [b]
    assert [i.incident_id for i in ilog.incidents(severity={"SEV1", "SEV3"})] == [c, b]
    assert [i.incident_id for i in ilog.incidents(types={"feed_stale"}, state="unresolved")] == [a]


def test_cli_list_filters_by_state_severity_type_and_window(tmp_path, capsys):
    ilog = IncidentLog(tmp_path / "incidents.jsonl")
    a = ilog.trigger("a", "feed_stale", "SEV2", "stale feed").incident.incident_id
    b = ilog.trigger("b", "routing_degraded", "SEV1", "all venues").incident.incident_id
    ilog.acknowledge(a, actor="alice")

    def listed(*args):
        assert main(["--data-dir", str(tmp_path), "--json", "list", *args]) == 0
        return [d["incident_id"] for d in json.loads(capsys.readouterr().out)]

    assert listed() == [b, a] and listed("--state", "acknowledged") == [a]
    assert listed("--severity", "SEV1") == [b] and listed("--type", "feed_stale,market_crossed") == [a]
    assert listed("--until", "2000-01-01T00:00:00Z") == []
    with pytest.raises(SystemExit) as bad:  # argparse: usage and exit code 2
        main(["--data-dir", str(tmp_path), "list", "--severity", "SEV9"])
    assert bad.value.code == 2


def test_signals_fold_into_a_timeline(ilog, clock):
    sig = lambda key, t="feed_stale": {"key": key, "type": t, "severity": "SEV2", "summary": key, "labels": {}}
    iid = ilog.trigger("feed:nbbo", "feed_frozen", "SEV2", "frozen", signals=[sig("f", "feed_frozen")]).incident.incident_id
    clock.now += 1
    change = ilog.trigger("feed:nbbo", "feed_stale", "SEV2", "stale", signals=[sig("f", "feed_frozen"), sig("s")])
    assert change.action == "update"  # a new signal is a material change
    clock.now += 1
    ilog.trigger("feed:nbbo", "feed_stale", "SEV2", "stale", signals=[sig("s")])
    inc = ilog.get(iid)
    assert inc.type == "feed_stale"
    signals = {s["key"]: s for s in inc.to_dict()["signals"]}
    assert signals["f"]["active"] is False and signals["f"]["cleared_at"] == rfc3339(clock.now)
    assert signals["s"]["active"] and signals["s"]["first_seen"] == rfc3339(clock.now - 1)


def test_notify_records_keep_state_and_count_escalation(ilog):
    iid = ilog.trigger("k", "routing_degraded", "SEV1", "all down").incident.incident_id
    ilog.notify(iid, {"event": "trigger", "outcome": "sent", "level": 0})
    ilog.notify(iid, {"event": "renotify", "outcome": "failed", "level": 1})
    inc = ilog.get(iid)
    assert inc.status == "open" and inc.escalation_level == 1 and len(inc.notifications) == 2
    assert [e["action"] for e in inc.events] == ["trigger", "notify", "notify"]
