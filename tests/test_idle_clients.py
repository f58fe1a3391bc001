"""500 idle sockets do not take the service off the network, and idle clients are closed after the timeout."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest
import requests

from tests.suite import ROOT, free_port, wait_for

IDLE = 500


@pytest.fixture
def service(tmp_path):
    port = free_port()
    (tmp_path / "cfg.toml").write_text("[service]\nchannel_timeout_s = 3.0\n")
    proc = subprocess.Popen([sys.executable, str(ROOT / "options_service.py"), f"--port={port}",
                             f"--data-dir={tmp_path / 'data'}", f"--config={tmp_path / 'cfg.toml'}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return requests.get(url + "/livez", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_for(up, timeout=30, what="the service to answer /livez")
        yield port, url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_service_answers_with_500_idle_sockets_open_and_closes_them(service):
    port, url = service
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(IDLE)]
    try:
        for path in ("/livez", "/health"):
            r = requests.get(url + path, timeout=5, headers={"Connection": "close"})
            assert r.status_code in (200, 503) and r.json()["status"]  # it answers; no feed runs here, so fail
        for sock in idle:
            sock.settimeout(0.05)

        def closed_by_server(sock) -> bool:
            try:
                return sock.recv(1) == b""
            except TimeoutError:
                return False
            except OSError:
                return True

        started = time.monotonic()
        wait_for(lambda: all(closed_by_server(s) for s in idle[:20]), timeout=30, interval=0.5,
                 what="the idle sockets to be closed by the channel timeout")
        assert time.monotonic() - started < 30
    finally:
        for sock in idle:
            sock.close()
