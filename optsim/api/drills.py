"""Drill endpoints (admin token): inject a fault, list what is injected, clear one or all.

POST /admin/drills {"fault": NAME, ...parameters}; DELETE /admin/drills/NAME; DELETE /admin/drills.

| fault | parameters | what breaks |
|---|---|---|
| feed_stall | — | the feed stops writing quotes and heartbeat (Toxiproxy ``timeout``) |
| feed_freeze | — | quotes keep coming, the heartbeat stops |
| crossed_market | targets: [OCC symbol or root] | those NBBOs are crossed/locked |
| wide_spreads | underlyings: [root] | quoted at the maximum legal width |
| venue_dark | venue | the feed stops quoting that venue |
| seq_gap | count | the feed skips that many sequence numbers once |
| venue_down | venue | the router marks the venue down (Toxiproxy ``down``); clearing it leaves hand marks |
| latency_spike | ms, jitter_ms | every order answer is that much slower (Toxiproxy ``latency``) |
| reject_storm | fraction | that share of good orders is rejected by the venue (Toxiproxy ``toxicity``) |

Unless the body says ``"silence": false`` (or ``drills.silence`` is off), an injected fault also
silences the incidents it is expected to open (``incident_types.DRILL_EXPECTS``) until
``drills.silence_grace_s`` after it is cleared: a drill is recorded and scored, not paged.
"""
from __future__ import annotations

import time

from flask import Blueprint, current_app, jsonify

from ..market import feedctl
from ..ops import silences
from ..ops.incident_types import DRILL_EXPECTS
from ..errors import ApiError, detail, unknown_names, validation_failed
from . import desk
from .audit import audit, object_body
from .auth import require_admin

bp = Blueprint("drills", __name__, url_prefix="/admin/drills")

FEED_FAULTS = ("feed_stall", "feed_freeze", "crossed_market", "wide_spreads", "venue_dark", "seq_gap")
SERVICE_FAULTS = ("venue_down", "latency_spike", "reject_storm")
DRILL_SILENCE_MAX_S = 6 * 3600  # a drill left running is unsilenced after this, cleared or not
#: Each fault's parameters (the table above), besides ``fault`` and ``silence``: any other key is a 422.
PARAMETERS = {"feed_stall": (), "feed_freeze": (), "crossed_market": ("targets",), "wide_spreads": ("underlyings",),
              "venue_dark": ("venue",), "seq_gap": ("count",), "venue_down": ("venue",),
              "latency_spike": ("ms", "jitter_ms"), "reject_storm": ("fraction",)}



def _bad(field: str, message: str) -> ApiError:
    return ApiError(422, "validation_failed", message, [detail(field, "BAD_DRILL", message)])


def _number(body: dict, name: str, low: float, high: float, default: float | None = None) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise _bad(name, f"{name} must be a number from {low} to {high}")
    return float(value)


def _venue(body: dict) -> str:
    venue = body.get("venue")
    if venue not in desk().router.venues:
        raise _bad("venue", f"venue must be one of {', '.join(desk().router.venues)}")
    return venue


def _list(body: dict, name: str) -> list[str]:
    value = body.get(name)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _bad(name, f"{name} must be a non-empty list of strings")
    return value


def _inject_feed(fault: str, body: dict, data_dir) -> None:
    current = feedctl.read_faults(data_dir)
    changes = {
        "feed_stall": lambda: {"stall": True},
        "feed_freeze": lambda: {"freeze_heartbeat": True},
        "crossed_market": lambda: {"crossed": sorted(current.crossed | set(_list(body, "targets")))},
        "wide_spreads": lambda: {"wide": sorted(current.wide | set(_list(body, "underlyings")))},
        "venue_dark": lambda: {"venues_dark": sorted(current.venues_dark | {_venue(body)})},
        "seq_gap": lambda: {"seq_gap": int(_number(body, "count", 1, 1_000_000, 5))},
    }[fault]()
    try:
        feedctl.write_faults(data_dir, **changes)
    except feedctl.FaultError as exc:
        raise _bad(exc.field, str(exc)) from None


def _inject_service(fault: str, body: dict) -> None:
    d = desk()
    if fault == "venue_down":
        d.mark_venue(_venue(body), up=False, by=fault)
    elif fault == "latency_spike":  # both checked before either is set: a refused drill changes nothing
        latency_ms, jitter_ms = _number(body, "ms", 0, 10_000, 250), _number(body, "jitter_ms", 0, 10_000, 0)
        d.faults.latency_ms, d.faults.jitter_ms = latency_ms, jitter_ms
    else:
        d.faults.reject_fraction = _number(body, "fraction", 0, 1, 0.5)


