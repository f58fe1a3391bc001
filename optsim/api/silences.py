"""Silences and maintenance windows over HTTP (admin token): create, list, end.

POST /admin/silences {"matchers": {"type": [...], "venue": [...], "underlying": [...]}, "starts_at"?,
"ends_at" | "duration_s", "created_by", "comment"}; GET /admin/silences?state=active|pending|expired|all;
DELETE /admin/silences/<id> ends one now. A silenced incident is still recorded and shown, only not
notified (``optsim.ops.silences``).
"""
from __future__ import annotations

import re
import time

from flask import Blueprint, current_app, jsonify, request

from ..ops import silences
from ..errors import ApiError, detail, validation_failed
from ..ops.incident_types import INCIDENT_TYPES
from ..timefmt import parse_time
from .audit import object_body
from .auth import require_admin

bp = Blueprint("silences", __name__, url_prefix="/admin/silences")

MAX_DURATION_S = 30 * 24 * 3600
_NAME = re.compile(r"[A-Z0-9_]{1,16}")
FIELDS = ("matchers", "starts_at", "ends_at", "duration_s", "created_by", "comment")


def _data_dir():
    return current_app.config["OPTSIM_CONFIG"].data_dir


def _matchers(value, errors: list) -> dict[str, list[str]]:
    if not isinstance(value, dict) or not value:
        errors.append(detail("matchers", "REQUIRED", "matchers is an object with at least one of type, venue, underlying"))
        return {}
    out = {}
    for key, raw in value.items():
        where = f"matchers.{key}"
        if key not in silences.MATCHER_KEYS:
            errors.append(detail(where, "UNKNOWN_FIELD", "matchers are type, venue and underlying"))
            continue
        items = [raw] if isinstance(raw, str) else raw
        if not (isinstance(items, list) and items and all(isinstance(v, str) for v in items) and len(items) <= 50):
            errors.append(detail(where, "INVALID_TYPE", f"{key} is a string or a non-empty list of strings"))
            continue
        if key == "type":
            bad = [v for v in items if v not in INCIDENT_TYPES]
            if bad:
                errors.append(detail(where, "UNKNOWN_TYPE", f"unknown incident type(s) {', '.join(bad)[:200]}; "
                                                            f"known: {', '.join(INCIDENT_TYPES)}"))
                continue
        else:
            items = [v.strip().upper() for v in items]
            if not all(_NAME.fullmatch(v) for v in items):
                errors.append(detail(where, "INVALID_FORMAT", f"{key} names are 1-16 letters, digits or _"))
                continue
        out[key] = items
    return out


def _when(body: dict, name: str, errors: list) -> float | None:
    if body.get(name) is None:
        return None
    try:
        value = parse_time(body[name])
        if not 0 <= value <= 253402300799:
            raise ValueError
        return value
    except (TypeError, ValueError, OverflowError):
        errors.append(detail(name, "INVALID_TIME", f"{name} is an RFC 3339 time with offset or epoch seconds"))
        return None


def _text(body: dict, name: str, errors: list) -> str:
    value = body.get(name)
    if not (isinstance(value, str) and value.strip()):
        errors.append(detail(name, "REQUIRED", f"{name} is a non-empty string of at most 500 characters"))
        return ""
    if len(value) > 500:
        errors.append(detail(name, "TOO_LONG", f"{name} is {len(value)} characters; at most 500"))
        return ""
    return value.strip()


@bp.post("")
@require_admin
def create():
    body, errors, now = object_body(), [], time.time()
    errors += [detail(k, "UNKNOWN_FIELD", f"fields are {', '.join(FIELDS)}") for k in body if k not in FIELDS]
    matchers = _matchers(body.get("matchers"), errors)
    starts = _when(body, "starts_at", errors)
    ends = _when(body, "ends_at", errors)
    created_by, comment = _text(body, "created_by", errors), _text(body, "comment", errors)
    duration = body.get("duration_s")
    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, (int, float))
                                 or not 0 < duration <= MAX_DURATION_S):
        errors.append(detail("duration_s", "OUT_OF_RANGE", f"duration_s is a number of seconds up to {MAX_DURATION_S}"))
        duration = None
    if errors:
        raise validation_failed(errors)
    starts = now if starts is None else starts
    if (ends is None) == (duration is None):
        raise validation_failed([detail("ends_at", "REQUIRED", "give exactly one of ends_at and duration_s")])
    ends = starts + duration if ends is None else ends
    if ends <= max(starts, now) or ends - starts > MAX_DURATION_S:
        raise validation_failed([detail("ends_at", "OUT_OF_RANGE",
                                        "ends_at is after starts_at and now, at most 30 days after starts_at")])
    silence = silences.add(_data_dir(), matchers, starts, ends, created_by, comment, now=now)
    current_app.logger.warning("silence %s by %r: %s (%r)", silence.silence_id, created_by, matchers, comment)
    return jsonify(silence.to_dict(now)), 201


@bp.get("")
@require_admin
def list_silences():
    state = request.args.get("state", "current")
    errors = [detail(name, "UNKNOWN_PARAMETER", "the only query parameter is state") for name in request.args
              if name != "state"]  # a mistyped filter must not list every silence as if it applied
    if state not in ("current", "active", "pending", "expired", "all"):
        errors.append(detail("state", "INVALID_CHOICE", "state is current, active, pending, expired or all"))
    if errors:
        raise validation_failed(errors)
    now = time.time()
    keep = {"current": ("active", "pending"), "all": ("active", "pending", "expired")}.get(state, (state,))
    found = [s.to_dict(now) for s in reversed(silences.load(_data_dir())) if s.state(now) in keep]
    return jsonify({"silences": found, "count": len(found)})


@bp.delete("/<silence_id>")
@require_admin
def end(silence_id: str):
    known = {s.silence_id: s for s in silences.load(_data_dir())}
    if silence_id not in known:
        raise ApiError(404, "not_found", f"no silence {silence_id}", [detail("silence_id", "NOT_FOUND", "unknown id")])
    now = time.time()
    changed = silences.end(_data_dir(), silence_id, at=now)
    return jsonify((changed[0] if changed else known[silence_id]).to_dict(now))
