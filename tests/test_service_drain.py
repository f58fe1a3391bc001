"""SIGTERM drains the service: the requests in flight are answered, new clients are refused at once, and the
process exits 143 within the drain's deadline. (A supervisor killed outright sends its children SIGTERM.)"""
from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest
import requests

from tests.conftest import AS_OF, seed_single
from tests.snapshots import write_snapshot
from tests.suite import ROOT, free_port, wait_for
from optsim.config import load_config

TOKEN = "drain-test-admin-token"


@pytest.mark.timeout(60)
def test_sigterm_answers_the_order_in_flight_refuses_new_clients_and_exits(tmp_path):
    port, data = free_port(), tmp_path / "data"
    data.mkdir()
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(f'[service]\nadmin_token = "{TOKEN}"\n[risk]\nquote_max_age_s = 86400\n')
    write_snapshot(load_config(cfg, {"service": {"data_dir": str(data), "as_of": AS_OF}}))
    log = tmp_path / "service.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "options_service.py"), f"--port={port}",
                                 f"--data-dir={data}", f"--config={cfg}", f"--as-of={AS_OF}"],
                                stdout=subprocess.DEVNULL, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        def up():
            try:
                return requests.get(url + "/livez", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(up, timeout=30, what="the service to answer /livez")
        admin = {"Authorization": f"Bearer {TOKEN}"}
        assert requests.post(url + "/admin/drills", json={"fault": "latency_spike", "ms": 1500, "silence": False},
                             headers=admin, timeout=5).status_code == 201
        answer: dict = {}

        def order():
            r = requests.post(url + "/orders", json=seed_single(client_order_id="in-flight"), timeout=10)
            answer.update(status=r.status_code, body=r.json())

        client = threading.Thread(target=order)
        client.start()
        time.sleep(0.5)  # the order is in its 1.5 s of injected latency
        proc.send_signal(signal.SIGTERM)
        wait_for(lambda: _refused(port), timeout=2, interval=0.02, what="new connections to be refused")
        client.join(timeout=10)
        assert answer["status"] == 201 and answer["body"]["client_order_id"] == "in-flight"
        assert proc.wait(timeout=5) == 143
        assert "answering the requests in flight" in log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


def _refused(port: int) -> bool:
    try:
        requests.get(f"http://127.0.0.1:{port}/livez", timeout=0.5)
    except requests.ConnectionError:
        return True
    return False
