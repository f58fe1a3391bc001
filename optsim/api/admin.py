"""Admin endpoints (bearer token): the kill switch and venue up/down for drills."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from ..errors import ApiError, detail
from ..risk import TradingState
from . import desk
from .auth import require_admin
from .orders import json_body

bp = Blueprint("admin", __name__, url_prefix="/admin")



def _body() -> dict:
    """Optional JSON object body: empty is {}; anything else must be an object."""
    if not request.get_data(cache=True):
        return {}
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(422, "validation_failed", "the body must be a JSON object", [detail("", "object_type", "")])
    return body


@bp.get("/kill-switch")
@require_admin
def kill_switch_state():
    return jsonify({"state": desk().risk.state.value, "working_orders": desk().working_count})


@bp.post("/kill-switch")
@require_admin
def kill_switch():
    """Engage: {"state": "HALTED"} (default) cancels all working orders; "REDUCING" allows only reducing orders."""
    state = _body().get("state", "HALTED")
    if state not in ("HALTED", "REDUCING"):
        raise ApiError(422, "validation_failed", "state must be HALTED or REDUCING",
                       [detail("state", "literal_error", "HALTED or REDUCING")])
    cancelled = desk().set_trading_state(TradingState(state))
    current_app.logger.warning("kill switch: trading state %s, %d orders cancelled", state, len(cancelled))
    return jsonify({"state": state, "cancelled": cancelled})


@bp.post("/kill-switch/release")
@require_admin
def release():
    desk().set_trading_state(TradingState.ACTIVE)
    return jsonify({"state": "ACTIVE", "cancelled": []})


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
    """{"status": "down"} or {"status": "up"} — marks a venue for the router (drill)."""
    d = desk()
    if venue not in d.router.venues:
        raise ApiError(404, "not_found", f"no venue {venue}", [detail("venue", "NOT_FOUND", ", ".join(d.router.venues))])
    status = _body().get("status")
    if status not in ("up", "down"):
        raise ApiError(422, "validation_failed", "status must be up or down", [detail("status", "literal_error", "")])
    d.router.mark(venue, status == "up")
    d.update_gauges()
    return jsonify({"venue": venue, "up": d.router.is_up(venue), "marked_down": venue in d.router.marked_down()})
