"""The admin actions' audit trail (who, what, when, from where, why) and the JSON bodies that feed it.

Every admin endpoint (the kill switch, venue marks, drills, silences, incident acks) reads its body with
``object_body`` and appends what it did with ``audit``; the body may say who (``actor``, default "admin")
and why (``reason``); from where is the client address.
"""
from __future__ import annotations

from flask import current_app, request

from ..errors import ApiError, detail, unknown_names, validation_failed
from . import desk
from .orders import json_body

#: Every audit action; ``?action=`` takes one of them or its family (``kill_switch`` is both of its own).
AUDIT_ACTIONS = ("kill_switch.set", "kill_switch.trip", "venue.mark", "drill.inject", "drill.clear", "incident.ack",
                 "incident.resolve")
AUDIT_FILTERS = tuple(dict.fromkeys([a.partition(".")[0] for a in AUDIT_ACTIONS] + list(AUDIT_ACTIONS)))
AUDIT_TEXT_MAX = 200


def object_body(fields: tuple[str, ...] | None = None) -> dict:
    """Optional JSON object body: empty is {}; anything else must be an object. With ``fields``, a key outside
    them is a 422: on these endpoints a typo (``{"stat": "REDUCING"}``) must not act on the defaults."""
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    body = json_body(request, raw)
    if not isinstance(body, dict):
        raise ApiError(422, "validation_failed", "the body must be a JSON object", [detail("", "object_type", "")])
    if fields is not None and (unknown := unknown_names(body, fields, "UNKNOWN_FIELD",
                                                        f"a field here; fields: {', '.join(fields)}")):
        raise validation_failed(unknown)
    return body


def who_and_why(body: dict) -> tuple[str, str]:
    """``actor`` and ``reason`` from an admin body (strings of at most 200 characters); 422 names the field."""
    faults = [detail(k, "string_type", f"{k} is a string of at most {AUDIT_TEXT_MAX} characters")
              for k in ("actor", "reason") if k in body and not (isinstance(body[k], str)
                                                                 and len(body[k]) <= AUDIT_TEXT_MAX)]
    if faults:
        raise validation_failed(faults)
    return body.get("actor") or "admin", body.get("reason") or ""


def audit(action: str, target: str | None = None, *, actor: str = "admin", reason: str = "",
          details: dict | None = None) -> None:
    """Append one admin action to the audit log, with the client address it came from.

    An app without an order desk (the incident API on its own) has no store to audit into.
    """
    if "desk" not in current_app.extensions:
        return
    desk().audit({"actor": actor, "action": action, "target": target, "reason": reason,
                  "remote_addr": request.remote_addr, "details": details or {}})
