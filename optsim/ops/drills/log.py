"""The drill log: ``drills.jsonl``, one line when a drill run starts and one when it ends, never rewritten.

A run's result carries its phase times, each measured from the moment the fault was injected:
time to detect (the expected incident opened), to acknowledge, to mitigate (the fault cleared) and to
resolve (the incident resolved). ``history`` folds the log into each drill's last runs and medians
(medians, not means: drill samples are few and heavy-tailed). A run that started and never ended
(the service was killed mid-drill) shows as ``interrupted``.
"""
from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

from ... import filelock

FILE = "drills.jsonl"
TIMES = ("ttd_s", "tta_s", "ttm_s", "ttr_s")


def append(data_dir, record: dict) -> None:
    """One line, one ``os.write`` on an O_APPEND descriptor, fsynced: a run's result survives a kill."""
    path = Path(data_dir) / FILE
    line = (json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n").encode()
    with filelock.locked_beside(path, exclusive=True):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)


def runs(data_dir, running: set[str] = frozenset()) -> list[dict]:
    """Every run, oldest first: its finish record, else its start record marked running or interrupted."""
    path = Path(data_dir) / FILE
    try:
        lines = path.read_bytes().split(b"\n")
    except FileNotFoundError:
        return []
    by_id: dict[str, dict] = {}
    for raw in lines:
        try:
            rec = json.loads(raw) if raw.strip() else None
        except (ValueError, RecursionError):
            continue
        if not (isinstance(rec, dict) and isinstance(rec.get("run_id"), str) and isinstance(rec.get("drill"), str)):
            continue
        if rec.get("event") == "finish" or rec["run_id"] not in by_id:
            by_id[rec["run_id"]] = rec
    out = []
    for rec in by_id.values():
        if rec.get("event") != "finish":
            rec = {**rec, "status": "running" if rec["run_id"] in running else "interrupted"}
        out.append(rec)
    return out


def _median(values: list) -> float | None:
    nums = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return round(statistics.median(nums), 3) if nums else None


def history(data_dir, *, drill: str | None = None, last: int = 10, running: set[str] = frozenset()) -> dict:
    """Per drill: the last ``last`` runs (newest first), pass/fail counts and the median of each time."""
    grouped: dict[str, list[dict]] = {}
    for rec in runs(data_dir, running):
        if drill is None or rec["drill"] == drill:
            grouped.setdefault(rec["drill"], []).append(rec)
    drills = []
    for name, recs in sorted(grouped.items()):
        recent = recs[-last:][::-1]
        drills.append({
            "drill": name, "title": recent[0].get("title", name), "runs": recent, "total": len(recs),
            "passed": sum(r.get("status") == "passed" for r in recs),
            "failed": sum(r.get("status") in ("failed", "aborted", "interrupted") for r in recs),
            "medians": {t: _median([r.get(t) for r in recs[-last:] if r.get("status") == "passed"]) for t in TIMES},
        })
    return {"drills": drills, "count": len(drills)}
