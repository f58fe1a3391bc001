"""Operations endpoints: /health, /livez, /readyz, /metrics, /quotes/status."""
from __future__ import annotations

import json

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ..ops.drills import log as drill_log
from ..ops.health import health_report
from ..timefmt import rfc3339
from . import desk
from .drill_runs import running_ids

bp = Blueprint("ops", __name__)


@bp.get("/health")
def health():
    status, body = health_report(desk())
    return Response(json.dumps(body), status=status, mimetype="application/health+json")


@bp.get("/livez")
def livez():
    """Liveness: the process answers. Never checks dependencies (a feed blip must not restart us)."""
    return Response(json.dumps({"status": "pass"}), mimetype="application/health+json")


@bp.get("/readyz")
def readyz():
    status, body = health_report(desk())
    return Response(json.dumps({"status": body["status"]}), status=status, mimetype="application/health+json")


@bp.get("/metrics")
def metrics():
    d = desk()
    _, report = health_report(d)  # pulls the snapshot in use too
    d.update_gauges()
    d.metrics.set_health(report["status"], report.get("checks"))
    d.metrics.set_drills(drill_log.history(d.config.data_dir, running=running_ids()))
    return Response(generate_latest(d.metrics.registry), content_type=CONTENT_TYPE_LATEST)


@bp.get("/quotes/status")
def quotes_status():
    """Feed freshness as the service sees it."""
    d = desk()
    d.quotes.pull()
    snap, hb = d.quotes.snapshot, d.quotes.heartbeat()
    cfg = d.config.monitor
    age = d.quotes.age()
    beat = d.quotes.beat_time(hb)
    hb_age = round(d.clock() - beat, 3) if beat is not None else None
    state = ("absent" if age is None else "stale" if age > cfg.feed_stale_after_s
             else "slow" if age > cfg.feed_warn_after_s else "fresh")
    return jsonify({
        "state": state, "snapshot_seq": snap.seq if snap else None, "snapshot_time": rfc3339(snap.ts) if snap else None,
        "snapshot_age_s": round(age, 3) if age is not None else None, "heartbeat": hb, "heartbeat_age_s": hb_age,
        "series": len(snap) if snap else 0, "locked_crossed": snap.locked_crossed if snap else 0,
        "venues_down": sorted(snap.venues_down) if snap else [], "missed_trades": d.quotes.missed_trades,
        "read_errors": d.quotes.read_errors, "last_error": d.quotes.last_error,
        "unusable_series": snap.unusable if snap else 0, "stale_after_s": cfg.feed_stale_after_s, "warn_after_s": cfg.feed_warn_after_s,
    })
