"""The one JSON the dashboard polls (``GET /api/summary``), built at a cost that does not grow with history.

Order numbers come from counters the desk keeps as orders happen and change status (``desk.stats``);
incidents from IncidentLog's cached fold; latency percentiles from a
bounded ring of samples. Nothing here rereads every order or every incident line.
"""
from __future__ import annotations

import math
import time

from incident_logger import IncidentLog

from . import silences
from .health import health_report
from .stats import LATENCY_BUCKET_S
from ..timefmt import rfc3339

INCIDENT_WINDOW_S = 30 * 60  # incidents-by-type chart: the last half hour ...
INCIDENT_BUCKET_S = 60.0  # ... per minute
RESOLVED_SHOWN = 10  # resolved incidents kept in the table under the unresolved ones
RECENT_SCANNED = 500  # newest incidents looked at for the chart


def build_summary(desk, ilog: IncidentLog, now: float | None = None) -> dict:
    now = time.time() if now is None else now
    http_status, health = health_report(desk)
    return {
        "generated_at": rfc3339(now),
        "health": _health(http_status, health),
        "feed": _feed(desk, health),
        "venues": _venues(desk),
        "trading_state": health["checks"]["risk:tradingState"][0]["observedValue"],
        "risk_utilization": _risk(desk),
        "orders": _orders(desk),
        "latency": {"bucket_s": LATENCY_BUCKET_S, "slo_p99_s": desk.config.monitor.latency_slo_p99_s,
                    "series": desk.stats.latency_series(now)},
        "incidents": _incidents(ilog, now, [s for s in silences.load(desk.config.data_dir) if s.state(now) == "active"]),
    }


def _health(http_status: int, body: dict) -> dict:
    checks = {name: {k: entry[0].get(k) for k in ("status", "observedValue", "observedUnit", "output")}
              for name, entry in body["checks"].items()}
    return {"status": body["status"], "http_status": http_status, "checks": checks}


def _feed(desk, health: dict) -> dict:
    check = health["checks"]["nbbo-feed:heartbeatAge"][0]
    snap, mon = desk.quotes.snapshot, desk.config.monitor
    return {"heartbeat_age_s": check["observedValue"], "status": check["status"],
            "warn_after_s": mon.feed_warn_after_s, "stale_after_s": mon.feed_stale_after_s,
            "seq": snap.seq if snap else None, "series": len(snap) if snap else 0,
            "locked_crossed": snap.locked_crossed if snap else 0}


def _venues(desk) -> list[dict]:
    marked = desk.router.marked_down()
    return [{"venue": name, "up": up, "marked_down": name in marked} for name, up in desk.router.status().items()]


def _risk(desk) -> dict:
    return {limit: round(ratio, 4) for limit, ratio in desk.risk_utilization().items()}


def _orders(desk) -> dict:
    snap = desk.stats.snapshot()
    status = snap["orders_by_status"]
    filled, rejected, cancelled = (status.get(k, 0) for k in ("filled", "rejected", "cancelled"))
    closed = filled + rejected + cancelled
    return {
        "by_underlying": snap["orders_by_underlying"], "by_venue": snap["orders_by_venue"],
        "by_outcome": snap["orders_by_outcome"], "by_status": status,
        "open": desk.working_count, "reject_reasons": snap["reject_reasons"],
        "fills": sum(snap["fills_by_venue"].values()), "contracts": sum(snap["contracts_by_venue"].values()),
        "fills_by_venue": snap["fills_by_venue"], "contracts_by_venue": snap["contracts_by_venue"],
        "fill_rate": round(filled / closed, 4) if closed else None,
    }


def runbook_href(anchor: str) -> str:
    """``runbook.md#feed-stale`` -> ``/runbook#feed-stale`` (the service renders the runbook)."""
    return "/runbook#" + anchor.partition("#")[2]


def _row(inc, now: float, active: list) -> dict:
    silence = silences.matching(active, inc.labels(), now) if inc.unresolved else None
    return {"silenced_by": silence.silence_id if silence else None, "signals": len(inc.signal_keys()),"incident_id": inc.incident_id, "type": inc.type, "severity": inc.severity, "status": inc.status,
            "summary": inc.summary, "source": inc.source, "count": inc.count,
            "opened_at": rfc3339(inc.opened_at), "age_s": round(max(0.0, now - inc.opened_at), 1),
            "acknowledged_by": inc.acknowledged_by, "resolved_by": inc.resolved_by,
            "runbook": runbook_href(inc.to_dict()["runbook"])}


def _incidents(ilog: IncidentLog, now: float, active: list) -> dict:
    # newest first; two opened in the same millisecond keep their log order (ids count up)
    unresolved = sorted(ilog.open_incidents(), key=lambda i: (i.opened_at, i.incident_id), reverse=True)
    resolved = ilog.incidents(status="resolved", limit=RESOLVED_SHOWN)
    by_severity = {sev: 0 for sev in ("SEV1", "SEV2", "SEV3", "SEV4")}
    for inc in unresolved:
        by_severity[inc.severity] = by_severity.get(inc.severity, 0) + 1
    start = math.floor((now - INCIDENT_WINDOW_S) / INCIDENT_BUCKET_S) * INCIDENT_BUCKET_S
    buckets = int(math.ceil((now - start) / INCIDENT_BUCKET_S))
    by_type: dict[str, list[int]] = {}
    for inc in ilog.incidents(since=start, limit=RECENT_SCANNED):
        if inc.opened_at >= start:
            slot = min(buckets - 1, int((inc.opened_at - start) // INCIDENT_BUCKET_S))
            by_type.setdefault(inc.type, [0] * buckets)[slot] += 1
    return {
        "open_by_severity": by_severity, "open": len(unresolved),
        "totals": ilog.counts(),
        "table": [_row(inc, now, active) for inc in unresolved + resolved],
        "skipped_records": ilog.skipped,
        "over_time": {"start": start, "bucket_s": INCIDENT_BUCKET_S, "buckets": buckets, "by_type": by_type},
    }
