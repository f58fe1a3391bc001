"""Run one drill scenario end to end and score it: detect, acknowledge, mitigate, resolve.

1. Steady state: every probe must hold (within a few seconds), or the run is ``aborted`` and nothing
   is injected.
2. Method: the fault is injected (t0); a drill's own notifications are silenced unless asked not to be.
3. Detect: the first incident opened at or after t0 whose type, or one of whose signals, is expected.
   None within ``detect_within_s`` is a ``failed`` drill (the monitor missed it).
4. Acknowledge: ``unattended`` runs acknowledge it themselves after ``ack_after_s``; ``game_day`` runs
   wait up to ``ack_within_s`` for a person to do it.
5. Mitigate: ``unattended`` runs roll back after ``hold_s``; ``game_day`` runs wait up to
   ``mitigate_within_s`` for the trainee to clear the fault, then roll back themselves (a failed run).
6. Resolve: the incident must be resolved (by the monitor's auto-resolve or by hand) within
   ``resolve_within_s``; then the steady state must hold again.

Every call goes through ``transport(method, path, body) -> (status, json)``: HTTP to a running
service from the CLI, the app in-process from ``POST /drills/runs``. The result is appended to
``drills.jsonl`` (``drill_log``) when the run starts and when it ends.
"""
from __future__ import annotations

import time
import uuid
from typing import Any, Callable
from urllib.parse import quote

from . import log as drill_log
from .scenarios import Scenario, Step, jsonpath, tolerated
from ...timefmt import parse_time, rfc3339

Transport = Callable[[str, str, Any], "tuple[int, Any]"]
POLL_S = 0.2
STEADY_WAIT_S = 5.0  # a blip is not a broken steady state: the probes get this long to hold before the fault
STAMPS = (("ttd_s", "detected_at"), ("tta_s", "acknowledged_at"), ("ttm_s", "mitigated_at"), ("ttr_s", "resolved_at"))


