"""The supervisor: restarts with backoff, waits for readiness, stops everything; the admin token file."""
from __future__ import annotations

import argparse
import os
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

import run_simulator
from run_simulator import Child, Supervisor, main, suite
from tests.suite import ROOT, wait_for


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


def test_a_relative_config_is_passed_to_every_child_resolved(tmp_path, monkeypatch):
    """Children run in the repository directory: a path relative to the caller's would crash-loop them."""
    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(config="suite.toml", as_of=None, host=None, port=None, record=None)
    for child in suite(args, tmp_path, "http://127.0.0.1:1"):
        assert f"--config={tmp_path / 'suite.toml'}" in child.argv, child.name


@pytest.mark.parametrize("content", ["[feed\n", '[service]\nport = "many"\nnot_a_key = 1\n'])
def test_a_bad_config_is_one_line_and_exit_2_before_anything_starts(tmp_path, capsys, content):
    (tmp_path / "bad.toml").write_text(content)
    with pytest.raises(SystemExit) as stop:
        main(["--all", "--config", str(tmp_path / "bad.toml"), "--data-dir", str(tmp_path / "data")])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.startswith("bad configuration: ") and err.count("\n") == 1
    assert not (tmp_path / "data").exists()


def test_wait_ready_says_a_child_exited_rather_than_not_ready(tmp_path, caplog):
    child = crash_child(tmp_path, "service")
    child.ready = lambda: False
    sup = Supervisor([child], {})
    sup.start(child)
    sup.wait_ready(child, timeout_s=30)
    assert "service  exited with 3 before it was ready" in caplog.text and "not ready after" not in caplog.text
    sup.terminate(143)


# ---------------------------------------------------------------------------------------------- hardening
def test_a_log_that_cannot_be_opened_does_not_stop_the_supervisor(tmp_path):
    # Arrange: the log's directory is a file, so neither mkdir nor open can succeed (as on a read-only disk)
    (tmp_path / "logs").write_text("not a directory")
    child = Child("feed", [sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "logs" / "feed.log")
    sup = Supervisor([child], {})
    # Act
    sup.start(child)
    # Assert: the child runs, writing to the supervisor's own stderr
    assert child.proc is not None and child.proc.poll() is None and child.log_file is None
    child.proc.kill()
    child.proc.wait()
    sup.step()  # noticing the death and closing a log it never had must not raise either
    assert child.restart_at is not None
    sup.terminate(143)


SUPERVISE = """
import logging, sys
from pathlib import Path
logging.basicConfig(level=logging.INFO)
sys.path.insert(0, {root!r})
import run_simulator
from run_simulator import Child, Supervisor
code = ("import sys, time; sys.path.insert(0, {root!r}); import optsim.ops.lifeline as l; l.POLL_S = 0.1; "
        + ("l._pdeathsig = lambda sig: False; " if {poll} else "")
        + "l.die_with_parent(); print('up', flush=True); time.sleep(120)")
child = Child("kid", [sys.executable, "-c", code], Path({log!r}))
child.ready = lambda: "up" in Path({log!r}).read_text()
Supervisor([child], {{}}).run()
"""


@pytest.mark.parametrize("poll", [False, True], ids=["pdeathsig", "parent-watch"])
@pytest.mark.timeout(60)
def test_children_die_with_a_sigkilled_supervisor(tmp_path, poll):
    # Arrange
    log = tmp_path / "kid.log"
    with subprocess.Popen([sys.executable, "-c", SUPERVISE.format(root=str(ROOT), log=str(log), poll=poll)],
                          stderr=subprocess.PIPE, text=True) as sup:
        try:
            line = ""
            while "started" not in line:
                line = sup.stderr.readline()
                assert line, "the supervisor exited before starting its child"
            kid = int(re.search(r"pid (\d+)", line).group(1))
            wait_for(lambda: log.exists() and "up" in log.read_text(), timeout=20, what="the child to be up")
            # Act
            sup.kill()
            sup.wait()
            # Assert
            wait_for(lambda: not _running(kid), timeout=10, what=f"child {kid} to die with its supervisor")
        finally:
            sup.kill()


STOP_WHILE_STARTING = """
import logging, os, signal, subprocess, sys
from pathlib import Path
logging.basicConfig(level=logging.INFO)
sys.path.insert(0, {root!r})
from run_simulator import Child, Supervisor

def popen(*args, **kwargs):
    proc = subprocess.Popen(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGTERM)  # the stop lands after the fork, before the supervisor holds the child
    return proc

kids = [Child(name, [sys.executable, "-c", "import time; time.sleep(60)"], Path({tmp!r}) / name) for name in "ab"]
sys.exit(Supervisor(kids, {{}}, popen=popen).run())
"""


@pytest.mark.timeout(60)
def test_a_stop_that_lands_while_a_child_is_starting_still_stops_it(tmp_path):
    # Act: SIGTERM the supervisor half-way through starting its first child
    done = subprocess.run([sys.executable, "-c", STOP_WHILE_STARTING.format(root=str(ROOT), tmp=str(tmp_path))],
                          capture_output=True, text=True, timeout=30)
    # Assert: it exits 143 having stopped that child, and starts no other
    started = [int(pid) for pid in re.findall(r"started\s+pid (\d+)", done.stderr)]
    try:
        assert done.returncode == 143 and len(started) == 1, done.stderr
        assert not _running(started[0]), f"child {started[0]} outlived its supervisor:\n{done.stderr}"
    finally:
        for pid in started:
            if _running(pid):
                os.kill(pid, 9)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split()[2] == "Z")  # a zombie is dead


def test_a_busy_port_is_an_error_before_anything_starts(tmp_path):
    # Arrange: another process holds the port
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        # Act
        done = subprocess.run([sys.executable, str(ROOT / "run_simulator.py"), "--all", f"--port={port}",
                               f"--data-dir={tmp_path / 'data'}"], capture_output=True, text=True, timeout=60)
    # Assert
    assert done.returncode == 2
    assert f"cannot serve on 127.0.0.1:{port}" in done.stderr and "started" not in done.stderr
    assert not (tmp_path / "data").exists()
