"""deploy/grafana: the provisioned dashboard parses, picks Prometheus by variable, queries only what exists,
and carries every panel of the simulator's own dashboard."""
from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.promql import ROOT, exported_names, query_names
from tests.test_prometheus_rules import RECORDED
from tests.test_risk import make_client, single  # noqa: F401 (fixture)

GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = json.loads((GRAFANA / "dashboards" / "optsim.json").read_text())
PANELS = [p for p in DASHBOARD["panels"] if p["type"] != "row"]
TARGETS = [t for p in PANELS for t in p["targets"]]
VARIABLES = {v["name"]: v for v in DASHBOARD["templating"]["list"]}
PROMETHEUS_BUILTINS = {"up", "ALERTS"}  # series Prometheus makes itself
CORE_PANELS = {"row", "stat", "timeseries", "state-timeline", "bargauge", "table", "heatmap"}  # built into Grafana


def test_dashboard_is_a_provisioning_model_with_a_datasource_variable():
    # Assert: the bare model file provisioning loads (no API wrapper, no numeric id), Prometheus by variable
    assert "dashboard" not in DASHBOARD and DASHBOARD["id"] is None and DASHBOARD["uid"]
    assert VARIABLES["datasource"]["type"] == "datasource" and VARIABLES["datasource"]["query"] == "prometheus"
    assert {p["type"] for p in DASHBOARD["panels"]} <= CORE_PANELS  # no plugin to install
    for item in PANELS + TARGETS + [VARIABLES["job"]]:
        assert item["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, item.get("title", item)


def test_panels_have_unique_ids_and_do_not_overlap():
    # Arrange
    ids = [p["id"] for p in DASHBOARD["panels"]]
    cells = {}

    # Act: paint every panel's grid cells
    for p in DASHBOARD["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                # Assert
                assert (x, y) not in cells, f"{p['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = p["title"]
    assert len(ids) == len(set(ids))
    assert all(p["targets"] and p["title"] and p.get("description") for p in PANELS)


def test_every_query_names_a_metric_the_service_exports(make_client):
    # Arrange: a service that has seen an accepted order and a reject
    client = make_client(risk={"max_contracts": 20})
    client.post("/orders", json=single())
    client.post("/orders", json=single(qty=50, price=1.05))
    exported = exported_names(client.get("/metrics").get_data(as_text=True))

    # Act
    used = {expr: query_names(expr) for expr in (t["expr"] for t in TARGETS)}
    used[VARIABLES["job"]["definition"]] = {"optsim_build_info"}

    # Assert: each query names something, and only exported, recorded (deploy/prometheus) or built-in series
    for expr, names in used.items():
        assert names, expr
        assert names - exported - RECORDED - PROMETHEUS_BUILTINS == set(), expr
    assert len(TARGETS) >= 30


def test_the_simulators_own_dashboard_panels_are_all_there():
    # Arrange
    html = (ROOT / "static" / "dashboard.html").read_text(encoding="utf-8")
    own = [title.split(" (")[0] for title in re.findall(r"<h2>([^<]+)</h2>", html)]  # without "(last 30 min...)"
    desk = (ROOT / "static" / "positions.js").read_text(encoding="utf-8")  # the desk panels, built by script
    own += re.findall(r'el\("h2", \{text: "([^"]+)"\}\)', desk)

    # Assert
    titles = [p["title"] for p in PANELS]
    assert own
    for title in own:
        assert any(t.startswith(title) for t in titles), title


def test_provisioning_points_at_the_compose_prometheus_and_dashboard_mount():
    # Arrange
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    datasource = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "optsim.yml").read_text())
    mounts = dict(v.split(":")[1::-1] for v in compose["services"]["grafana"]["volumes"] if v.startswith("./"))

    # Assert
    (source,) = datasource["datasources"]
    assert source["type"] == "prometheus"
    assert re.fullmatch(r"http://prometheus:9090", source["url"]) and "prometheus" in compose["services"]
    assert mounts[provider["providers"][0]["options"]["path"]] == "./deploy/grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"


@pytest.mark.parametrize("path", sorted(GRAFANA.rglob("*.yml")), ids=lambda p: p.name)
def test_provisioning_files_parse(path):
    assert yaml.safe_load(path.read_text())["apiVersion"] == 1
