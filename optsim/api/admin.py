"""Admin endpoints (bearer token): the kill switch, venue up/down for drills, and the audit log.

Every change made here is appended to the audit log (who, what, when, from where, why): the body may say
who (``actor``, default "admin") and why (``reason``); from where is the client address.
"""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..errors import ApiError, detail, validation_failed
from ..trading.risk import TradingState
from ..timefmt import rfc3339
from . import desk
from .audit import AUDIT_FILTERS, audit, object_body, who_and_why
from .auth import require_admin
from .drills import end_venue_down_if_unmarked

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _state_view() -> dict:
    d = desk()
    t = d.trading
    return {"state": t["state"], "set_by": t["actor"], "reason": t["reason"], "source": t["source"],
            "since": rfc3339(t["ts"]) if t.get("ts") else None, "working_orders": d.working_count}


@bp.get("/kill-switch")
@require_admin
def kill_switch_state():
    return jsonify(_state_view())


@bp.post("/kill-switch")
@require_admin
def kill_switch():
    """Engage: {"state": "HALTED"} (default) cancels all working orders; "REDUCING" allows only reducing orders.

    The state is stored with who set it, when and why, so a restart comes back in it.
    """
    body = object_body(("state", "actor", "reason"))
    state = body.get("state", "HALTED")
    if state not in ("HALTED", "REDUCING"):
        raise ApiError(422, "validation_failed", "state must be HALTED or REDUCING",
                       [detail("state", "literal_error", "HALTED or REDUCING")])
    actor, reason = who_and_why(body)
    reason = reason or f"{state} by hand"  # the reason in force, as stored, audited and answered
    cancelled = desk().set_trading_state(TradingState(state), actor, reason, "manual",
                                         {"remote_addr": request.remote_addr})
    current_app.logger.warning("kill switch: trading state %s by %r (%r), %d orders cancelled", state, actor,
                               reason, len(cancelled))  # quoted: a CR/LF in the caller's text cannot forge a line
    return jsonify({**_state_view(), "cancelled": cancelled})


@bp.post("/kill-switch/release")
@require_admin
def release():
    """Back to ACTIVE; the open risk_trip incidents are resolved by whoever released."""
    actor, reason = who_and_why(object_body(("actor", "reason")))
    d = desk()
    d.set_trading_state(TradingState.ACTIVE, actor, reason or "released by hand", "manual",
                        {"remote_addr": request.remote_addr})
    resolved = d.resolve_trips(actor, reason or "trading released")
    return jsonify({**_state_view(), "cancelled": [], "resolved_incidents": resolved})


@bp.get("/audit")
@require_admin
def audit_log():
    """The audit log, newest first: ``limit`` (1..1000, default 100), ``before`` (seq, for paging), ``action``."""
    args, faults = request.args, []
    unknown = sorted(set(args) - {"limit", "before", "action"})
    faults += [detail(name, "UNKNOWN_FILTER", f"{name} is not a filter") for name in unknown]
    limit, before = args.get("limit", "100"), args.get("before", "")
    if not (limit.isdigit() and 1 <= int(limit) <= 1000):
        faults.append(detail("limit", "BAD_FILTER", "limit must be an integer 1..1000"))
    if before and not before.isdigit():
        faults.append(detail("before", "BAD_FILTER", "before is the seq of an audit entry"))
    action = args.get("action")
    if action and action not in AUDIT_FILTERS:  # a misspelt action is refused, not an empty page
        faults.append(detail("action", "INVALID_CHOICE", f"action is one of {', '.join(AUDIT_FILTERS)}"))
    if faults:
        raise validation_failed(faults)
    entries = desk().store.audit(limit=int(limit), before_seq=int(before) if before else None,
                                 action=action or None)
    out = [{**e, "ts": rfc3339(e["ts"])} for e in entries]
    return jsonify({"entries": out, "count": len(out),
                    "next_before": out[-1]["seq"] if len(out) == int(limit) else None})


@bp.get("/venues")
@require_admin
def venues():
    d = desk()
    marked = d.router.marked_down()
    return jsonify({"venues": [{"venue": name, "up": up, "marked_down": name in marked,
                                "fee_take": d.router.venues[name].fee_take, "fee_make": d.router.venues[name].fee_make}
                               for name, up in d.router.status().items()]})


@bp.post("/venues/<venue>")
@require_admin
def mark_venue(venue: str):
    """{"status": "down"} or {"status": "up"} — marks a venue for the router by hand (kept across restarts)."""
    d = desk()
    if venue not in d.router.venues:
        raise ApiError(404, "not_found", f"no venue {venue}", [detail("venue", "NOT_FOUND", ", ".join(d.router.venues))])
    body = object_body(("status", "actor", "reason"))
    status = body.get("status")
    if status not in ("up", "down"):
        raise ApiError(422, "validation_failed", "status must be up or down", [detail("status", "literal_error", "")])
    actor, reason = who_and_why(body)
    d.mark_venue(venue, status == "up")
    audit("venue.mark", venue, actor=actor, reason=reason, details={"status": status})
    if status == "up":
        end_venue_down_if_unmarked(actor)
    return jsonify({"venue": venue, "up": d.router.is_up(venue), "marked_down": venue in d.router.marked_down()})
