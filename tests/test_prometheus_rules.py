"""deploy/prometheus: promtool's checks and rule unit tests, and the rules held to the code they mirror.

The expected alerts come from the one incident-type table (``optsim.ops.incident_types``), so a new
incident type without an alert, or an alert for a type that is gone, fails here.
"""
from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from optsim.config import Config
from optsim.ops.incident_types import INCIDENT_TYPES, routing_severity, runbook_anchor
from tests.promql import NO_PROMTOOL, PROMETHEUS_DIR, PROMTOOL, ROOT, exported_names, query_names
from tests.test_risk import make_client, single  # noqa: F401 (fixture)

ALERTS_FILE = PROMETHEUS_DIR / "rules" / "alerts.yml"
RECORDING_FILE = PROMETHEUS_DIR / "rules" / "recording.yml"
TEST_FILES = sorted((PROMETHEUS_DIR / "tests").glob("*_test.yml"))
CONFIGS = [PROMETHEUS_DIR / "prometheus.yml", PROMETHEUS_DIR / "prometheus-compose.yml"]
PROMETHEUS_BUILTINS = {"up"}  # series Prometheus makes itself


def rules(path) -> list[dict]:
    return [rule for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]]


ALERTS = rules(ALERTS_FILE)
RECORDED = {rule["record"] for rule in rules(RECORDING_FILE)}


def alerts_named(name: str) -> list[dict]:
    return [rule for rule in ALERTS if rule["alert"] == name]


# ---------------------------------------------------------------------------------------------- promtool
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason=NO_PROMTOOL)


@needs_promtool
@pytest.mark.parametrize("args", [
    *(pytest.param(["check", "config", str(c)], id=f"check-config-{c.name}") for c in CONFIGS),
    pytest.param(["check", "rules", str(ALERTS_FILE), str(RECORDING_FILE)], id="check-rules"),
    pytest.param(["test", "rules", *map(str, TEST_FILES)], id="test-rules"),
])
def test_promtool_accepts_the_config_rules_and_rule_tests(args):
    # Act
    done = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60, cwd=ROOT)

    # Assert
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


# ---------------------------------------------------------------------------------------------- mirror of the monitor
def test_there_is_one_alert_name_per_incident_type_and_no_other():
    assert {rule["alert"] for rule in ALERTS} == set(INCIDENT_TYPES)


@pytest.mark.parametrize("incident_type", INCIDENT_TYPES)
def test_each_alert_carries_its_incident_severity_and_runbook_section(incident_type):
    # Arrange
    runbook = (ROOT / "runbook.md").read_text(encoding="utf-8")
    anchor = runbook_anchor(incident_type).partition("#")[2]
    heading = re.search(rf"^## {incident_type} .*$", runbook, re.M)

    # Act
    found = alerts_named(incident_type)
    severities = {rule["labels"]["severity"] for rule in found}

    # Assert: the monitor's severity, and any other tier only where the runbook's section names it
    assert INCIDENT_TYPES[incident_type].severity in severities
    assert heading is not None, f"runbook.md has no section for {incident_type}"
    assert all(sev in heading.group() for sev in severities), (heading.group(), severities)
    assert f'<a id="{anchor}"></a>' in runbook
    for rule in found:
        assert rule["annotations"]["runbook_url"] == "http://{{ $labels.instance }}/runbook#" + anchor
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_every_alert_has_a_firing_case_and_a_quiet_case_in_the_promtool_tests():
    # Arrange: (alert, expected alerts, instances fed to the test) for every case
    cases = []
    for path in TEST_FILES:
        for group in yaml.safe_load(path.read_text())["tests"]:
            fed = {m for s in group.get("input_series", []) for m in re.findall(r'instance="([^"]+)"', s["series"])}
            cases += [(case["alertname"], case["exp_alerts"] or [], fed) for case in group.get("alert_rule_test", [])]

    for name in INCIDENT_TYPES:
        mine = [(expected, fed) for alert, expected, fed in cases if alert == name]
        # Assert
        firing = [(expected, fed) for expected, fed in mine if expected]
        assert firing, f"no promtool case where {name} fires"
        quiet_instance = any(fed - {e["exp_labels"].get("instance") for e in expected} for expected, fed in firing)
        assert quiet_instance or any(not expected for expected, _ in mine), f"no promtool case where {name} stays quiet"
        fired = {e["exp_labels"]["severity"] for expected, _ in firing for e in expected}
        assert fired == {rule["labels"]["severity"] for rule in alerts_named(name)}, (name, fired)


@pytest.mark.parametrize("down, total", [(1, 8), (3, 8), (4, 8), (7, 8), (8, 8), (1, 2), (1, 3), (2, 3)])
def test_routing_degraded_bands_are_the_monitors(down, total):
    # Arrange: each rule's band on the share of venues down, read from its expr
    bands = {}
    for rule in alerts_named("routing_degraded"):
        expr = " ".join(rule["expr"].split())
        assert expr.startswith("1 - avg by (job, instance) (optsim_route_up)"), expr
        bounds = re.findall(r"(>=|>|<) ([0-9.]+)", expr)
        bands[rule["labels"]["severity"]] = [(op, float(x)) for op, x in bounds]
    share = down / total
    holds = {">": share.__gt__, ">=": share.__ge__, "<": share.__lt__}

    # Act
    firing = [sev for sev, bounds in bands.items() if all(holds[op](x) for op, x in bounds)]

    # Assert: exactly one band, the one optsim.ops.incident_types grades this outage with
    assert firing == [routing_severity(down, total)], (down, total, bands)


def test_thresholds_are_the_config_defaults():
    # Arrange
    mon, feed = Config().monitor, Config().feed
    expected = {
        "feed_stale": [f"> {mon.feed_stale_after_s:g}"],
        "quotes_unusable": [f"> {mon.feed_stale_after_s:g}", f"<= {mon.feed_stale_after_s:g}"],
        "feed_sequence_gap": [f"/ {feed.interval_s:g}"],
        "risk_limit_breach": [f">= {mon.risk_utilization_threshold:g}"],
        "reject_rate_spike": [f"> {mon.reject_rate_threshold:g}", f">= {mon.reject_rate_min_orders}"],
        "latency_slo_breach": [f"> {mon.latency_slo_p99_s:g}", f">= {mon.reject_rate_min_orders}"],
    }

    for name, fragments in expected.items():
        expr = " ".join(" ".join(rule["expr"].split()) for rule in alerts_named(name))
        # Assert
        for fragment in fragments:
            assert fragment in expr, (name, fragment, expr)


def test_rule_queries_name_only_metrics_the_service_exports(make_client):
    # Arrange: a service with orders, a fill and a reject behind it
    client = make_client(risk={"max_contracts": 20})
    client.post("/orders", json=single())
    client.post("/orders", json=single(qty=50, price=1.05))
    exported = exported_names(client.get("/metrics").get_data(as_text=True))

    # Act
    used = {name for rule in rules(RECORDING_FILE) + ALERTS for name in query_names(rule["expr"])}

    # Assert: raw names are on /metrics; recorded ones are defined in recording.yml
    assert used - exported - RECORDED - PROMETHEUS_BUILTINS == set()
    assert {"optsim_orders_total", "optsim_order_latency_seconds_bucket", "optsim_health_status"} <= used
