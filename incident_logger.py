"""The incident log: ``incidents.jsonl``, one JSON record per incident state change, never rewritten.

An incident's current state is the fold of its records (trigger → update* → acknowledge? → resolve).
Several processes append at once (the service and the monitor), so every record is one ``os.write``
on an ``O_APPEND`` descriptor under an exclusive ``flock`` on ``incidents.jsonl.lock``, then
``fsync``. Incident ids (``INC-YYYYMMDD-NNNN``) are derived under that same lock, so two writers never
hand out the same id. Readers take the shared lock, read rotated files oldest first, skip torn or
corrupt lines (reported once with file and line number) and keep an in-process fold that is only
extended by the bytes appended since the last look, keyed on the current file's (inode, size).

Run ``python incident_logger.py --help`` for the triage CLI (list, show, ack, resolve, tail).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import os
import re
import sqlite3
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, NamedTuple

from optsim import filelock
from optsim.ops.incident_types import SEVERITIES, runbook_anchor  # noqa: F401 - part of this module's API
from optsim.timefmt import parse_time, rfc3339  # noqa: F401 - part of this module's API

log = logging.getLogger("incident_logger")

SCHEMA = 1
STATUSES = ("open", "acknowledged", "resolved")
STATES = {"unresolved": ("open", "acknowledged"), **{s: (s,) for s in STATUSES}, "all": STATUSES}
ACTIONS = ("trigger", "update", "acknowledge", "resolve", "notify")
LATEST_TIME = 253402300799.0  # 9999-12-31T23:59:59Z: a record stamped outside 1970..9999 is poison, not a time
RESOLUTIONS = ("auto", "manual")
LOG_NAME = "incidents.jsonl"
_TYPE_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_ID_RE = re.compile(r"INC-(\d{8})-(\d+)")


class IncidentLogError(Exception):
    """A request the log refuses (unknown incident, wrong state)."""


class IncidentNotFound(IncidentLogError):
    pass


class IncidentAlreadyResolved(IncidentLogError):
    pass


# ------------------------------------------------------------------ the folded incident
@dataclass
class Incident:
    """Current state of one incident, folded from its records (``events``, oldest first)."""

    incident_id: str
    dedup_key: str
    type: str
    severity: str
    status: str
    source: str
    summary: str
    details: dict
    opened_at: float
    updated_at: float
    last_seen: float
    count: int = 1
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    resolved_by: str | None = None
    resolved_at: float | None = None
    resolution: str | None = None
    note: str | None = None
    signals: dict[str, dict] = field(default_factory=dict)  # key -> signal with first_seen/last_seen/active
    notifications: list[dict] = field(default_factory=list)  # what was sent (or silenced, or failed), oldest first
    events: list[dict] = field(default_factory=list, repr=False)

    @property
    def unresolved(self) -> bool:
        return self.status != "resolved"

    @property
    def escalation_level(self) -> int:
        """How far re-notification has escalated (0 = first responder)."""
        return max((n.get("level", 0) for n in self.notifications if n.get("outcome") != "silenced"), default=0)

    @property
    def last_notified_at(self) -> float | None:
        sent = [n["ts"] for n in self.notifications if n.get("outcome") in ("sent", "failed")]
        return max(sent) if sent else None

    def labels(self) -> dict[str, set[str]]:
        """What silences match on: the type, and every venue / underlying the incident or its signals name."""
        out: dict[str, set[str]] = {"type": {self.type}, "venue": set(), "underlying": set()}
        for key in ("venue", "underlying"):
            if isinstance(self.details.get(key), str):
                out[key].add(self.details[key])
            for sig in self.signals.values():
                value = (sig.get("labels") or {}).get(key)
                if isinstance(value, str):
                    out[key].add(value)
        out["venue"].update(v for v in self.details.get("venues_down") or () if isinstance(v, str))
        return out

    def apply(self, rec: dict, ts: float) -> None:
        action = rec["action"]
        if action == "notify":
            note = rec["notification"]
            self.notifications.append({**note, "ts": ts})
            self.events.append(rec)
            return
        self.status, self.severity, self.type = rec["status"], rec["severity"], rec["type"]
        self.summary, self.details = rec.get("summary", self.summary), rec.get("details") or {}
        self.updated_at = ts
        if action in ("trigger", "update"):
            self.count = _int(rec.get("count"), self.count + (action == "update"))
            self.last_seen = _epoch(rec.get("last_seen"), ts)
            if "signals" in rec:
                self._signals(rec["signals"], ts)
        elif action == "acknowledge":
            self.acknowledged_by, self.acknowledged_at = rec.get("actor"), ts
            self.note = rec.get("note") or self.note
        elif action == "resolve":
            self.resolved_by, self.resolved_at = rec.get("actor"), ts
            self.resolution, self.note = rec.get("resolution"), rec.get("note") or self.note
            self._signals([], ts)
        self.events.append(rec)

    def _signals(self, firing: list[dict], ts: float) -> None:
        """Fold one record's firing signals: new ones start, missing ones clear (the signal timeline)."""
        now = {s["key"]: {k: s[k] for k in ("key", "type", "severity", "summary", "labels") if k in s}
               for s in firing}
        for key, sig in now.items():
            known = self.signals.get(key)
            if known is None or not known["active"]:
                self.signals[key] = {**sig, "first_seen": ts, "last_seen": ts, "active": True, "cleared_at": None}
            else:
                known.update(sig, last_seen=ts)
        for key, sig in self.signals.items():
            if key not in now and sig["active"]:
                sig.update(active=False, cleared_at=ts)

    def signal_keys(self) -> frozenset[str]:
        return frozenset(k for k, s in self.signals.items() if s["active"])

    def to_dict(self, with_events: bool = False) -> dict:
        out = {"incident_id": self.incident_id, "dedup_key": self.dedup_key, "type": self.type,
               "severity": self.severity, "status": self.status, "source": self.source,
               "summary": self.summary, "details": self.details, "count": self.count,
               "opened_at": rfc3339(self.opened_at), "updated_at": rfc3339(self.updated_at),
               "last_seen": rfc3339(self.last_seen),
               "acknowledged_by": self.acknowledged_by,
               "acknowledged_at": rfc3339(self.acknowledged_at) if self.acknowledged_at else None,
               "resolved_by": self.resolved_by,
               "resolved_at": rfc3339(self.resolved_at) if self.resolved_at else None,
               "resolution": self.resolution, "note": self.note, "runbook": runbook_anchor(self.type),
               "signals": [{**s, "first_seen": rfc3339(s["first_seen"]), "last_seen": rfc3339(s["last_seen"]),
                            "cleared_at": rfc3339(s["cleared_at"])} for s in self.signals.values()],
               "escalation_level": self.escalation_level,
               "notifications": [{**n, "ts": rfc3339(n["ts"])} for n in self.notifications]}
        if with_events:
            out["events"] = list(self.events)
        return out


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def sane_time(value: Any) -> float:
    """Epoch seconds of a record time; ValueError for anything outside 1970..9999 (NaN, 1e300, -1e18)."""
    ts = parse_time(value)
    if not 0.0 <= ts <= LATEST_TIME:  # NaN fails both comparisons
        raise ValueError(f"time {value!r} is outside 1970..9999")
    return ts


