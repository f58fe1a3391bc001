"""A real Prometheus (Debian's ``prometheus``) scraping the real suite on loopback, with deploy/'s rules.

The config is deploy/prometheus/prometheus.yml with only the target and the intervals changed (1 s,
so the test is quick); the rules are the shipped files, unchanged. Skipped without the binary.
"""
from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import yaml

from optsim.ops.incident_types import routing_severity
from tests.conftest import seed_single
from tests.promql import PROMETHEUS_DIR
from tests.suite import free_port, running_suite, stop_processes, wait_for

PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (Debian: apt-get install "
                                                   "--no-install-recommends prometheus)"),
]


class Prometheus:
    def __init__(self, port: int, proc: subprocess.Popen, log: Path):
        self.url, self.proc, self.log = f"http://127.0.0.1:{port}", proc, log

    def api(self, path: str, **params) -> dict | list:
        body = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=5).json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        return self.api("query", query=expr)["result"]

    def alerts(self) -> list[dict]:
        return self.api("alerts")["alerts"]


def config_for(target_port: int) -> dict:
    """The shipped config pointed at ``target_port``, scraping and evaluating every second."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(PROMETHEUS_DIR / path) for path in config["rule_files"]]
    (job,) = config["scrape_configs"]
    job["static_configs"] = [{"targets": [f"127.0.0.1:{target_port}"]}]
    return config


@contextmanager
def running_prometheus(tmp_dir: Path, target_port: int) -> Iterator[Prometheus]:
    tmp_dir.mkdir(parents=True)
    config, log = tmp_dir / "prometheus.yml", tmp_dir / "prometheus.log"
    config.write_text(yaml.safe_dump(config_for(target_port)))
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_dir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    prom = Prometheus(port, proc, log)
    try:
        def ready():
            assert proc.poll() is None, f"prometheus exited {proc.returncode}:\n{log.read_text()[-3000:]}"
            try:
                return requests.get(f"{prom.url}/-/ready", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        wait_for(ready, 30, 0.2, "prometheus to be ready")
        yield prom
    finally:
        stop_processes([proc], group=True)


def test_prometheus_records_an_order_and_pends_the_alert_of_a_drill(tmp_path):
    with running_suite(tmp_path) as suite, running_prometheus(tmp_path / "prom", suite.port) as prom:
        # Arrange: Prometheus has scraped the service
        wait_for(lambda: prom.query('up{job="optsim"} == 1'), 30, 0.5, "a successful scrape of the suite")

        # Act 1: orders until the recorded order rate shows them (a rate needs two scrapes of a count)
        answers = []

        def recorded():
            answers.append(suite.post("/orders", json=seed_single(qty=1 + len(answers) % 9)))
            return prom.query('job:optsim_orders:rate1m{job="optsim"} > 0')

        series = wait_for(recorded, 60, 0.5, "the order rate recording rule to show the orders")

        # Assert 1: the status the service answered is the status Prometheus recorded
        statuses = {"accepted" if r.status_code in (200, 201) else "rejected" for r in answers}
        assert {s["metric"]["status"] for s in series} <= statuses
        assert all(float(s["value"][1]) > 0 for s in series)
        p99 = wait_for(lambda: prom.query('job:optsim_order_latency_seconds:quantile_rate1m{quantile="0.99"} > 0'),
                       10, 0.5, "the p99 latency recording rule")
        assert 0 < float(p99[0]["value"][1]) < 10

        # Act 2: a venue_down drill
        r = suite.post("/admin/drills", json={"fault": "venue_down", "venue": "CBOE"}, admin=True)
        assert r.status_code in (200, 201), r.text

        def routing_degraded_pending():
            return [a for a in prom.alerts() if a["labels"]["alertname"] == "routing_degraded"
                    and a["state"] == "pending"]

        (alert,) = wait_for(routing_degraded_pending, 30, 0.3, "routing_degraded to be pending")

        # Assert 2: the monitor's severity for one venue of several down, the share down as the value,
        # and a runbook link the service itself answers
        venues = len(prom.query('optsim_route_up{job="optsim"}'))
        assert venues > 2 and alert["labels"]["severity"] == routing_severity(1, venues) == "SEV3"
        assert float(alert["value"]) == pytest.approx(1 / venues)
        url = alert["annotations"]["runbook_url"]
        assert url == f"{suite.url}/runbook#routing-degraded"
        page = requests.get(url, timeout=5)
        assert page.status_code == 200 and 'id="routing-degraded"' in page.text
        assert suite.http.delete(suite.url + "/admin/drills", headers=suite.admin, timeout=5).status_code == 200
