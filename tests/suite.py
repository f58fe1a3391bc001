"""The real simulator (``run_simulator.py --all``: feed, service, monitor) for end-to-end tests.

``running_suite(tmp_dir)`` starts it on a free loopback port with short intervals, waits for
``/health``, and on exit SIGTERMs the supervisor and asserts that it and every child stopped.
``suite`` is a module-scoped pytest fixture over it; import it into a test module to use it::

    from tests.suite import suite  # noqa: F401  (the fixture)

    @pytest.mark.slow
    def test_something(suite):
        assert suite.get("/health").status_code == 200
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from incident_logger import LOG_NAME, IncidentLog

ROOT = Path(__file__).resolve().parent.parent
ADMIN_TOKEN = "suite-admin-token"
AS_OF = "2025-01-02"
# Stale after 3 s, not 1: on a loaded 2-core machine the feed's own 0.1 s beat was seen 1-2 s late, so a
# 1 s threshold flapped feed_stale open and shut with the feed running, and the stalled-feed case failed.
CONFIG = """\
[feed]
interval_s = 0.1

[monitor]
interval_s = 0.3
feed_stale_after_s = 3.0
feed_warn_after_s = 1.5
resolve_after_polls = 1
"""
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0  # the supervisor gives children 5 s before SIGKILL
_STARTED = re.compile(r"(\w+)\s+started\s+pid (\d+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_processes(procs, *, group: bool = False, grace: float = 15.0) -> None:
    """SIGTERM every process still running (its whole process group with ``group``), give each ``grace``
    seconds to exit, then SIGKILL what is left. Signals all first, so they shut down side by side."""
    procs = [p for p in procs if p.poll() is None]

    def send(proc: subprocess.Popen, sig: int) -> None:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig) if group else proc.send_signal(sig)

    for proc in procs:
        send(proc, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            send(proc, signal.SIGKILL)
            proc.wait(timeout=10)


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.1, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy (returned); AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Suite:
    """A running suite: its URL, data dir, admin token, and the supervisor process."""

    port: int
    data_dir: Path
    token: str
    proc: subprocess.Popen
    log_path: Path
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(self.url + path, timeout=kwargs.pop("timeout", 5), **kwargs)

    def post(self, path: str, json=None, admin: bool = False, **kwargs) -> requests.Response:
        headers = {**(self.admin if admin else {}), **kwargs.pop("headers", {})}
        return self.http.post(self.url + path, json=json, headers=headers, timeout=kwargs.pop("timeout", 5), **kwargs)

    def incident_log(self, source: str = "test") -> IncidentLog:
        """A writer/reader on the suite's ``incidents.jsonl`` (the same file the monitor appends to)."""
        return IncidentLog(self.data_dir / LOG_NAME, source=source)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def children(self) -> dict[str, int]:
        """Latest pid of each child (feed, service, monitor), from the supervisor's log."""
        return {name: int(pid) for name, pid in _STARTED.findall(self.log())}

    def stop(self) -> None:
        """SIGTERM the supervisor; assert it exits 143 and leaves no child process group behind."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                _kill_groups(self.children().values())
                raise AssertionError(f"run_simulator did not stop within {STOP_TIMEOUT_S}s:\n{self.log()[-3000:]}")
        self.http.close()
        left = [name for name, pid in self.children().items() if _group_alive(pid)]
        _kill_groups(self.children().values())
        assert not left, f"still running after shutdown: {left}\n{self.log()[-3000:]}"
        assert self.proc.returncode == 143, f"run_simulator exited {self.proc.returncode}\n{self.log()[-3000:]}"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_groups(pgids) -> None:
    """Last resort after a failed shutdown: each child leads its own process group."""
    for pgid in pgids:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def start_suite(tmp_dir: Path, *, token: str = ADMIN_TOKEN, extra_config: str = "", base_config: str = CONFIG) -> Suite:
    """Start ``run_simulator.py --all`` under ``tmp_dir`` and wait until /health answers 200."""
    tmp_dir = Path(tmp_dir)
    data_dir, config = tmp_dir / "data", tmp_dir / "suite.toml"
    config.write_text(base_config + extra_config)
    log_path = tmp_dir / "run_simulator.log"
    port = free_port()
    env = {**os.environ, "OPTSIM_ADMIN_TOKEN": token, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "run_simulator.py"), "--all", f"--port={port}", f"--data-dir={data_dir}",
             f"--as-of={AS_OF}", f"--config={config}"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    suite = Suite(port, data_dir, token, proc, log_path)

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"run_simulator exited {proc.returncode} at start-up:\n{suite.log()[-3000:]}")
        try:
            return suite.get("/health", timeout=1).status_code == 200 and len(suite.children()) == 3
        except requests.RequestException:
            return False

    try:
        wait_for(healthy, START_TIMEOUT_S, 0.2, "the suite's /health to answer 200")
    except BaseException:
        with suppress(AssertionError):  # the start-up failure is the error worth reporting
            suite.stop()
        raise
    return suite


@contextmanager
def running_suite(tmp_dir: Path, **kwargs) -> Iterator[Suite]:
    suite = start_suite(tmp_dir, **kwargs)
    try:
        yield suite
    finally:
        suite.stop()


@pytest.fixture(scope="module")
def suite(tmp_path_factory) -> Iterator[Suite]:
    """The real suite, shared by one test module, stopped (and checked stopped) after it."""
    with running_suite(tmp_path_factory.mktemp("suite")) as running:
        yield running