FEED_SWITCH = {"feed_stall": "stall", "feed_freeze": "freeze_heartbeat", "crossed_market": "crossed",
               "wide_spreads": "wide", "venue_dark": "venues_dark", "seq_gap": "seq_gap"}


def _clear(fault: str) -> None:
    d = desk()
    if fault in FEED_FAULTS:
        feedctl.clear_faults(d.config.data_dir, FEED_SWITCH[fault])
    elif fault == "venue_down":  # only the drill's marks: a venue also marked down by hand stays down
        for venue in d.router.marked_down(by=fault):
            d.mark_venue(venue, up=True, by=fault)
    elif fault == "latency_spike":
        d.faults.latency_ms = d.faults.jitter_ms = 0.0
    else:
        d.faults.reject_fraction = 0.0
    d.faults.injected_at.pop(fault, None)
    silences.end(d.config.data_dir, drill=fault, at=time.time() + d.config.drills.silence_grace_s)


def end_venue_down_if_unmarked(actor: str) -> None:
    """A venue marked up by hand loses the drill's mark too; once no venue is left marked by the drill, the
    drill is over, its silence included, or a real outage after it would open already silenced."""
    d = desk()
    if "venue_down" in d.faults.injected_at and not d.router.marked_down(by="venue_down"):
        _clear("venue_down")
        audit("drill.clear", "venue_down", actor=actor, reason="its venues were marked up by hand")


def _state() -> dict:
    d = desk()
    feed = feedctl.read_faults(d.config.data_dir).active()
    service = d.faults.active()
    drilled = d.router.marked_down(by="venue_down")  # not the venues marked down by hand
    if drilled:
        service["venue_down"] = {"venues": sorted(drilled)}
    return {"feed": feed, "service": service, "injected_at": dict(d.faults.injected_at),
            "faults": list(FEED_FAULTS + SERVICE_FAULTS)}


@bp.get("")
@require_admin
def list_drills():
    return jsonify(_state())


@bp.post("")
@require_admin
def inject():
    body = object_body()
    fault = body.get("fault")
    if fault not in FEED_FAULTS + SERVICE_FAULTS:
        raise _bad("fault", f"fault must be one of {', '.join(FEED_FAULTS + SERVICE_FAULTS)}")
    fields = ("fault", "silence", *PARAMETERS[fault])
    unknown = unknown_names(body, fields, "BAD_DRILL", f"a parameter of {fault}; it takes {', '.join(fields)}")
    if unknown:  # a misspelt parameter must not inject the fault at its default
        raise validation_failed(unknown)
    silence = body.get("silence", desk().config.drills.silence)
    if not isinstance(silence, bool):  # checked before the fault is injected: a refused drill changes nothing
        raise _bad("silence", "silence must be true or false")
    if fault in FEED_FAULTS:
        _inject_feed(fault, body, desk().config.data_dir)
    else:
        _inject_service(fault, body)
    now = time.time()
    desk().faults.injected_at[fault] = now
    if silence:  # a fresh one: the last may be ending, cleared less than silence_grace_s ago
        silences.end(desk().config.data_dir, drill=fault, at=now)
        silences.add(desk().config.data_dir, {"type": list(DRILL_EXPECTS[fault])}, now, now + DRILL_SILENCE_MAX_S,
                     "drill", f"drill {fault}: recorded and scored, not paged", drill=fault, now=now)
    audit("drill.inject", fault, details={k: v for k, v in body.items() if k != "fault"})
    current_app.logger.warning("drill injected: %s %s", fault, {k: v for k, v in body.items() if k != "fault"})
    return jsonify(_state()), 201


@bp.delete("/<fault>")
@require_admin
def clear_one(fault: str):
    if fault not in FEED_FAULTS + SERVICE_FAULTS:
        raise ApiError(404, "not_found", f"no fault {fault}", [detail("fault", "NOT_FOUND", fault)])
    _clear(fault)
    audit("drill.clear", fault)
    current_app.logger.warning("drill cleared: %s", fault)
    return jsonify(_state())


@bp.delete("")
@require_admin
def clear_all():
    for fault in FEED_FAULTS + SERVICE_FAULTS:
        _clear(fault)
    audit("drill.clear", "all")
    current_app.logger.warning("all drills cleared")
    return jsonify(_state())
