"""Health in the IETF health-check draft's shape: pass / warn / fail with one entry per check.

fail (503) = the service cannot route safely: feed stale or absent, the snapshot it trades on stale or
absent or wholly unusable, every venue down, database gone.
warn (200) = it can, with a concern: one venue down, feed slow, the newest snapshot on disk refused (an
older one still in use), unusable series, a locked/crossed market, a risk limit at its edge, trading not
ACTIVE. The heartbeat alone proves only that the feed process lives; the snapshot checks judge what
orders are priced against.
"""
from __future__ import annotations

import shutil
import time
from typing import Any

from .. import __version__
from ..timefmt import rfc3339

RANK = {"pass": 0, "warn": 1, "fail": 2}


def _check(component: str, value: Any, status: str, unit: str | None = None, output: str | None = None,
           ctype: str = "component", now: float | None = None) -> list[dict]:
    entry = {"componentId": component, "componentType": ctype, "observedValue": value, "status": status,
             "time": rfc3339(now or time.time())}
    if unit:
        entry["observedUnit"] = unit
    if output and status != "pass":
        entry["output"] = output
    return [entry]


def _disk_check(cfg, now: float) -> list[dict]:
    """Free space where orders.db and incidents.jsonl live: fail below the floor, warn below four times it."""
    floor = cfg.service.min_free_disk_mb
    try:
        free = round(shutil.disk_usage(cfg.data_dir).free / 2**20, 1)
    except OSError as exc:
        return _check("disk", None, "fail", "MiB", f"cannot stat the data dir: {exc}", "system", now)
    status = "fail" if free < floor else "warn" if free < 4 * floor else "pass"
    return _check("disk", free, status, "MiB", f"{free} MiB free in {cfg.data_dir} (fails below {floor} MiB)",
                  "system", now)


def snapshot_checks(desk, now: float) -> dict[str, list[dict]]:
    """The snapshot orders trade on: its age, whether the newest one on disk was refused, unusable series."""
    mon, book = desk.config.monitor, desk.quotes
    snap, age = book.snapshot, book.age()
    checks = {}
    if age is None:
        why = book.last_error or "the feed has not published a snapshot"
        checks["nbbo-feed:snapshotAge"] = _check("nbbo-feed", None, "fail", "s", f"no usable snapshot: {why}", now=now)
    else:
        age = round(age, 3)
        status = "fail" if age > mon.feed_stale_after_s else "warn" if age > mon.feed_warn_after_s else "pass"
        checks["nbbo-feed:snapshotAge"] = _check(
            "nbbo-feed", age, status, "s", f"snapshot seq {snap.seq} in use is {age:.1f}s old "
            f"(stale after {mon.feed_stale_after_s}s)" + (f"; newest refused: {book.last_error}" if book.last_error else ""),
            now=now)
    checks["nbbo-feed:snapshotValidity"] = _check(
        "nbbo-feed", book.read_errors, "warn" if book.last_error else "pass", None,
        f"newest snapshot not taken: {book.last_error}", now=now)
    unusable, series = (snap.unusable, len(snap)) if snap else (0, 0)
    status = "fail" if snap and unusable == series else "warn" if unusable else "pass"  # no usable series: fail
    note = (f"{unusable} of {series} series refused (bad prices or shape)" if series or not snap
            else f"snapshot seq {snap.seq} lists no series: nothing can be priced")
    checks["nbbo-feed:unusableSeries"] = _check("nbbo-feed", unusable, status, None, note, now=now)
    return checks


def health_report(desk) -> tuple[int, dict]:
    """(HTTP status, body) for GET /health."""
    desk.quotes.pull()  # the snapshot in use, not the last one an order happened to load
    cfg, now = desk.config, desk.clock()
    mon = cfg.monitor
    checks: dict[str, list[dict]] = {}

    hb_ts = desk.quotes.beat_time(desk.quotes.heartbeat())
    if hb_ts is None:
        snap = desk.quotes.snapshot
        hb_ts = snap.ts if snap else None
    if hb_ts is None:
        checks["nbbo-feed:heartbeatAge"] = _check("nbbo-feed", None, "fail", "s", "no feed heartbeat yet", now=now)
    else:
        age = round(max(0.0, now - hb_ts), 3)
        status = "fail" if age > mon.feed_stale_after_s else "warn" if age > mon.feed_warn_after_s else "pass"
        checks["nbbo-feed:heartbeatAge"] = _check(
            "nbbo-feed", age, status, "s", f"heartbeat {age:.1f}s old (stale after {mon.feed_stale_after_s}s)", now=now)
    checks.update(snapshot_checks(desk, now))
    snap = desk.quotes.snapshot
    crossed = snap.locked_crossed if snap else 0
    checks["nbbo-feed:lockedCrossed"] = _check("nbbo-feed", crossed, "warn" if crossed else "pass", None,
                                               f"{crossed} series locked or crossed", now=now)

    routes = desk.router.status()
    for venue, up in routes.items():
        checks[f"route-{venue}:connections"] = _check(venue, 1 if up else 0, "pass" if up else "warn", None,
                                                      f"venue {venue} is down", now=now)
    if routes and not any(routes.values()):
        for venue in routes:
            checks[f"route-{venue}:connections"][0]["status"] = "fail"

    util = desk.risk_utilization()
    state = desk.risk.state.value
    worst = max(util.values(), default=0.0)
    checks["risk:utilization"] = _check("risk", round(worst, 4), "warn" if worst >= mon.risk_utilization_threshold
                                        else "pass", "ratio", f"a risk limit is at {worst:.0%}", now=now)
    checks["risk:tradingState"] = _check("risk", state, "pass" if state == "ACTIVE" else "warn", None,
                                         f"trading state is {state}", now=now)

    started = time.perf_counter()
    try:
        desk.store.ping()
        ms = round((time.perf_counter() - started) * 1000, 3)
        checks["orders-db:responseTime"] = _check("orders-db", ms, "pass", "ms", ctype="datastore", now=now)
    except Exception as exc:  # any database failure is a failed check, never a 500
        checks["orders-db:responseTime"] = _check("orders-db", None, "fail", "ms", str(exc), "datastore", now)
    integrity = desk.store.integrity
    checks["orders-db:integrity"] = _check("orders-db", integrity == "ok", "pass" if integrity == "ok" else "fail",
                                           None, f"PRAGMA quick_check at start: {integrity}", "datastore", now)
    checks["disk:freeSpace"] = _disk_check(cfg, now)
    checks["fillsim:engine"] = _check("fillsim", desk.execution.engine, "pass", now=now)

    overall = max((entry[0]["status"] for entry in checks.values()), key=RANK.__getitem__)
    body = {"status": overall, "version": __version__, "serviceId": "optsim",
            "description": "options order-routing simulator", "checks": checks}
    if overall != "pass":
        body["notes"] = [f"{name}: {entry[0].get('output', entry[0]['status'])}" for name, entry in checks.items()
                         if entry[0]["status"] != "pass"]
    return (503 if overall == "fail" else 200), body