class Stop(Exception):
    """The run ends here with ``status`` and ``reason``."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


class DrillRun:
    def __init__(self, scenario: Scenario, transport: Transport, data_dir, *, mode: str = "unattended",
                 silence: bool = True, limits: dict[str, float] | None = None, actor: str = "drill-runner",
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep):
        self.scenario, self.call, self.data_dir = scenario, transport, data_dir
        self.mode, self.silence, self.actor = mode, silence, actor
        self.limits = {**scenario.limits, **(limits or {})}
        self.clock, self.sleep = clock, sleep
        now = clock()
        self.record: dict[str, Any] = {
            "schema": 1, "event": "start", "run_id": f"DRL-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(now))}-"
                                                       f"{uuid.uuid4().hex[:6]}",
            "drill": scenario.name, "title": scenario.title, "mode": mode, "status": "running", "phase": "steady_state",
            "reason": None, "expected_incidents": list(scenario.expected), "started_at": rfc3339(now),
            "fault_injected_at": None, "incident_id": None, "incident_type": None, "acknowledged_by": None,
            **{stamp: None for _, stamp in STAMPS}, **{t: None for t, _ in STAMPS}, "limits": self.limits}
        self._t: dict[str, float] = {}
        self._faults: list[str] = []

    # -------------------------------------------------------------- the run
    def run(self) -> dict:
        drill_log.append(self.data_dir, self.record)
        injected = False
        try:
            self._steady("steady_state_before", "aborted", wait_s=STEADY_WAIT_S)
            self._phase("fault")
            self._t["fault_injected_at"] = self.clock()
            injected = True
            for step in self.scenario.method:
                self._act(step, inject=True)
            self._stamp("fault_injected_at")
            incident = self._detect()
            self._acknowledge(incident)
            self._mitigate()
            self._resolve(incident)
            self._steady("steady_state_after", "failed", wait_s=self.limits["resolve_within_s"])
            status, reason = "passed", None
        except Stop as stop:
            status, reason = stop.status, stop.reason
        except Exception as exc:  # an unreachable service, a bug: still record the run and clear the fault
            status, reason = "failed", f"{exc.__class__.__name__}: {exc}"[:300]
        if injected and "mitigated_at" not in self._t:
            self._rollback()
        finish = {**self.record, "event": "finish", "finished_at": rfc3339(self.clock()), "reason": reason,
                  "phase": "done" if status == "passed" else self.record["phase"], "status": status}
        drill_log.append(self.data_dir, finish)
        # the status changes last, once the log has the finish: whoever sees a finished run sees all of it, and
        # the history (which takes a started run that is no longer running for interrupted) has it too
        self.record.update(finish)
        return self.record

    # -------------------------------------------------------------- phases
    def _detect(self) -> dict:
        self._phase("detect")
        t0 = self._t["fault_injected_at"]
        found = self._until(lambda: self._expected_incident(t0), self.limits["detect_within_s"])
        if found is None:
            raise Stop("failed", f"no expected incident ({', '.join(self.scenario.expected)}) opened within "
                                 f"{self.limits['detect_within_s']:g}s of the fault")
        self._t["detected_at"] = _epoch(found["opened_at"])
        self.record.update(incident_id=found["incident_id"], incident_type=found["type"])
        self._stamp("detected_at")
        return found

    def _acknowledge(self, incident: dict) -> None:
        self._phase("acknowledge")
        if self.mode == "unattended":
            self.sleep(self.limits["ack_after_s"])
            status, _ = self.call("POST", f"/incidents/{incident['incident_id']}/ack",
                                  {"actor": self.actor, "note": f"drill {self.scenario.name}"})
            if status not in (200, 409):
                raise Stop("failed", f"could not acknowledge {incident['incident_id']}: HTTP {status}")
        acked = self._until(lambda: self._incident(incident, lambda i: i.get("acknowledged_at") or
                                                   (i.get("status") == "resolved" and i.get("resolved_at"))),
                            self.limits["ack_within_s"])
        if acked is None:
            raise Stop("failed", f"{incident['incident_id']} not acknowledged within {self.limits['ack_within_s']:g}s")
        self._t["acknowledged_at"] = _epoch(acked["acknowledged_at"] or acked["resolved_at"])
        self.record["acknowledged_by"] = acked.get("acknowledged_by") or acked.get("resolved_by")
        self._stamp("acknowledged_at")

    def _mitigate(self) -> None:
        self._phase("mitigate")
        if self.mode == "unattended":
            self.sleep(self.limits["hold_s"])
            self._rollback()
            return
        cleared = self._until(self._faults_cleared, self.limits["mitigate_within_s"])
        if cleared is None:
            raise Stop("failed", f"fault not cleared within {self.limits['mitigate_within_s']:g}s; rolled back")
        self._t["mitigated_at"] = self.clock()
        self._stamp("mitigated_at")

    def _resolve(self, incident: dict) -> None:
        self._phase("resolve")
        done = self._until(lambda: self._incident(incident, lambda i: i.get("status") == "resolved"),
                           self.limits["resolve_within_s"])
        if done is None:
            raise Stop("failed", f"{incident['incident_id']} not resolved within {self.limits['resolve_within_s']:g}s "
                                 "of mitigation")
        self._t["resolved_at"] = _epoch(done["resolved_at"])
        self._stamp("resolved_at")

    def _rollback(self) -> None:
        """Clear the fault; mitigation is stamped when the rollback starts (the fault is gone before it returns)."""
        started = self.clock()
        for step in self.scenario.rollbacks:
            try:
                self._act(step)
            except Exception as exc:  # keep rolling back the rest
                self.record["rollback_error"] = f"{step.name}: {exc}"[:300]
        self._t["mitigated_at"] = started
        self._stamp("mitigated_at")

    def _steady(self, key: str, failing: str, wait_s: float = 0.0) -> None:
        results = self._until(lambda: self._probes(accept_failure=False), wait_s) if wait_s else None
        results = results or self._probes(accept_failure=True)
        self.record[key] = results
        bad = [r for r in results if not r["ok"]]
        if bad:
            raise Stop(failing, "steady state not met: " + "; ".join(f"{r['probe']} got {r['got']}" for r in bad))

    # -------------------------------------------------------------- helpers
    def _phase(self, phase: str) -> None:
        self.record["phase"] = phase

    def _stamp(self, name: str) -> None:
        self.record[name] = rfc3339(self._t[name])
        t0 = self._t.get("fault_injected_at")
        for key, stamp in STAMPS:
            if stamp == name and t0 is not None:
                self.record[key] = round(max(0.0, self._t[name] - t0), 3)

    def _act(self, step: Step, inject: bool = False) -> None:
        body = step.body
        if inject and step.method == "POST" and step.path == "/admin/drills" and isinstance(body, dict):
            body = {"silence": self.silence, **body}
            self._faults.append(str(body.get("fault")))
        status, answer = self.call(step.method, step.path, body)
        if status >= 400:
            raise Stop("failed", f"{step.name}: HTTP {status} {str(answer)[:200]}")

    def _probes(self, accept_failure: bool) -> list[dict] | None:
        out = []
        for probe in self.scenario.probes:
            status, body = self.call(probe.method, probe.path, probe.body)
            ok = tolerated(probe.tolerance, status, body)
            got = status if not isinstance(probe.tolerance, dict) else jsonpath(body, probe.tolerance.get("path", "$"))
            out.append({"probe": probe.name, "ok": ok, "got": got})
        return out if accept_failure or all(r["ok"] for r in out) else None

    def _expected_incident(self, t0: float) -> dict | None:
        status, body = self.call("GET", f"/incidents?state=all&limit=200&since={quote(rfc3339(t0 - 1))}", None)
        if status != 200:
            return None
        expected = set(self.scenario.expected)
        hits = [i for i in body.get("incidents", []) if _epoch(i.get("opened_at")) >= t0 - 1.0 and (
            i.get("type") in expected or expected & {s.get("type") for s in i.get("signals", [])})]
        return min(hits, key=lambda i: _epoch(i["opened_at"])) if hits else None

    def _incident(self, incident: dict, test: Callable[[dict], Any]) -> dict | None:
        status, body = self.call("GET", f"/incidents/{incident['incident_id']}", None)
        return body if status == 200 and test(body) else None

    def _faults_cleared(self) -> bool:
        status, body = self.call("GET", "/admin/drills", None)
        return status == 200 and not set(self._faults) & set(body.get("injected_at", {}))

    def _until(self, probe: Callable[[], Any], within_s: float) -> Any:
        deadline = self.clock() + within_s
        while True:
            value = probe()
            if value or self.clock() >= deadline:
                return value or None
            self.sleep(POLL_S)


def _epoch(stamp: Any) -> float:
    try:
        return parse_time(stamp)
    except (TypeError, ValueError):
        return float("-inf")
