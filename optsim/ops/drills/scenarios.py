"""Drill scenario files in Chaos Toolkit's experiment shape, and the checks they are held to.

A scenario is ``drills/<name>.json`` (built in) or ``<drills.scenario_dir>/<name>.json``:
``steady-state-hypothesis`` (probes with tolerances, checked before the fault and after rollback),
``method`` (the fault: actions), ``rollbacks`` (actions that clear it) and one ``extensions`` entry
named ``optsim`` with ``expected_incidents`` and the time limits of each phase. Providers are
``http`` with a path on the service (``/admin/drills``...); tolerances are a status code, a list of
codes, or ``{"type": "jsonpath", "path": "$.count", "expect": 0}`` over the JSON answer.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..incident_types import INCIDENT_TYPES

BUILT_IN = Path(__file__).resolve().parents[3] / "drills"
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
LIMITS = {"detect_within_s": 30.0, "ack_within_s": 600.0, "mitigate_within_s": 900.0, "resolve_within_s": 60.0,
          "ack_after_s": 0.0, "hold_s": 0.0}


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message names the file and the key."""


@dataclass(frozen=True)
class Step:
    name: str
    method: str
    path: str
    body: Any = None
    tolerance: Any = None


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    description: str
    probes: tuple[Step, ...]
    method: tuple[Step, ...]
    rollbacks: tuple[Step, ...]
    expected: tuple[str, ...]
    limits: dict[str, float]

    def summary(self) -> dict:
        return {"drill": self.name, "title": self.title, "description": self.description,
                "expected_incidents": list(self.expected), **self.limits}


def _step(where: str, raw: Any, probe: bool) -> Step:
    if not isinstance(raw, dict) or not isinstance(raw.get("provider"), dict):
        raise ScenarioError(f"{where}: a step is an object with a provider")
    prov = raw["provider"]
    if prov.get("type") != "http" or not isinstance(prov.get("url"), str) or not prov["url"].startswith("/"):
        raise ScenarioError(f"{where}: only http providers with a path on the service (/...) are supported")
    method = str(prov.get("method", "GET")).upper()
    if method not in ("GET", "POST", "DELETE"):
        raise ScenarioError(f"{where}: method must be GET, POST or DELETE")
    tolerance = raw.get("tolerance", 200 if probe else None)
    return Step(str(raw.get("name", where)), method, prov["url"], prov.get("arguments"), tolerance)


def parse(name: str, doc: Any) -> Scenario:
    if not isinstance(doc, dict):
        raise ScenarioError(f"{name}: not a JSON object")
    ext = next((e for e in doc.get("extensions", []) if isinstance(e, dict) and e.get("name") == "optsim"), None)
    if ext is None:
        raise ScenarioError(f"{name}: extensions needs an entry named optsim with expected_incidents")
    expected = ext.get("expected_incidents")
    if not (isinstance(expected, list) and expected and all(e in INCIDENT_TYPES for e in expected)):
        raise ScenarioError(f"{name}: expected_incidents is a non-empty list of {', '.join(INCIDENT_TYPES)}")
    limits = {}
    for key, default in LIMITS.items():
        value = ext.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 86400:
            raise ScenarioError(f"{name}: {key} is a number of seconds from 0 to 86400")
        limits[key] = float(value)
    hypothesis = doc.get("steady-state-hypothesis", {})
    probes = tuple(_step(f"{name}: probe {i}", p, True) for i, p in enumerate(hypothesis.get("probes", [])))
    method = tuple(_step(f"{name}: method {i}", a, False) for i, a in enumerate(doc.get("method", [])))
    if not method:
        raise ScenarioError(f"{name}: method needs at least one action (the fault)")
    rollbacks = tuple(_step(f"{name}: rollback {i}", a, False) for i, a in enumerate(doc.get("rollbacks", [])))
    return Scenario(name, str(doc.get("title", name)), str(doc.get("description", "")), probes, method, rollbacks,
                    tuple(expected), limits)


def directories(extra: str = "") -> list[Path]:
    return [BUILT_IN] + ([Path(extra)] if extra else [])


def available(extra: str = "") -> dict[str, Path]:
    """Scenario name -> file; a file in ``extra`` overrides a built-in one of the same name."""
    found: dict[str, Path] = {}
    for folder in directories(extra):
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            if _NAME.fullmatch(path.stem):
                found[path.stem] = path
    return found


def catalogue(extra: str = "") -> list[dict]:
    """Every scenario's summary, or its name and why it cannot be run: read from the files, so the CLI lists
    them without a running service and the service lists the same ones."""
    found = []
    for name in available(extra):
        try:
            found.append(load(name, extra).summary())
        except ScenarioError as exc:
            found.append({"drill": name, "error": str(exc)})
    return found


def load(name: str, extra: str = "") -> Scenario:
    """Raises KeyError for an unknown drill, ScenarioError for a file that cannot be run."""
    path = available(extra)[name]
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"{path.name}: {exc}") from exc
    return parse(name, doc)


def tolerated(tolerance: Any, status: int, body: Any) -> bool:
    """Chaos Toolkit's tolerance, the forms we support: a status code, a list of codes, or a jsonpath check."""
    if isinstance(tolerance, bool):
        return tolerance == (status < 400)
    if isinstance(tolerance, int):
        return status == tolerance
    if isinstance(tolerance, list):
        return status in tolerance
    if isinstance(tolerance, dict) and tolerance.get("type") == "jsonpath":
        return jsonpath(body, tolerance.get("path", "$")) == tolerance.get("expect")
    return False


def jsonpath(body: Any, path: Any) -> Any:
    """The value at a dotted ``$.a.b`` path (the one jsonpath form scenarios use); None when absent."""
    for part in str(path).lstrip("$").strip(".").split("."):
        if part:
            body = body.get(part) if isinstance(body, dict) else None
    return body
