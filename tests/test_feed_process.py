"""mock_quote_feed.py as a real process: files appear, seq advances, drills bite, SIGTERM exits 0."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from optsim.market.feedctl import clear_faults, write_faults

REPO = Path(__file__).resolve().parents[1]
CONFIG = """
[underlyings.AAPL]
spot = 225.0
[chain]
weeklies = 1
monthlies = 1
strikes_per_side = 3
"""


def read(path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def wait_for(predicate, timeout=30.0):  # a cold feed process on a busy 2-core machine
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out")


@pytest.fixture
def feed(tmp_path):
    (tmp_path / "feed.toml").write_text(CONFIG)
    data = tmp_path / "data"

    def start(*flags):
        proc = subprocess.Popen(
            [sys.executable, str(REPO / "mock_quote_feed.py"), "--data-dir", str(data), "--config",
             str(tmp_path / "feed.toml"), "--as-of", "2025-01-02", "--interval", "0.05", "--seed", "3", *flags],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        return proc, data

    procs = []
    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_runs_advances_and_stops_cleanly_on_sigterm(feed):
    proc, data = feed()
    first = wait_for(lambda: read(data / "feed_heartbeat.json"))
    assert first["status"] == "running" and first["pid"] == proc.pid and first["contracts"] == 2 * 7 * 2
    wait_for(lambda: (read(data / "quotes.json") or {}).get("seq", 0) >= first["seq"] + 3)
    proc.send_signal(signal.SIGTERM)
    _, log = proc.communicate(timeout=15)
    assert proc.returncode == 0
    last = read(data / "feed_heartbeat.json")
    assert last["status"] == "stopping" and last["seq"] == read(data / "quotes.json")["seq"]
    assert "fault" not in log and "stopped after" in log


def test_stall_drill_lets_the_heartbeat_age_then_resumes(feed):
    proc, data = feed()
    wait_for(lambda: read(data / "feed_heartbeat.json"))
    write_faults(data, stall=True)
    # stalled = the heartbeat stops changing for 0.4 s (ten feed intervals), however long the feed takes to see it
    first_seen: dict[int, float] = {}

    def unchanged_for(seconds: float):
        beat = read(data / "feed_heartbeat.json")
        since = first_seen.setdefault(beat["seq"], time.monotonic())
        return beat if time.monotonic() - since >= seconds else None

    stalled = wait_for(lambda: unchanged_for(0.4), timeout=15)
    assert read(data / "feed_heartbeat.json") == stalled
    assert time.time() - stalled["ts"] >= 0.4
    clear_faults(data)
    wait_for(lambda: read(data / "feed_heartbeat.json")["seq"] > stalled["seq"])
    proc.send_signal(signal.SIGINT)
    _, log = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert "fault started: stall=True" in log and "fault stopped: stall" in log


def test_max_ticks_and_fault_flags(feed):
    proc, data = feed("--max-ticks", "5", "--seq-gap", "10", "--venues-dark", "MIAX,BOX")
    proc.communicate(timeout=60)  # start-up and five ticks of the whole chain on a busy machine
    assert proc.returncode == 0
    doc = read(data / "quotes.json")
    assert doc["seq"] == 15 and doc["venues_down"] == ["BOX", "MIAX"]
    assert read(data / "feed_heartbeat.json")["status"] == "stopping"
