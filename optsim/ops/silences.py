"""Silences and maintenance windows: time-boxed matchers that mute notifications, never recording.

Kept in ``<data_dir>/silences.json``: the service's ``/admin/silences`` endpoints and the drills write
it (atomically, under ``silences.json.lock``), the monitor's notifier reads it before each send. A
silence matches an incident when every matcher it has is satisfied: ``type`` holds the incident's
type; ``venue`` / ``underlying`` hold every venue / underlying the incident (or its signals) names.
A silence whose ``starts_at`` is in the future is a maintenance window.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import filelock
from ..fileio import atomic_write_json, read_json
from ..timefmt import rfc3339

FILE = "silences.json"
MATCHER_KEYS = ("type", "venue", "underlying")
MAX_SILENCES = 1000  # expired ones beyond this are dropped, oldest first


@dataclass(frozen=True)
class Silence:
    silence_id: str
    matchers: dict[str, list[str]]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    created_at: float
    drill: str | None = None  # the drill fault that created it, if any

    def state(self, now: float) -> str:
        return "pending" if now < self.starts_at else "active" if now < self.ends_at else "expired"

    def matches(self, labels: dict[str, set[str]]) -> bool:
        """Every matcher covers the incident: its type, and every venue/underlying it names (none named = no match)."""
        for key, allowed in self.matchers.items():
            have = labels.get(key, set())
            if not have or not have <= set(allowed):
                return False
        return True

    def to_dict(self, now: float | None = None) -> dict:
        now = time.time() if now is None else now
        out = asdict(self)
        out.update(starts_at=rfc3339(self.starts_at), ends_at=rfc3339(self.ends_at),
                   created_at=rfc3339(self.created_at), state=self.state(now))
        return out


def _path(data_dir) -> Path:
    return Path(data_dir) / FILE


def _parse(doc) -> list[Silence]:
    out = []
    for item in (doc or {}).get("silences", []) if isinstance(doc, dict) else []:
        try:
            out.append(Silence(**item))
        except TypeError:
            continue  # a record from a future version or a hand edit: ignored, not fatal
    return out


def load(data_dir) -> list[Silence]:
    """Every silence on file, oldest first; a missing or damaged file is no silences."""
    try:
        return _parse(read_json(_path(data_dir)))
    except (OSError, ValueError):
        return []


def _save(data_dir, silences: list[Silence], now: float) -> None:
    expired = [s for s in silences if s.state(now) == "expired"]
    drop = {s.silence_id for s in expired[:max(0, len(silences) - MAX_SILENCES)]}
    atomic_write_json(_path(data_dir), {"silences": [asdict(s) for s in silences if s.silence_id not in drop]})


def add(data_dir, matchers: dict[str, list[str]], starts_at: float, ends_at: float, created_by: str, comment: str,
        drill: str | None = None, now: float | None = None) -> Silence:
    now = time.time() if now is None else now
    silence = Silence(f"SIL-{uuid.uuid4().hex[:12]}", {k: sorted(set(v)) for k, v in matchers.items()},
                      starts_at, ends_at, created_by, comment, now, drill)
    with filelock.locked_beside(_path(data_dir), exclusive=True):
        _save(data_dir, load(data_dir) + [silence], now)
    return silence


def end(data_dir, silence_id: str | None = None, *, drill: str | None = None, at: float | None = None) -> list[Silence]:
    """End silences now (or at ``at``): one by id, or every unexpired one a drill made. Returns those changed."""
    at = time.time() if at is None else at
    changed = []
    with filelock.locked_beside(_path(data_dir), exclusive=True):
        current = load(data_dir)
        out = []
        for s in current:
            if (s.silence_id == silence_id or (drill and s.drill == drill)) and s.ends_at > at:
                s = Silence(**{**asdict(s), "ends_at": max(at, s.starts_at)})
                changed.append(s)
            out.append(s)
        if changed:
            _save(data_dir, out, at)
    return changed


def matching(silences: list[Silence], labels: dict[str, set[str]], now: float) -> Silence | None:
    """The first active silence that matches ``labels``."""
    return next((s for s in silences if s.state(now) == "active" and s.matches(labels)), None)
