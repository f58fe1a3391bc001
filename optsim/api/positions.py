"""The desk's holdings over HTTP: GET /positions (qty, average cost, mark, PnL, Greeks) and GET /risk (limits)."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from ..errors import detail, validation_failed
from ..trading.portfolio import positions_view, risk_view
from . import desk

bp = Blueprint("positions", __name__)


@bp.get("/positions")
def positions():
    """Per account and series; ``account`` narrows to one account. Closed positions stay for their realized PnL."""
    unknown = sorted(set(request.args) - {"account"})
    if unknown:
        raise validation_failed([detail(name, "UNKNOWN_FILTER", f"{name} is not a filter") for name in unknown])
    response = jsonify(positions_view(desk(), request.args.get("account") or None))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/risk")
def risk():
    """Greek totals per underlying and portfolio against their limits, every limit's use, the trading state."""
    if request.args:
        raise validation_failed([detail(name, "UNKNOWN_FILTER", f"{name} is not a filter")
                                 for name in sorted(request.args)])
    response = jsonify(risk_view(desk()))
    response.headers["Cache-Control"] = "no-store"
    return response
