"""Durability: every order the real service acknowledged survives a SIGKILL mid-stream.

Starts ``python options_service.py`` on a free loopback port and a temp data dir, posts orders over real HTTP
from a few threads, SIGKILLs the process while they are in flight, restarts it on the same data dir and reads
every acknowledged (2xx) order back. Bounded: about 1.5 s of load, every wait has a timeout.
"""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from optsim.config import load_config
from tests.snapshots import write_snapshot

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
AS_OF = "2025-01-02"
STRIKES = [190, 195, 200, 205, 210, 212.5, 215, 217.5, 220, 222.5, 225, 230]  # calls worth > $3: no collar reject
# limits out of the way: the test is about durability, not risk (the snapshot is never refreshed, so the
# quote age limit is large too)
CONFIG_TOML = """
[risk]
quote_max_age_s = 86400
max_orders_per_s = 100000
credit_limit = 1e12
position_limit = 10000000
delta_limit = 1e12
vega_limit = 1e12
portfolio_delta_limit = 1e15
portfolio_vega_limit = 1e15
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """The real service as a subprocess on a loopback port."""

    def __init__(self, data_dir: Path, config_path: Path, log_path: Path):
        self.port = free_port()
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "options_service.py", "--port", str(self.port), "--data-dir", str(data_dir),
             "--as-of", AS_OF, "--config", str(config_path)],
            cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(REPO)})

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"service exited with {self.proc.returncode}")
            try:
                status, _ = self.request("GET", "/livez")
                if status == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("service did not answer /livez in time")

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None,
                         headers={"Content-Type": "application/json"} if body is not None else {})
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read() or b"null")
        finally:
            conn.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.log.close()


def order_body(worker: int, n: int) -> dict:
    """A distinct resting order per (worker, n): strike and price rotate so no two are duplicates."""
    return {"strategy_type": "single", "underlying": "AAPL", "expiry": "2025-01-17",
            "strike": STRIKES[n % len(STRIKES)], "option_type": "C", "side": "BUY",
            "qty": 1 + n % 7, "price": round(0.50 + 0.05 * (n % 97), 2), "account": f"DUR{worker}",
            "client_order_id": f"w{worker}-n{n}"}


def pound(service: Service, worker: int, acked: list, stop: threading.Event) -> None:
    """Post orders on one keep-alive connection until stopped or the service dies; keep every 2xx answer."""
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=5)
    n = 0
    try:
        while not stop.is_set():
            body = order_body(worker, n)
            conn.request("POST", "/orders", body=json.dumps(body), headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            payload = resp.read()
            if 200 <= resp.status < 300:
                acked.append((body, json.loads(payload)))
            n += 1
    except (OSError, http.client.HTTPException):
        pass  # the service was killed under us: whatever was not answered was never acknowledged
    finally:
        conn.close()


def test_every_acknowledged_order_survives_sigkill(tmp_path):
    # Arrange
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    config_path = tmp_path / "optsim.toml"
    config_path.write_text(CONFIG_TOML)
    write_snapshot(load_config(config_path, {"service": {"data_dir": str(data_dir), "as_of": AS_OF}}))
    service = Service(data_dir, config_path, tmp_path / "service.log")
    restarted = None
    try:
        service.wait_ready()
        acked: list[tuple[dict, dict]] = []
        stop = threading.Event()
        workers = [threading.Thread(target=pound, args=(service, w, acked, stop), daemon=True) for w in range(4)]

        # Act: load for a while, SIGKILL mid-stream, restart on the same data dir
        for t in workers:
            t.start()
        # at least 200 acknowledged orders (a condition, not a fixed time: a loaded machine acks fewer per second)
        deadline = time.monotonic() + 60
        while len(acked) < 200 and time.monotonic() < deadline and all(t.is_alive() for t in workers):
            stop.wait(0.05)
        service.kill()
        stop.set()
        for t in workers:
            t.join(timeout=10)
        restarted = Service(data_dir, config_path, tmp_path / "service2.log")
        restarted.wait_ready()

        # Assert: every acknowledged order is there with the same fields
        print(f"{len(acked)} orders acknowledged before SIGKILL")
        assert len(acked) >= 20, "too few orders were acknowledged before the kill for the test to mean much"
        assert all(not t.is_alive() for t in workers)
        for body, answer in acked:
            status, stored = restarted.request("GET", f"/orders/{answer['order_id']}")
            assert status == 200, answer["order_id"]
            assert stored == answer | {"updated_at": stored["updated_at"], "queue_ahead": stored["queue_ahead"]}
        # ... the retry of an acknowledged order is still recognised
        body, answer = acked[-1]
        status, replay = restarted.request("POST", "/orders", body)
        assert (status, replay["order_id"]) == (200, answer["order_id"])
        # ... and the service takes new orders after the restart
        status, fresh = restarted.request("POST", "/orders", order_body(9, 0))
        assert status == 201, fresh
        assert fresh["order_id"] > max(a["order_id"] for _, a in acked)
    finally:
        service.kill() if service.proc.poll() is None else None
        if restarted:
            restarted.kill()
