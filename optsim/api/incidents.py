"""Incident triage over HTTP: list and read incidents, acknowledge and resolve them (admin token).

The log is the shared ``incidents.jsonl`` the monitor also appends to; state is its fold. Each
incident is shown with ``silenced_by`` (the active silence that mutes it, if any).
"""
from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify, request

from incident_logger import (STATES, STATUSES, IncidentAlreadyResolved, IncidentLog, IncidentNotFound, Incident,
                             sane_time)

from ..ops import silences
from ..ops.incident_types import INCIDENT_TYPES, SEVERITIES

from ..errors import ApiError, detail, unknown_names, validation_failed
from .audit import audit
from .auth import require_admin
from .orders import json_body
from .params import bounded_int

bp = Blueprint("incidents", __name__)

MAX_LIMIT = 1000
TYPE_PATTERN = "^[a-z][a-z0-9_]{0,63}$"  # the shape of a type (OpenAPI); the filter takes the known ones


def incident_log() -> IncidentLog:
    """One IncidentLog per app (its fold is cached between requests)."""
    ilog = current_app.extensions.get("incident_log")
    if ilog is None:
        ilog = current_app.extensions["incident_log"] = IncidentLog.from_config(
            current_app.config["OPTSIM_CONFIG"], source="service")
    return ilog


def _choices(name: str, allowed: tuple[str, ...], errors: list) -> frozenset[str] | None:
    """A comma-separated query parameter whose every value is in ``allowed``."""
    raw = request.args.get(name)
    if raw is None:
        return None
    values = frozenset(v.strip() for v in raw.split(",") if v.strip())
    if values and values <= set(allowed):
        return values
    errors.append(detail(name, "INVALID_CHOICE", f"{name} is a comma-separated list of {', '.join(allowed)}"))
    return None


def _known_types() -> tuple[str, ...]:
    """The incident types the simulator raises, and any other type already in the log (older or by hand):
    a misspelt type is refused rather than answered with an empty list."""
    logged = {inc.type for inc in incident_log().incidents(state="all")}
    return (*INCIDENT_TYPES, *sorted(logged - set(INCIDENT_TYPES)))


def _time(name: str, errors: list) -> float | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        return sane_time(raw)
    except (ValueError, OverflowError):
        errors.append(detail(name, "INVALID_TIME", f"{name} is an RFC 3339 time with offset or epoch seconds"))
        return None


FILTERS = frozenset({"state", "status", "severity", "type", "since", "until", "limit"})


def _filters() -> dict:
    """``state`` (unresolved = open + acknowledged), ``status``, ``severity``, ``type``, ``since``, ``until``, ``limit``."""
    args = request.args
    errors = unknown_names(args, FILTERS, "UNKNOWN_FILTER", "a filter")
    out = {"state": next(iter(_choices("state", tuple(STATES), errors) or ()), None),
           "severity": _choices("severity", SEVERITIES, errors),
           "types": _choices("type", _known_types(), errors) if "type" in args else None,  # reads the log
           "since": _time("since", errors), "until": _time("until", errors)}
    if args.get("state") and "," in args["state"]:
        errors.append(detail("state", "INVALID_CHOICE", "state is one value"))
    status = args.get("status")
    if status is not None:
        if status in STATUSES:
            out["status"] = status
        else:
            errors.append(detail("status", "INVALID_CHOICE", f"status must be one of {', '.join(STATUSES)}"))
    limit = bounded_int(args.get("limit", "100"), 1, MAX_LIMIT)
    if limit is not None:
        out["limit"] = limit
    else:
        errors.append(detail("limit", "OUT_OF_RANGE", f"limit is an integer from 1 to {MAX_LIMIT}"))
    if errors:
        raise validation_failed(errors)
    return out


def view(inc: Incident, active: list, now: float, with_events: bool = False) -> dict:
    """The incident as the API shows it: its fold plus whether a silence mutes it now."""
    out = inc.to_dict(with_events=with_events)
    silence = silences.matching(active, inc.labels(), now) if inc.unresolved else None
    out["silenced"] = silence is not None
    out["silenced_by"] = silence.silence_id if silence else None
    return out


def _active_silences(now: float) -> list:
    return [s for s in silences.load(current_app.config["OPTSIM_CONFIG"].data_dir) if s.state(now) == "active"]


def _actor_and_note() -> tuple[str, str]:
    """Optional body ``{"actor": str, "note": str}``; a non-JSON body is 400, wrong fields 422."""
    raw = request.get_data()
    if not raw:
        return "admin", ""
    body = json_body(request, raw)  # 415 / 400 (malformed, too deep, duplicate keys) in the one error shape
    if not isinstance(body, dict):
        raise validation_failed([detail("body", "NOT_AN_OBJECT", "the body is a JSON object")])
    errors = [detail(k, "NOT_A_STRING", f"{k} is a string of at most 200 characters")
              for k in ("actor", "note") if k in body and not (isinstance(body[k], str) and len(body[k]) <= 200)]
    errors += [detail(k, "UNKNOWN_FIELD", "only actor and note are accepted") for k in body if k not in ("actor", "note")]
    if errors:
        raise validation_failed(errors)
    return body.get("actor") or "admin", body.get("note") or ""


def _known(incident_id: str):
    inc = incident_log().get(incident_id)
    if inc is None:
        raise ApiError(404, "not_found", f"no incident {incident_id}",
                       [detail("incident_id", "NOT_FOUND", "unknown incident id")])
    return inc


def _change(incident_id: str, action: str):
    """Acknowledge or resolve: 404 unknown, 409 already resolved, else the incident after the change."""
    _known(incident_id)
    actor, note = _actor_and_note()
    ilog = incident_log()
    try:
        if action == "ack":
            inc = ilog.acknowledge(incident_id, actor=actor, note=note)
        else:
            inc = ilog.resolve(incident_id, actor=actor, note=note, resolution="manual")
    except IncidentAlreadyResolved as exc:
        raise ApiError(409, "conflict", str(exc), [detail("status", "ALREADY_RESOLVED", str(exc))]) from exc
    except IncidentNotFound as exc:  # rotated out between the two reads
        raise ApiError(404, "not_found", str(exc)) from exc
    audit(f"incident.{action}", incident_id, actor=actor, reason=note)
    now = time.time()
    return jsonify(view(inc, _active_silences(now), now))


@bp.get("/incidents")
def list_incidents():
    ilog, now = incident_log(), time.time()
    found = ilog.incidents(**_filters())
    active = _active_silences(now)
    return jsonify({"incidents": [view(i, active, now) for i in found], "count": len(found),
                    "skipped_records": ilog.skipped})


@bp.get("/incidents/<incident_id>")
def get_incident(incident_id: str):
    now = time.time()
    return jsonify(view(_known(incident_id), _active_silences(now), now, with_events=True))


@bp.post("/incidents/<incident_id>/ack")
@require_admin
def acknowledge(incident_id: str):
    return _change(incident_id, "ack")


@bp.post("/incidents/<incident_id>/resolve")
@require_admin
def resolve(incident_id: str):
    return _change(incident_id, "resolve")
