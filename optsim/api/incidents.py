"""Incident triage over HTTP: list and read incidents, acknowledge and resolve them (admin token).

The log is the shared ``incidents.jsonl`` the monitor also appends to; state is its fold.
"""
from __future__ import annotations

import re

from flask import Blueprint, current_app, jsonify, request

from incident_logger import STATUSES, IncidentAlreadyResolved, IncidentLog, IncidentNotFound, parse_time

from ..errors import ApiError, detail, validation_failed
from .auth import require_admin
from .orders import json_body
from .params import bounded_int

bp = Blueprint("incidents", __name__)

MAX_LIMIT = 1000
TYPE_PATTERN = "^[a-z][a-z0-9_]{0,63}$"
_TYPE = re.compile(TYPE_PATTERN)


def incident_log() -> IncidentLog:
    """One IncidentLog per app (its fold is cached between requests)."""
    ilog = current_app.extensions.get("incident_log")
    if ilog is None:
        ilog = current_app.extensions["incident_log"] = IncidentLog.from_config(
            current_app.config["OPTSIM_CONFIG"], source="service")
    return ilog


def _filters() -> dict:
    args, errors, out = request.args, [], {}
    status = args.get("status")
    if status is not None:
        if status in STATUSES:
            out["status"] = status
        else:
            errors.append(detail("status", "INVALID_CHOICE", f"status must be one of {', '.join(STATUSES)}"))
    kind = args.get("type")
    if kind is not None:
        if _TYPE.match(kind):
            out["type"] = kind
        else:
            errors.append(detail("type", "INVALID_FORMAT", "type is a lower_snake_case incident type"))
    since = args.get("since")
    if since is not None:
        try:
            out["since"] = parse_time(since)
        except ValueError:
            errors.append(detail("since", "INVALID_TIME", "since is an RFC 3339 time with offset or epoch seconds"))
    limit = bounded_int(args.get("limit", "100"), 1, MAX_LIMIT)
    if limit is not None:
        out["limit"] = limit
    else:
        errors.append(detail("limit", "OUT_OF_RANGE", f"limit is an integer from 1 to {MAX_LIMIT}"))
    if errors:
        raise validation_failed(errors)
    return out


def _actor_and_note() -> tuple[str, str]:
    """Optional body ``{"actor": str, "note": str}``; a non-JSON body is 400, wrong fields 422."""
    if not request.get_data():
        return "admin", ""
    body = json_body()  # 415 / 400 (malformed, too deep, duplicate keys) in the one error shape
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
    return jsonify(inc.to_dict())


@bp.get("/incidents")
def list_incidents():
    found = incident_log().incidents(**_filters())
    return jsonify({"incidents": [i.to_dict() for i in found], "count": len(found)})


@bp.get("/incidents/<incident_id>")
def get_incident(incident_id: str):
    return jsonify(_known(incident_id).to_dict(with_events=True))


@bp.post("/incidents/<incident_id>/ack")
@require_admin
def acknowledge(incident_id: str):
    return _change(incident_id, "ack")


@bp.post("/incidents/<incident_id>/resolve")
@require_admin
def resolve(incident_id: str):
    return _change(incident_id, "resolve")