def _epoch(value: Any, default: float) -> float:
    try:
        return sane_time(value)
    except (TypeError, ValueError, OverflowError):
        return default


def _finite(obj: Any) -> bool:
    """No NaN or infinity anywhere in a parsed record (Python's json accepts them; browsers do not)."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return False
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def _record_problem(obj: Any) -> str | None:
    """Why a parsed line is not a usable record, or None when it is."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    for key in ("incident_id", "dedup_key", "type", "summary"):
        if not isinstance(obj.get(key), str):
            return f"missing or non-string {key!r}"
    if obj.get("action") not in ACTIONS:
        return f"unknown action {obj.get('action')!r}"
    if obj.get("status") not in STATUSES:
        return f"unknown status {obj.get('status')!r}"
    if obj.get("severity") not in SEVERITIES:
        return f"unknown severity {obj.get('severity')!r}"
    if obj.get("details") is not None and not isinstance(obj["details"], dict):
        return "details is not an object"
    signals = obj.get("signals", [])
    if not (isinstance(signals, list) and all(isinstance(s, dict) and isinstance(s.get("key"), str) for s in signals)):
        return "signals is not a list of objects with a key"
    if not all(isinstance(s.get("labels", {}), dict) for s in signals):
        return "a signal's labels is not an object"
    note = obj.get("notification")
    if obj["action"] == "notify" and not (isinstance(note, dict) and type(note.get("level", 0)) is int):
        return "notify record without a notification object and integer level"
    try:
        sane_time(obj.get("ts"))
    except (TypeError, ValueError, OverflowError):
        return f"bad ts {str(obj.get('ts'))[:40]!r}"
    if not _finite(obj):
        return "NaN or infinity in the record"
    return None


