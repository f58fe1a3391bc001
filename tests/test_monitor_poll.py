"""The monitor against a fake service on 127.0.0.1 whose /health and /metrics the test controls."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from flask import Flask, Response, request
from werkzeug.serving import make_server

from incident_logger import IncidentLog
from optsim.config import load_config
from optsim.fileio import atomic_write_json
from optsim.ops.monitor.loop import Monitor

ROOT = Path(__file__).resolve().parents[1]
HEALTHY = {"status": "pass", "checks": {}}
VENUES = ("CBOE", "MIAX")


def metrics(down=()) -> str:
    routes = "".join(f'optsim_route_up{{venue="{v}"}} {0 if v in down else 1}\n' for v in VENUES)
    return ("# TYPE optsim_route_up gauge\n" + routes + "# TYPE optsim_locked_crossed_markets gauge\n"
            "optsim_locked_crossed_markets 0\n")


class FakeService:
    """/health, /metrics and a webhook sink, served by werkzeug in a thread; ``stop``/``start`` keep the port."""

    def __init__(self):
        self.health, self.health_code, self.metrics = HEALTHY, 200, metrics()
        self.hooks: list[dict] = []
        app = Flask(__name__)
        app.add_url_rule("/health", "health", lambda: Response(
            self.health if isinstance(self.health, str) else json.dumps(self.health), self.health_code,
            mimetype="application/health+json"))
        app.add_url_rule("/metrics", "metrics", lambda: Response(self.metrics, mimetype="text/plain"))
        app.add_url_rule("/hook", "hook", lambda: self.hooks.append(request.get_json()) or ("", 204), methods=["POST"])
        self.app, self.port, self.server = app, 0, None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self.port = self.server.port
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service():
    fake = FakeService()
    yield fake
    fake.stop()


@pytest.fixture
def config(tmp_path, service):
    return load_config(overrides={"service": {"data_dir": str(tmp_path)},
                                  "monitor": {"interval_s": 0.05, "request_timeout_s": 0.5, "resolve_after_polls": 2,
                                              "webhook_url": f"{service.url}/hook"},
                                  "notify": {"retries": 1, "backoff_s": 0.01, "timeout_s": 0.5}})


class Feed:
    """A heartbeat that advances one snapshot per poll, or is made to look old."""

    def __init__(self, data_dir: Path):
        self.path, self.seq = data_dir / "feed_heartbeat.json", 100

    def beat(self, age_s: float = 0.1):
        self.seq += 1
        atomic_write_json(self.path, {"ts": time.time() - age_s, "seq": self.seq, "trade_seq": 1, "pid": 1,
                                      "contracts": 10, "status": "running"})


@pytest.fixture
def feed(tmp_path):
    return Feed(tmp_path)


def polls(monitor, feed, n, age_s=0.1):
    for _ in range(n):
        feed.beat(age_s)
        monitor.poll_once()


def open_keys(config):
    return sorted(i.dedup_key for i in IncidentLog.from_config(config).open_incidents())


def test_quiet_service_opens_nothing(config, service, feed):
    polls(Monitor(config, service.url), feed, 3)
    assert open_keys(config) == [] and service.hooks == []


def test_service_down_then_up(config, service, feed):
    monitor = Monitor(config, service.url)
    service.stop()
    polls(monitor, feed, 3)
    assert monitor.notifier.wait_idle(10)
    [down] = IncidentLog.from_config(config).open_incidents()
    assert down.type == "service_down" and down.severity == "SEV1" and "connection refused" in down.summary
    # the webhook lives on the dead service: the trigger was retried, then recorded as failed
    [note] = down.notifications
    assert note["event"] == "trigger" and note["outcome"] == "failed" and note["channels"][0]["attempts"] == 2

    service.start()
    polls(monitor, feed, 2)
    assert monitor.notifier.wait_idle(10)
    assert open_keys(config) == []
    assert IncidentLog.from_config(config).get(down.incident_id).resolution == "auto"
    [hook] = service.hooks
    assert hook["event"] == "resolve" and hook["incident_id"] == down.incident_id and hook["status"] == "resolved"
    assert hook["dedup_key"] == "service_down:optsim" and hook["runbook_url"].endswith("/runbook#service-down")


def test_old_heartbeat_opens_feed_stale_until_it_is_fresh(config, service, feed):
    monitor = Monitor(config, service.url)
    polls(monitor, feed, 1, age_s=60)
    [stale] = IncidentLog.from_config(config).open_incidents()
    assert stale.dedup_key == "feed:nbbo" and stale.type == "feed_stale" and stale.details["age_s"] >= 60

    polls(monitor, feed, 2)
    assert open_keys(config) == []


def test_notification_links_point_at_the_service_polled_without_notify_base_url(config, service, feed):
    """run_simulator --port P passes --url: the runbook link must not name the default port 8081."""
    monitor = Monitor(config, service.url)
    service.metrics = metrics(down=("MIAX",))
    polls(monitor, feed, 1)
    assert monitor.notifier.wait_idle(10)
    [hook] = service.hooks
    assert hook["runbook_url"] == f"{service.url}/runbook#routing-degraded"
    assert hook["dashboard_url"] == f"{service.url}/dashboard"


def test_route_down_per_venue_and_back(config, service, feed):
    monitor = Monitor(config, service.url)
    service.metrics = metrics(down=("MIAX",))
    polls(monitor, feed, 3)
    assert open_keys(config) == ["routing_degraded:venues"]
    assert [e["action"] for e in IncidentLog.from_config(config).incidents()[0].events] == ["trigger", "notify"]

    service.metrics = metrics()
    polls(monitor, feed, 1)
    assert open_keys(config) == ["routing_degraded:venues"]  # hysteresis: one healthy poll is not enough
    polls(monitor, feed, 1)
    assert open_keys(config) == []


def test_restarted_monitor_keeps_the_open_incident(config, service, feed):
    service.metrics = metrics(down=("MIAX",))
    polls(Monitor(config, service.url), feed, 2)
    polls(Monitor(config, service.url), feed, 2)
    [inc] = IncidentLog.from_config(config).incidents()
    assert inc.dedup_key == "routing_degraded:venues" and [e["action"] for e in inc.events if e["action"] != "notify"] == ["trigger"]


def test_garbage_health_and_metrics_are_an_incident_not_a_crash(config, service, feed):
    service.health, service.metrics = "<html>oops</html>", "not metrics at all {{{"
    monitor = Monitor(config, service.url)
    polls(monitor, feed, 2)
    assert open_keys(config) == ["service_unhealthy:optsim"]
    service.health, service.health_code = {"status": "fail", "checks": {"orders-db:responseTime": [
        {"status": "fail"}]}}, 503
    polls(monitor, feed, 1)
    inc = IncidentLog.from_config(config).open_incidents()[0]
    assert inc.details["failing_checks"] == ["orders-db:responseTime"]  # new band: written as an update


def test_corrupt_heartbeat_file_does_not_stop_the_monitor(config, service, feed, tmp_path):
    monitor = Monitor(config, service.url)
    (tmp_path / "feed_heartbeat.json").write_text("{torn")
    monitor.poll_once()
    assert open_keys(config) == ["feed:nbbo"]


def test_process_polls_and_stops_cleanly_on_sigterm(config, service, tmp_path):
    service.metrics = metrics(down=("MIAX",))
    Feed(tmp_path).beat()
    proc = subprocess.Popen([sys.executable, str(ROOT / "monitor_poll.py"), "--data-dir", str(tmp_path),
                             "--url", service.url, "--interval", "0.05"],
                            cwd=ROOT, stderr=subprocess.PIPE, text=True)
    log_path = tmp_path / "incidents.jsonl"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "route_down:MIAX" not in (log_path.read_text() if log_path.exists() else ""):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "trigger INC-" in err and "routing_degraded:venues" in err and "monitor stopped" in err


def test_once_against_a_dead_port_records_service_down(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "monitor_poll.py"), "--data-dir", str(tmp_path),
                           "--url", "http://127.0.0.1:9", "--once"], cwd=ROOT, capture_output=True, text=True,
                          timeout=20)
    assert done.returncode == 0
    assert "service_down:optsim" in [i.dedup_key for i in IncidentLog(tmp_path / "incidents.jsonl").open_incidents()]


def test_bad_config_exits_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[monitor]\ninterval_s = -1\n")
    done = subprocess.run([sys.executable, str(ROOT / "monitor_poll.py"), "--data-dir", str(tmp_path), "--config",
                           str(bad), "--once"], cwd=ROOT, capture_output=True, text=True, timeout=20)
    assert done.returncode == 2 and "bad configuration" in done.stderr


def test_an_unacked_sev1_is_renotified_one_level_up_until_acked(tmp_path, service, feed):
    config = load_config(overrides={"service": {"data_dir": str(tmp_path)},
                                    "monitor": {"interval_s": 0.05, "request_timeout_s": 0.5},
                                    "notify": {"webhooks": [{"name": "desk", "url": f"{service.url}/hook"}],
                                               "renotify_after_s": {"SEV1": 0.2},
                                               "escalation": ["on-call", "backup", "desk lead"]}})
    service.metrics = metrics(down=VENUES)  # every venue down: SEV1
    monitor = Monitor(config, service.url)
    deadline = time.monotonic() + 20
    while len(service.hooks) < 4 and time.monotonic() < deadline:
        polls(monitor, feed, 1)
        time.sleep(0.05)
    levels = [(h["event"], h["escalation"]["level"], h["escalation"]["to"]) for h in service.hooks[:4]]
    assert levels == [("trigger", 0, "on-call"), ("renotify", 1, "backup"), ("renotify", 2, "desk lead"),
                      ("renotify", 2, "desk lead")]
    [inc] = IncidentLog.from_config(config).open_incidents()
    assert inc.severity == "SEV1" and inc.type == "routing_degraded" and service.hooks[0]["severity"] == "SEV1"
    gaps = [b["ts"] - a["ts"] for a, b in zip(inc.notifications, inc.notifications[1:])]
    assert all(g >= 0.2 for g in gaps)

    assert monitor.notifier.wait_idle(5)
    IncidentLog.from_config(config).acknowledge(inc.incident_id, actor="alice")
    sent = len(service.hooks)
    for _ in range(8):
        polls(monitor, feed, 1)
        time.sleep(0.05)
    assert len(service.hooks) == sent  # acknowledged: no more re-notifies


def test_a_silence_stops_notification_not_recording(config, service, feed):
    from optsim.ops import silences
    silence = silences.add(config.data_dir, {"type": ["routing_degraded"], "venue": ["MIAX"]}, time.time() - 1,
                           time.time() + 60, "alice", "MIAX maintenance")
    service.metrics = metrics(down=("MIAX",))
    monitor = Monitor(config, service.url)
    polls(monitor, feed, 3)
    assert monitor.notifier.wait_idle(5)
    [inc] = IncidentLog.from_config(config).open_incidents()
    assert service.hooks == []
    assert [(n["outcome"], n["silence_id"]) for n in inc.notifications] == [("silenced", silence.silence_id)]

    service.metrics = metrics(down=VENUES)  # CBOE is not covered by the silence: the incident is paged
    polls(monitor, feed, 2)
    assert monitor.notifier.wait_idle(5)
    assert [h["event"] for h in service.hooks] == ["trigger"]


def test_a_dead_webhook_never_holds_up_a_poll(tmp_path, service, feed):
    config = load_config(overrides={"service": {"data_dir": str(tmp_path)},
                                    "monitor": {"request_timeout_s": 0.5, "webhook_url": "http://127.0.0.1:9/hook"},
                                    "notify": {"retries": 2, "backoff_s": 0.3}})
    service.metrics = metrics(down=("MIAX",))
    monitor = Monitor(config, service.url)
    feed.beat()
    started = time.monotonic()
    monitor.poll_once()
    assert time.monotonic() - started < 0.5  # three attempts with 0.3 s + 0.6 s of backoff happen elsewhere
    assert monitor.notifier.wait_idle(10)
    [inc] = IncidentLog.from_config(config).open_incidents()
    [note] = inc.notifications
    assert note["outcome"] == "failed" and note["channels"][0]["attempts"] == 3
