"""The supervisor: restarts with backoff, waits for readiness, stops everything; the admin token file."""
from __future__ import annotations

import argparse
import stat
import sys
from pathlib import Path

import pytest

import run_simulator
from run_simulator import Child, Supervisor, main, suite


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def crash_child(tmp_path, name="feed"):
    return Child(name, [sys.executable, "-c", "import sys; sys.exit(3)"], tmp_path / f"{name}.log")


def test_a_crashed_child_is_restarted_with_doubling_backoff(tmp_path):
    # Arrange
    clock, child = FakeClock(), crash_child(tmp_path)
    sup = Supervisor([child], {}, clock=clock)
    sup.start(child)
    child.proc.wait()
    # Act / Assert: first restart after 1 s, the next after 2 s
    sup.step()
    assert child.proc is None and child.restart_at == 1.0
    clock.now = 1.0
    sup.step()
    assert child.restarts == 1
    child.proc.wait()
    sup.step()
    assert child.restart_at == 1.0 + 2.0
    sup.terminate(143)


def test_backoff_resets_after_a_long_stable_run(tmp_path):
    clock, child = FakeClock(), crash_child(tmp_path)
    sup = Supervisor([child], {}, clock=clock)
    child.backoff_s = 16.0
    sup.start(child)
    child.proc.wait()
    clock.now = run_simulator.STABLE_AFTER_S + 1
    sup.step()
    assert child.restart_at == clock.now + 1.0
    sup.terminate(143)


def test_terminate_stops_children_that_ignore_sigterm(tmp_path, monkeypatch):
    # Arrange: a child that ignores SIGTERM must still be gone after the grace period
    monkeypatch.setattr(run_simulator, "KILL_WAIT_S", 0.5)
    stubborn = Child("stubborn", [sys.executable, "-c",
                                  "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                  "print('up', flush=True); time.sleep(60)"], tmp_path / "s.log")
    sup = Supervisor([stubborn], {})
    stubborn.ready = lambda: bool((tmp_path / "s.log").read_text())  # its SIGTERM handler is installed
    sup.start(stubborn)
    sup.wait_ready(stubborn, 10)
    proc = stubborn.proc
    # Act
    sup.terminate(130)
    # Assert
    assert proc.poll() is not None
    assert sup.exit_code == 130


def test_admin_token_is_generated_once_and_private(tmp_path):
    first = run_simulator.admin_token(tmp_path, "")
    again = run_simulator.admin_token(tmp_path, "")
    assert first == again and len(first) >= 24
    assert stat.S_IMODE((tmp_path / "admin_token").stat().st_mode) == 0o600
    assert run_simulator.admin_token(tmp_path, "configured") == "configured"


def test_record_is_passed_to_the_feed_and_needs_all(tmp_path, capsys):
    args = argparse.Namespace(config=None, as_of="2025-01-02", host=None, port=None, record="rec")
    feed, service, monitor = suite(args, tmp_path, "http://127.0.0.1:1")
    assert f"--record={Path('rec').resolve()}" in feed.argv
    assert not any(a.startswith("--record") for a in service.argv + monitor.argv)
    with pytest.raises(SystemExit) as stop:
        main(["--record", str(tmp_path / "rec"), "--data-dir", str(tmp_path)])
    assert stop.value.code == 2 and "--record needs --all" in capsys.readouterr().err
