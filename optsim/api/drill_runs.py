"""Scored drill runs over HTTP: the scenarios, start a run (admin token), follow it, and the history.

GET /drills lists the scenario files; POST /drills/runs {"drill": NAME, "mode": "unattended" |
"game_day", "silence": true, "detect_within_s": ...} starts one run in the background (202; one run at
a time, 409 otherwise); GET /drills/runs/<run_id> follows it; GET /drills/history gives each drill's
last runs and median times (``drill_log``). The run calls this same app in-process
(``drills.runner``), with the caller's bearer token.
"""
from __future__ import annotations

import threading

from flask import Blueprint, current_app, jsonify, request

from ..ops.drills import log as drill_log, scenarios as drill_scenarios
from ..ops.drills.runner import DrillRun
from ..ops.drills.scenarios import LIMITS, ScenarioError
from ..errors import ApiError, detail, validation_failed
from .audit import object_body
from .auth import require_admin
from .params import bounded_int

bp = Blueprint("drill_runs", __name__, url_prefix="/drills")
FIELDS = ("drill", "mode", "silence", *LIMITS)


def _config():
    return current_app.config["OPTSIM_CONFIG"]


def _registry() -> dict:
    """run_id -> DrillRun for the runs this process has started (the running one and the finished ones)."""
    return current_app.extensions.setdefault("drill_runs", {"runs": {}, "lock": threading.Lock()})


def running_ids() -> set[str]:
    return {rid for rid, run in _registry()["runs"].items() if run.record["status"] == "running"}


@bp.get("")
def scenarios():
    found = drill_scenarios.catalogue(_config().drills.scenario_dir)
    return jsonify({"drills": found, "count": len(found)})


@bp.post("/runs")
@require_admin
def start():
    body, errors = object_body(), []
    errors += [detail(k, "UNKNOWN_FIELD", f"fields are {', '.join(FIELDS)}") for k in body if k not in FIELDS]
    names = drill_scenarios.available(_config().drills.scenario_dir)
    if not isinstance(body.get("drill"), str) or body["drill"] not in names:
        errors.append(detail("drill", "UNKNOWN_DRILL", f"drill is one of {', '.join(names)}"))
    mode = body.get("mode", "unattended")
    if mode not in ("unattended", "game_day"):
        errors.append(detail("mode", "INVALID_CHOICE", "mode is unattended or game_day"))
    silence = body.get("silence", _config().drills.silence)
    if not isinstance(silence, bool):
        errors.append(detail("silence", "INVALID_TYPE", "silence is true or false"))
    limits = {}
    for key in LIMITS:
        value = body.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 86400:
            errors.append(detail(key, "OUT_OF_RANGE", f"{key} is a number of seconds from 0 to 86400"))
        else:
            limits[key] = float(value)
    if errors:
        raise validation_failed(errors)
    try:
        scenario = drill_scenarios.load(body["drill"], _config().drills.scenario_dir)
    except ScenarioError as exc:
        raise ApiError(422, "validation_failed", str(exc), [detail("drill", "BAD_SCENARIO", str(exc))]) from None
    app, token = current_app._get_current_object(), request.headers["Authorization"]
    client = app.test_client()

    def transport(method, path, json_body):
        answer = client.open(path, method=method, json=json_body, headers={"Authorization": token})
        return answer.status_code, answer.get_json(silent=True)

    reg = _registry()
    with reg["lock"]:
        if running_ids():
            raise ApiError(409, "conflict", "a drill is already running",
                           [detail("drill", "DRILL_RUNNING", ", ".join(sorted(running_ids())))])
        run = DrillRun(scenario, transport, _config().data_dir, mode=mode, silence=silence, limits=limits,
                       actor="drill-runner")
        reg["runs"][run.record["run_id"]] = run
    threading.Thread(target=run.run, name=f"drill-{run.record['run_id']}", daemon=True).start()
    current_app.logger.warning("drill run %s started: %s (%s)", run.record["run_id"], scenario.name, mode)
    return jsonify(run.record), 202


@bp.get("/runs/<run_id>")
def get_run(run_id: str):
    run = _registry()["runs"].get(run_id)
    if run is not None:
        return jsonify(run.record)
    for rec in drill_log.runs(_config().data_dir, running_ids()):
        if rec["run_id"] == run_id:
            return jsonify(rec)
    raise ApiError(404, "not_found", f"no drill run {run_id}", [detail("run_id", "NOT_FOUND", "unknown run id")])


@bp.get("/history")
def history():
    drill, last = request.args.get("drill"), bounded_int(request.args.get("last", "10"), 1, 100)
    if last is None:  # strict digits: a 5,000-digit "last" is a 422, not int()'s 500
        raise validation_failed([detail("last", "OUT_OF_RANGE", "last is an integer from 1 to 100")])
    return jsonify(drill_log.history(_config().data_dir, drill=drill, last=last, running=running_ids()))