class LineProblem(NamedTuple):
    file: str
    lineno: int
    reason: str


class Change(NamedTuple):
    """What ``trigger`` did: action is "trigger", "update", or None when nothing material changed."""

    action: str | None
    incident: Incident


# ------------------------------------------------------------------ the log
class IncidentLog:
    """Append, fold, query and rotate ``incidents.jsonl``; safe with several writer processes.

    Parameters
    ----------
    path : the log file (``<data_dir>/incidents.jsonl``); its directory is created on first write.
    source : who this writer is ("monitor", "service", "cli"), stamped on every record it writes.
    rotate_bytes, keep_rotated : rotate to ``.1`` … ``.keep_rotated`` when the file would pass this size.
    update_every_s : a repeat detection with nothing material changed is written at most this often.
    clock : epoch seconds; injectable for tests.
    """

    def __init__(self, path: str | os.PathLike, *, source: str = "service", rotate_bytes: int = 16 * 1024 * 1024,
                 keep_rotated: int = 5, update_every_s: float = 60.0, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.source = source
        self.rotate_bytes, self.keep_rotated = rotate_bytes, keep_rotated
        self.update_every_s = update_every_s
        self._clock = clock
        self._mutex = threading.RLock()
        self._unwritten: dict[str, int] = {}  # incident_id -> repeat detections not yet written
        self._reported: set[LineProblem] = set()
        self._reset()

    @classmethod
    def from_config(cls, config, source: str = "service", **kwargs) -> "IncidentLog":
        """The log in ``config.data_dir`` with the rotation settings of ``config.incidents``."""
        inc = config.incidents
        return cls(config.data_dir / LOG_NAME, source=source, rotate_bytes=inc.rotate_bytes,
                   keep_rotated=inc.keep_rotated, update_every_s=inc.update_every_s, **kwargs)

    # -------------------------------------------------------------- queries
    def get(self, incident_id: str) -> Incident | None:
        with self._reading():
            return self._incidents.get(incident_id)

    def find_open(self, dedup_key: str) -> Incident | None:
        """The unresolved incident holding ``dedup_key``, if any."""
        with self._reading():
            iid = self._unresolved.get(dedup_key)
            return self._incidents[iid] if iid else None

    def open_incidents(self) -> list[Incident]:
        """Unresolved (open or acknowledged) incidents, oldest first."""
        with self._reading():
            return [self._incidents[iid] for iid in self._unresolved.values()]

    def incidents(self, *, status: str | None = None, type: str | None = None, since: float | None = None,
                  until: float | None = None, limit: int | None = None, state: str | None = None,
                  severity: frozenset[str] | set[str] | None = None,
                  types: frozenset[str] | set[str] | None = None) -> list[Incident]:
        """Newest first. ``since``/``until`` (epoch s) keep incidents active in that window:
        opened before ``until`` and updated at or after ``since``. ``state`` is a key of ``STATES``
        ("unresolved" = open or acknowledged); ``severity`` and ``types`` keep any of the given values."""
        statuses = STATES[state] if state else None
        with self._reading():
            found = []
            for inc in reversed(self._incidents.values()):
                if ((status and inc.status != status) or (type and inc.type != type)
                        or (statuses and inc.status not in statuses) or (severity and inc.severity not in severity)
                        or (types and inc.type not in types)
                        or (since is not None and inc.updated_at < since)
                        or (until is not None and inc.opened_at >= until)):
                    continue
                found.append(inc)
                if limit is not None and len(found) >= limit:
                    break
            return found

    def counts(self) -> dict[str, dict[str, int]]:
        """Incidents counted by type, by severity and by status."""
        out: dict[str, dict[str, int]] = {"by_type": {}, "by_severity": {}, "by_status": {}}
        with self._reading():
            for inc in self._incidents.values():
                for bucket, key in (("by_type", inc.type), ("by_severity", inc.severity), ("by_status", inc.status)):
                    out[bucket][key] = out[bucket].get(key, 0) + 1
        return out

    @property
    def skipped(self) -> int:
        """How many torn, corrupt or poisoned lines the fold is skipping (quarantined, never folded)."""
        with self._reading():
            return len(self._problems)

    @property
    def problems(self) -> list[LineProblem]:
        """Torn or corrupt lines skipped by the last read, with file name and 1-based line number."""
        with self._reading():
            return sorted(self._problems.values())

    def files(self) -> list[Path]:
        """Rotated files oldest first, then the live file (only those that exist)."""
        paths = [self._rotated(k) for k in range(self.keep_rotated, 0, -1)] + [self.path]
        return [p for p in paths if p.exists()]

    # -------------------------------------------------------------- writes
    def trigger(self, dedup_key: str, type: str, severity: str, summary: str, details: dict | None = None,
                *, actor: str | None = None, signals: list[dict] | None = None) -> Change:
        """Open an incident for ``dedup_key``, or record a repeat detection on the unresolved one.

        ``signals`` are the grouped signals firing now (``{"key", "type", "severity", "summary", "labels"}``).
        A repeat is written as an ``update`` only when the type, severity, ``details["band"]`` or the set of
        firing signals changed or ``update_every_s`` has passed; otherwise it is counted in memory and
        folded into the next update.
        """
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}")
        if not _TYPE_RE.fullmatch(type):
            raise ValueError("type must be lower_snake_case")
        details = dict(details or {})
        extra = {"signals": list(signals)} if signals is not None else {}
        with self._writing() as write:
            now = self._clock()
            existing = self._incidents.get(self._unresolved.get(dedup_key, ""))
            if existing is None:
                inc_id = self._next_id(now)
                write(self._record(inc_id, dedup_key, "trigger", "open", type, severity, summary, details, now,
                                   actor, count=1, last_seen=rfc3339(now), **extra))
                return Change("trigger", self._incidents[inc_id])
            iid = existing.incident_id
            repeats = self._unwritten.get(iid, 0) + 1
            material = (severity != existing.severity or type != existing.type
                        or details.get("band") != existing.details.get("band")
                        or (signals is not None and frozenset(s["key"] for s in signals) != existing.signal_keys()))
            if not material and now - existing.updated_at < self.update_every_s:
                self._unwritten[iid] = repeats
                return Change(None, existing)
            write(self._record(iid, dedup_key, "update", existing.status, type, severity, summary, details, now,
                               actor, count=existing.count + repeats, last_seen=rfc3339(now), **extra))
            self._unwritten.pop(iid, None)
            return Change("update", self._incidents[iid])

    def acknowledge(self, incident_id: str, *, actor: str, note: str = "") -> Incident:
        """Someone owns it. Acknowledging an acknowledged incident changes nothing."""
        with self._writing() as write:
            inc = self._changeable(incident_id)
            if inc.status == "acknowledged":
                return inc
            write(self._record(inc.incident_id, inc.dedup_key, "acknowledge", "acknowledged", inc.type, inc.severity,
                               inc.summary, inc.details, self._clock(), actor, note=note))
            return self._incidents[incident_id]

    def resolve(self, incident_id: str, *, actor: str, note: str = "", resolution: str = "manual") -> Incident:
        """Close it for good; a later trigger on the same dedup key opens a new incident."""
        if resolution not in RESOLUTIONS:
            raise ValueError(f"resolution must be one of {RESOLUTIONS}")
        with self._writing() as write:
            inc = self._changeable(incident_id)
            write(self._record(inc.incident_id, inc.dedup_key, "resolve", "resolved", inc.type, inc.severity,
                               inc.summary, inc.details, self._clock(), actor, note=note, resolution=resolution,
                               count=inc.count + self._unwritten.pop(incident_id, 0)))
            return self._incidents[incident_id]

    def notify(self, incident_id: str, notification: dict) -> Incident:
        """Record a notification about an incident (``event``, ``outcome`` sent/failed/silenced, ``level`` ...).

        Its state is unchanged; the record makes re-notify and escalation survive a monitor restart.
        """
        with self._writing() as write:
            inc = self._incidents.get(incident_id)
            if inc is None:
                raise IncidentNotFound(f"no incident {incident_id}")
            write(self._record(inc.incident_id, inc.dedup_key, "notify", inc.status, inc.type, inc.severity,
                               inc.summary, inc.details, self._clock(), None, notification=notification))
            return self._incidents[incident_id]

    def _changeable(self, incident_id: str) -> Incident:
        inc = self._incidents.get(incident_id)
        if inc is None:
            raise IncidentNotFound(f"no incident {incident_id}")
        if not inc.unresolved:
            raise IncidentAlreadyResolved(f"{incident_id} is already resolved")
        return inc

    def _record(self, incident_id, dedup_key, action, status, type, severity, summary, details, now, actor,
                **extra) -> dict:
        rec = {"schema": SCHEMA, "event_id": str(uuid.uuid4()), "incident_id": incident_id, "dedup_key": dedup_key,
               "action": action, "status": status, "type": type, "severity": severity, "summary": summary,
               "details": details, "source": self.source, "actor": actor or self.source, "ts": rfc3339(now),
               "runbook": runbook_anchor(type)}
        rec.update({k: v for k, v in extra.items() if v not in (None, "")})
        return rec

    def _next_id(self, now: float) -> str:
        day = dt.datetime.fromtimestamp(now, dt.timezone.utc).strftime("%Y%m%d")
        return f"INC-{day}-{self._day_seq.get(day, 0) + 1:04d}"

    # -------------------------------------------------------------- locking and I/O
    @contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        if exclusive:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except (FileNotFoundError, PermissionError):
            if exclusive:
                raise
            fd = None  # nothing written yet, or a read-only directory: read without the lock
        try:
            if fd is not None:
                filelock.lock(fd, exclusive)
            yield
        finally:
            if fd is not None:
                filelock.unlock(fd)
                os.close(fd)

    @contextmanager
    def _reading(self) -> Iterator[None]:
        with self._mutex, self._locked(exclusive=False):
            self._refresh()
            yield

    @contextmanager
    def _writing(self) -> Iterator[Callable[[dict], None]]:
        with self._mutex, self._locked(exclusive=True):
            self._refresh()
            yield self._write

    def _write(self, record: dict) -> None:
        """One ``os.write`` of one line, after rotation if due; the fold is then extended by re-reading."""
        line = (json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
        self._rotate_if_due(len(line))
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # a torn last line (crash mid-write) stays on its own line
            if os.write(fd, line) != len(line):
                raise OSError(f"short write to {self.path}")
            os.fsync(fd)
        finally:
            os.close(fd)
        self._refresh()

    def _rotated(self, k: int) -> Path:
        return self.path.with_name(f"{self.path.name}.{k}")

    def _rotate_if_due(self, incoming: int) -> None:
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            return
        if size == 0 or size + incoming <= self.rotate_bytes:
            return
        if self.keep_rotated == 0:
            os.unlink(self.path)
        else:
            self._rotated(self.keep_rotated).unlink(missing_ok=True)
            for k in range(self.keep_rotated - 1, 0, -1):
                if self._rotated(k).exists():
                    os.replace(self._rotated(k), self._rotated(k + 1))
            os.replace(self.path, self._rotated(1))
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _reset(self) -> None:
        self._incidents: dict[str, Incident] = {}
        self._unresolved: dict[str, str] = {}  # dedup_key -> incident_id
        self._day_seq: dict[str, int] = {}
        self._problems: dict[tuple[str, int], LineProblem] = {}
        self._inode: int | None = None
        self._offset = 0
        self._lineno = 0
        self._signature: tuple[int, int] | None = None

    def _refresh(self) -> None:
        """Bring the fold up to date: only new bytes of the live file, or everything after a rotation."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            st = None
        signature = (st.st_ino, st.st_size) if st else None
        if signature is not None and signature == self._signature:
            return
        if st is None or st.st_ino != self._inode or st.st_size < self._offset:
            self._reset()
            for rotated in self.files()[:-1] if st else self.files():
                self._read(rotated, 0, 0)
            if st is None:
                return
            self._inode = st.st_ino
        self._offset, self._lineno = self._read(self.path, self._offset, self._lineno)
        self._signature = signature

    def _read(self, path: Path, offset: int, lineno: int) -> tuple[int, int]:
        """Fold complete lines from ``offset``; return the offset and line number reached.

        A last line without its newline is reported as torn and left unconsumed, so a later read sees
        it again once a writer has ended it.
        """
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                data = fh.read()
        except FileNotFoundError:
            return offset, lineno
        *lines, tail = data.split(b"\n")
        for raw in lines:
            lineno += 1
            offset += len(raw) + 1
            if raw.strip():
                self._ingest(raw, path, lineno)
        if tail.strip():
            self._problem(path, lineno + 1, "torn line (no newline at end of file)")
        return offset, lineno

    def _ingest(self, raw: bytes, path: Path, lineno: int) -> None:
        try:
            rec = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            self._problem(path, lineno, f"not valid JSON ({exc.__class__.__name__})")
            return
        reason = _record_problem(rec)
        if reason:
            self._problem(path, lineno, reason)
            return
        ts = sane_time(rec["ts"])
        iid = rec["incident_id"]
        inc = self._incidents.get(iid)
        if inc is None:
            inc = Incident(incident_id=iid, dedup_key=rec["dedup_key"], type=rec["type"], severity=rec["severity"],
                           status=rec["status"], source=str(rec.get("source", "")), summary=rec["summary"],
                           details={}, opened_at=ts, updated_at=ts, last_seen=ts)
            self._incidents[iid] = inc
            match = _ID_RE.fullmatch(iid)
            if match:
                day, n = match.group(1), int(match.group(2))
                self._day_seq[day] = max(self._day_seq.get(day, 0), n)
        inc.apply(rec, ts)
        if inc.unresolved:
            self._unresolved[inc.dedup_key] = iid
        elif self._unresolved.get(inc.dedup_key) == iid:
            del self._unresolved[inc.dedup_key]

    def _problem(self, path: Path, lineno: int, reason: str) -> None:
        problem = LineProblem(path.name, lineno, reason)
        self._problems[(path.name, lineno)] = problem
        if problem not in self._reported:
            self._reported.add(problem)
            log.warning("skipping %s line %d: %s", path.name, lineno, reason)


# ====================================================================== CLI
_COLUMNS = (("ID", 17), ("STATUS", 12), ("SEV", 4), ("TYPE", 19), ("OPENED (UTC)", 19), ("COUNT", 5))


def _choices(allowed: tuple[str, ...] | None) -> Callable[[str], frozenset[str]]:
    """An argparse type for a comma-separated list (of ``allowed`` values, when given)."""
    def parse(text: str) -> frozenset[str]:
        values = frozenset(v.strip() for v in text.split(",") if v.strip())
        bad = sorted(v for v in values if (allowed and v not in allowed) or not _TYPE_RE.fullmatch(v.lower()))
        if not values or bad:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list{' of ' + ', '.join(allowed) if allowed else ''}")
        return values
    return parse


def _table(incidents: list[Incident]) -> str:
    head = "  ".join(name.ljust(width) for name, width in _COLUMNS) + "  SUMMARY"
    rows = [head]
    for inc in incidents:
        cells = (inc.incident_id, inc.status, inc.severity, inc.type, rfc3339(inc.opened_at)[:19].replace("T", " "),
                 str(inc.count))
        rows.append("  ".join(c.ljust(w) for c, (_, w) in zip(cells, _COLUMNS)) + "  " + inc.summary)
    return "\n".join(rows)


def _show(inc: Incident) -> str:
    d = inc.to_dict()
    lines = [f"{k:16} {v}" for k, v in d.items() if k != "details" and v is not None]
    lines = [line for line in lines if not line.startswith(("signals ", "notifications "))]
    lines.append(f"{'details':16} {json.dumps(inc.details, sort_keys=True)}")
    if inc.signals:
        lines.append("signals:")
        for sig in d["signals"]:
            until = "active" if sig["active"] else f"cleared {sig['cleared_at']}"
            lines.append(f"  {sig['first_seen']}  {sig.get('type', '?'):<19} {sig.get('severity', ''):<4} "
                         f"{until:<32} {sig.get('summary', '')}")
    lines.append("timeline:")
    for ev in inc.events:
        extra = " ".join(f"{k}={ev[k]}" for k in ("resolution", "note") if ev.get(k))
        lines.append(f"  {ev['ts']}  {ev['action']:<11} {ev['status']:<12} {ev.get('severity', ''):<4} "
                     f"by {ev.get('actor', '?')}  {ev.get('summary', '')} {extra}".rstrip())
    return "\n".join(lines)


def _event_line(rec: dict) -> str:
    return (f"{rec.get('ts', '?')}  {rec.get('incident_id', '?'):<17} {rec.get('action', '?'):<11} "
            f"{rec.get('severity', '?'):<4} {rec.get('type', '?'):<19} {rec.get('summary', '')}")


def _records(data: bytes) -> Iterator[dict]:
    """The JSON objects of complete lines in ``data``; torn or corrupt lines are skipped here too."""
    for raw in data.split(b"\n"):
        try:
            rec = json.loads(raw) if raw.strip() else None
        except (ValueError, RecursionError):
            continue
        if isinstance(rec, dict):
            yield rec


def _complete(data: bytes) -> bytes:
    """``data`` up to and including its last newline (a line still being written waits for the next look)."""
    return data[:data.rfind(b"\n") + 1]


def tail(ilog: IncidentLog, lines: int, follow: bool, emit: Callable[[dict], None], *, poll_s: float = 0.2,
         stop: threading.Event | None = None) -> None:
    """Emit the last ``lines`` records, then (``follow``) every record appended after them, until ``stop``.

    Gapless: the history is read and the live file opened under the log's shared lock, so no writer
    appends in between, and following goes on from the exact byte the history ended at. On rotation the
    old file (still open) is drained before the new one is read from its start.
    """
    stop = stop or threading.Event()
    history: list[dict] = []
    fh = None
    with ilog._locked(exclusive=False):
        for path in ilog.files()[:-1] if ilog.path.exists() else ilog.files():
            history.extend(_records(path.read_bytes()))
        if ilog.path.exists():
            fh = open(ilog.path, "rb")
            data = _complete(fh.read())
            fh.seek(len(data))
            history.extend(_records(data))
    for rec in history[-lines:] if lines else []:
        emit(rec)
    try:
        while follow and not stop.wait(poll_s):
            if fh is None:
                try:
                    fh = open(ilog.path, "rb")
                except FileNotFoundError:
                    continue
            pos = fh.tell()
            data = _complete(fh.read())
            fh.seek(pos + len(data))
            for rec in _records(data):
                emit(rec)
            try:
                rotated = os.stat(ilog.path).st_ino != os.fstat(fh.fileno()).st_ino
            except FileNotFoundError:
                rotated = True
            if rotated:  # everything the old file got was written before the rotation: drain it, move on
                for rec in _records(_complete(fh.read())):
                    emit(rec)
                fh.close()
                fh = None
    finally:
        if fh is not None:
            fh.close()


def _audit(config, command: str, incident_id: str, actor: str, note: str) -> None:
    """The admin audit entry the HTTP ack/resolve writes (``incident.ack``/``incident.resolve``), from here too.
    The change itself is already in the log: a store that cannot take the entry is a warning, not a failure."""
    from optsim.trading.store import Store
    entry = {"ts": time.time(), "actor": actor, "action": f"incident.{command}", "target": incident_id,
             "reason": note, "details": {"via": "incident_logger.py"}}
    try:
        Store.append_audit(config.data_dir / "orders.db", entry)
    except (OSError, sqlite3.Error) as exc:
        print(f"warning: {incident_id} changed, but its audit entry was not written to orders.db: {exc}",
              file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Exit codes: 0 done, 1 unknown incident or already resolved, 2 bad arguments."""
    parser = argparse.ArgumentParser(prog="incident_logger.py", description="Triage incidents from a terminal.")
    parser.add_argument("--data-dir", help="directory holding incidents.jsonl (default: config, else ./data)")
    parser.add_argument("--config", help="TOML config file (rotation settings, data dir)")
    parser.add_argument("--json", action="store_true", help="machine-readable JSON output")
    sub = parser.add_subparsers(dest="command", required=True)
    lst = sub.add_parser("list", help="incidents, newest first (default: unresolved only)")
    lst.add_argument("--state", choices=tuple(STATES), default="unresolved",
                     help="unresolved (open + acknowledged, the default), open, acknowledged, resolved or all")
    lst.add_argument("--all", action="store_true", help="same as --state all")
    lst.add_argument("--status", choices=STATUSES, help="exactly this status (same as --state STATUS)")
    lst.add_argument("--severity", type=_choices(SEVERITIES), help="SEV1,SEV2: any of these severities")
    lst.add_argument("--type", type=_choices(None), help="feed_stale,routing_degraded: any of these types")
    lst.add_argument("--since", help="RFC 3339 time or epoch seconds: still active at or after it")
    lst.add_argument("--until", help="RFC 3339 time or epoch seconds: opened before it")
    lst.add_argument("--limit", type=int, default=50)
    show = sub.add_parser("show", help="one incident with its timeline")
    show.add_argument("incident_id")
    for name in ("ack", "resolve"):
        cmd = sub.add_parser(name, help=f"{'acknowledge' if name == 'ack' else 'resolve'} an incident")
        cmd.add_argument("incident_id")
        cmd.add_argument("--actor", default=os.environ.get("USER") or "cli")
        cmd.add_argument("--note", default="")
    tails = sub.add_parser("tail", help="the latest records; -f keeps following")
    tails.add_argument("-n", "--lines", type=int, default=20)
    tails.add_argument("-f", "--follow", action="store_true")
    args = parser.parse_args(argv)
    if getattr(args, "lines", 0) < 0 or getattr(args, "limit", 1) < 1:
        print("error: --lines must be >= 0 and --limit >= 1", file=sys.stderr)
        return 2

    from optsim.config import cli_overrides, load_config
    try:
        config = load_config(args.config, cli_overrides(data_dir=args.data_dir))
        since = sane_time(args.since) if getattr(args, "since", None) else None
        until = sane_time(args.until) if getattr(args, "until", None) else None
    except (OSError, ValueError, OverflowError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ilog = IncidentLog.from_config(config, source="cli")
    out = (lambda obj: print(json.dumps(obj, indent=2))) if args.json else None
    try:
        if args.command == "list":
            state = "all" if args.all else args.status or args.state
            found = ilog.incidents(state=state, severity=args.severity, types=args.type, since=since, until=until,
                                   limit=args.limit)
            out([i.to_dict() for i in found]) if out else print(_table(found))
            if ilog.skipped:
                print(f"warning: {ilog.skipped} unreadable record(s) skipped in {ilog.path.name}", file=sys.stderr)
        elif args.command == "show":
            inc = ilog.get(args.incident_id)
            if inc is None:
                raise IncidentNotFound(f"no incident {args.incident_id}")
            out(inc.to_dict(with_events=True)) if out else print(_show(inc))
        elif args.command in ("ack", "resolve"):
            inc = (ilog.acknowledge(args.incident_id, actor=args.actor, note=args.note) if args.command == "ack"
                   else ilog.resolve(args.incident_id, actor=args.actor, note=args.note))
            _audit(config, args.command, inc.incident_id, args.actor, args.note)
            out(inc.to_dict()) if out else print(f"{inc.incident_id} is now {inc.status} (by {args.actor})")
        else:
            tail(ilog, args.lines, args.follow,
                 lambda rec: print(json.dumps(rec) if args.json else _event_line(rec), flush=True))
    except IncidentLogError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
