"""The drill switches of the quote feed, kept in ``feed_control.json`` in the data directory.

The service's drill endpoints write the file, the feed rereads it every tick (docs/architecture.md).
Writing validates first, so a drill can never leave a file the feed would refuse; reading is
forgiving, because a missing or damaged file must mean "no faults", never a feed that dies.

    write_faults(data_dir, wide=["TSLA"])      # start a drill, keep the others running
    clear_faults(data_dir, "wide")             # end that drill
    clear_faults(data_dir)                     # end them all
    read_faults(data_dir).active()             # {"venues_dark": ["MIAX"]}
"""
from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..fileio import atomic_write_json, read_json
from ..domain.occ import OccError, parse_symbol

CONTROL_FILE = "feed_control.json"
_ROOT_RE = re.compile(r"^[A-Z0-9]{1,6}$")
_VENUE_RE = re.compile(r"^[A-Z0-9_]{1,16}$")

log = logging.getLogger(__name__)


class FaultError(ValueError):
    """A fault switch has an unknown name or a value of the wrong shape; ``field`` names it."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True)
class FaultSet:
    """The drills in force. The defaults are a healthy feed."""

    stall: bool = False  # write neither quotes.json nor the heartbeat
    freeze_heartbeat: bool = False  # keep quoting, leave the heartbeat at its last ts/seq
    crossed: frozenset[str] = frozenset()  # padded OCC symbols or roots whose NBBO is crossed
    wide: frozenset[str] = frozenset()  # roots quoted at the maximum legal width
    venues_dark: frozenset[str] = frozenset()  # venues that stop quoting
    seq_gap: int = 0  # skip this many quotes.json sequence numbers, once per request
    ts: float | None = field(default=None, compare=False)  # when the drill was requested

    def active(self) -> dict[str, Any]:
        """The switches that are on, as JSON values (empty when the feed is healthy)."""
        return {k: v for k, v in self.to_json().items() if v}

    def to_json(self) -> dict[str, Any]:
        return {f.name: sorted(v) if isinstance(v, frozenset) else v
                for f in fields(self) if f.name != "ts" for v in [getattr(self, f.name)]}

    def union(self, other: FaultSet) -> FaultSet:
        """Both sets at once: a switch is on if either turns it on (the larger seq_gap wins)."""
        return FaultSet(
            stall=self.stall or other.stall,
            freeze_heartbeat=self.freeze_heartbeat or other.freeze_heartbeat,
            crossed=self.crossed | other.crossed, wide=self.wide | other.wide,
            venues_dark=self.venues_dark | other.venues_dark,
            seq_gap=max(self.seq_gap, other.seq_gap), ts=other.ts if other.ts is not None else self.ts)

    def is_crossed(self, symbol: str, root: str) -> bool:
        return symbol in self.crossed or root in self.crossed


FAULT_NAMES = tuple(f.name for f in fields(FaultSet) if f.name != "ts")


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise FaultError(name, f"must be true or false, not {value!r}")
    return value


def _names(name: str, value: Any, pattern: re.Pattern[str]) -> frozenset[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise FaultError(name, f"must be a list of names, not {value!r}")
    out = set()
    for item in value:
        text = item.strip().upper() if isinstance(item, str) else ""
        if not pattern.match(text):
            raise FaultError(name, f"{item!r} is not a valid name")
        out.add(text)
    return frozenset(out)


def _series_or_roots(name: str, value: Any) -> frozenset[str]:
    """Padded OCC symbols (unpadded accepted) or bare roots."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise FaultError(name, f"must be a list of series or underlyings, not {value!r}")
    out = set()
    for item in value:
        text = item.strip().upper() if isinstance(item, str) else ""
        if _ROOT_RE.match(text):
            out.add(text)
            continue
        try:
            out.add(parse_symbol(text).padded)
        except OccError:
            raise FaultError(name, f"{item!r} is neither an OCC symbol nor an underlying") from None
    return frozenset(out)


def _gap(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FaultError(name, f"must be a whole number >= 0, not {value!r}")
    return value


_PARSERS = {
    "stall": _flag, "freeze_heartbeat": _flag,
    "crossed": _series_or_roots,
    "wide": lambda n, v: _names(n, v, _ROOT_RE),
    "venues_dark": lambda n, v: _names(n, v, _VENUE_RE),
    "seq_gap": _gap,
}


def parse_faults(faults: Mapping[str, Any], ts: float | None = None) -> FaultSet:
    """Validate a mapping of switches (absent ones are off).

    Raises ``FaultError`` on the first unknown switch or badly shaped value.
    """
    if not isinstance(faults, Mapping):
        raise FaultError("faults", f"must be an object, not {type(faults).__name__}")
    for name in faults:
        if name not in _PARSERS:
            raise FaultError(str(name), f"unknown fault; known: {', '.join(FAULT_NAMES)}")
    return FaultSet(ts=ts, **{name: _PARSERS[name](name, value) for name, value in faults.items()})


def control_path(data_dir: str | os.PathLike) -> Path:
    return Path(data_dir) / CONTROL_FILE


def read_faults(data_dir: str | os.PathLike, *, strict: bool = False) -> FaultSet:
    """The faults in ``feed_control.json``; a missing file is no faults.

    A damaged file is also no faults (and a warning), unless ``strict``: then it raises
    ``FaultError`` (bad content) or ``ValueError`` (not JSON), so the caller can report it once.
    """
    try:
        doc = read_json(control_path(data_dir))
        if doc is None:
            return FaultSet()
        if not isinstance(doc, dict):
            raise FaultError("faults", "control file is not a JSON object")
        ts = doc.get("ts")
        return parse_faults(doc.get("faults", {}), ts if isinstance(ts, (int, float)) else None)
    except (ValueError, OSError) as exc:
        if strict:
            raise ValueError(f"{CONTROL_FILE}: {exc}") from exc
        log.warning("ignoring %s: %s", CONTROL_FILE, exc)
        return FaultSet()


def _write(data_dir: str | os.PathLike, faults: FaultSet) -> FaultSet:
    stamped = replace(faults, ts=time.time())
    atomic_write_json(control_path(data_dir), {"faults": stamped.to_json(), "ts": stamped.ts})
    return stamped


def write_faults(data_dir: str | os.PathLike, **faults: Any) -> FaultSet:
    """Turn on (or change) the named switches, keeping the others as they are; returns the new set.

    Raises ``FaultError`` before touching the file if any switch is unknown or malformed.
    Writing ``seq_gap`` again (even the same number) requests one more gap.
    """
    changes = parse_faults(faults)
    current = read_faults(data_dir)
    return _write(data_dir, replace(current, **{name: getattr(changes, name) for name in faults}))


def clear_faults(data_dir: str | os.PathLike, *names: str) -> FaultSet:
    """Turn off the named switches, or all of them when none is named; returns the new set."""
    for name in names:
        if name not in FAULT_NAMES:
            raise FaultError(name, f"unknown fault; known: {', '.join(FAULT_NAMES)}")
    healthy = FaultSet()
    if not names:
        return _write(data_dir, healthy)
    current = read_faults(data_dir)
    return _write(data_dir, replace(current, **{name: getattr(healthy, name) for name in names}))
