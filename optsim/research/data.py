"""Backtest market data: an hftbacktest ``.npz`` event file, or a recording directory of our feed.

Either way the result is a ``MarketData``: instruments (name, tick and lot size, multiplier, and
for options the contract) whose event arrays load on first use. Anything missing or malformed is
a ``DataError`` whose message names the file and what is wrong with it.
"""
from __future__ import annotations

import json
import math
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fillsim.ticks import MAX_LOTS, MAX_TICK
from fillsim.types import (DEPTH_EVENT, DEPTH_SNAPSHOT_EVENT, EVENT_DTYPE, EVENT_TYPE_MASK, EXCH_EVENT,
                           TRADE_EVENT)

from .errors import DataError
from .recording import MANIFEST, SCHEMA

__all__ = ["DataError", "Instrument", "MarketData", "check_rows", "check_tick", "load_data", "load_manifest"]

#: How far (in ticks) a price may sit off the tick grid before the tick size is refused.
TICK_TOLERANCE = 1e-6
EVENT_KEYS = ("data", "events")  # hftbacktest writes "data"; fillsim's cross-check files "events"


@dataclass(frozen=True)
class Instrument:
    """One tradable instrument of a data set and where its events are."""

    name: str
    tick_size: float
    lot_size: float = 1.0
    multiplier: float = 1.0
    kind: str = "instrument"  # "option", "underlying" or "instrument" (a plain event file)
    path: Path | None = None
    meta: dict = field(default_factory=dict, compare=False)  # option contract, tick class, venue fees, ...


class MarketData:
    """Instruments and their events; events load lazily (a chain has ~1,500 files)."""

    def __init__(self, source: Path, instruments: list[Instrument], manifest: dict, *,
                 arrays: dict[str, np.ndarray] | None = None, snapshots: dict[str, np.ndarray] | None = None):
        self.source = source
        self.instruments = list(instruments)
        self.manifest = manifest
        self._arrays = dict(arrays or {})
        self._snapshots = dict(snapshots or {})
        self._by_name = {i.name: i for i in self.instruments}

    def __repr__(self) -> str:
        return f"MarketData({str(self.source)!r}, {len(self.instruments)} instruments)"

    @property
    def names(self) -> list[str]:
        return [i.name for i in self.instruments]

    def instrument(self, name: str) -> Instrument:
        try:
            return self._by_name[name]
        except KeyError:
            raise DataError(f"{self.source}: no instrument {name!r}") from None

    def events(self, name: str) -> np.ndarray:
        """The instrument's rows as an ``EVENT_DTYPE`` array (read once, then kept)."""
        if name not in self._arrays:
            inst = self.instrument(name)
            self._arrays[name] = read_events(inst.path)
        return self._arrays[name]

    def snapshot(self, name: str) -> np.ndarray | None:
        return self._snapshots.get(name)

    def select(self, names) -> MarketData:
        """The same data restricted to ``names``, in that order."""
        chosen = [self.instrument(n) for n in names]  # read through this object, so repeated runs read once
        return MarketData(self.source, chosen, self.manifest, arrays={i.name: self.events(i.name) for i in chosen},
                          snapshots={n: s for n, s in self._snapshots.items() if n in names})

    def n_events(self) -> int:
        return sum(len(self.events(n)) for n in self.names)


def read_events(path: Path) -> np.ndarray:
    """A raw file of 64-byte rows; a torn last row (the writer was killed mid-write) is dropped."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise DataError(f"{path}: event file missing (the recording is incomplete)") from None
    rows = size // EVENT_DTYPE.itemsize
    return check_rows(np.fromfile(path, dtype=EVENT_DTYPE, count=rows), str(path))


def as_events(arr, where: str) -> np.ndarray:
    """``arr`` as a contiguous ``EVENT_DTYPE`` array, or a DataError naming what is wrong."""
    arr = np.asarray(arr)
    if arr.ndim != 1 or arr.dtype.names is None:
        raise DataError(f"{where}: not a 1-d structured array of hftbacktest events (dtype {arr.dtype})")
    missing = [f for f in EVENT_DTYPE.names if f not in arr.dtype.names]
    if missing:
        raise DataError(f"{where}: event rows lack the fields {missing}")
    if arr.dtype != EVENT_DTYPE:
        out = np.empty(len(arr), dtype=EVENT_DTYPE)
        for name in EVENT_DTYPE.names:
            out[name] = arr[name]
        arr = out
    return np.ascontiguousarray(arr)


def infer_tick_size(events: np.ndarray) -> float:
    """The smallest gap between distinct prices, rounded to 10 significant digits (an npz has no tick size)."""
    px = np.unique(events["px"][(events["ev"] & EXCH_EVENT) != 0])
    px = px[np.isfinite(px) & (px > 0)]
    gaps = np.diff(px)
    gaps = gaps[gaps > 1e-12]
    if not gaps.size:
        return 0.01
    return float(f"{gaps.min():.10g}")


def _stored_config(npz, path: Path) -> dict:
    """The fillsim config an .npz stores as JSON text under ``config`` ({} without one): a table
    whose tick and lot sizes, if given, are positive numbers."""
    if "config" not in npz.files:
        return {}
    try:
        stored = json.loads(str(npz["config"]))
    except ValueError as exc:
        raise DataError(f"{path}: its config entry is not JSON ({exc})") from None
    if not isinstance(stored, dict):
        raise DataError(f"{path}: its config entry must be a JSON object of settings, got {type(stored).__name__}")
    for key in ("tick_size", "lot_size"):
        value = stored.get(key)
        if key in stored and not (isinstance(value, (int, float)) and not isinstance(value, bool)
                                  and math.isfinite(value) and value > 0):
            raise DataError(f"{path}: its config {key} must be a positive number, got {value!r}")
    return stored


def check_rows(events: np.ndarray, where: str) -> np.ndarray:
    """``events`` if every book and trade row has a finite price and a finite quantity >= 0,
    else a DataError naming the first bad row (one vectorised pass: big files stay fast)."""
    kind = events["ev"] & EVENT_TYPE_MASK
    used = (kind == DEPTH_EVENT) | (kind == TRADE_EVENT) | (kind == DEPTH_SNAPSHOT_EVENT)
    px, qty = events["px"], events["qty"]
    bad = used & ~(np.isfinite(px) & np.isfinite(qty) & (qty >= 0))
    if bad.any():
        k = int(np.argmax(bad))
        raise DataError(f"{where}: {int(bad.sum())} book or trade rows have a non-finite price or a negative or "
                        f"non-finite quantity (first: row {k}, px {float(px[k])!r}, qty {float(qty[k])!r})")
    return events


def check_tick(events: np.ndarray, tick_size: float, lot_size: float, where: str) -> None:
    """Refuse a tick size the exchange rows' prices are not multiples of: fillsim would round them
    onto another grid (tick 0.02 on cent prices merges levels, 0.003 invents prices); and prices
    or sizes past what fillsim counts in ticks and lots (2**52, 2**53), which it would refuse
    only once the run reached them, as if the strategy had failed."""
    exch = ((events["ev"] & EXCH_EVENT) != 0) & np.isfinite(events["px"])
    px, qty = events["px"][exch], events["qty"][exch]
    if not px.size:
        return
    steps = px / tick_size
    past = ~((np.abs(steps) < MAX_TICK) & (qty / lot_size < MAX_LOTS))
    if past.any():
        k = int(np.argmax(past))
        raise DataError(f"{where}: {int(past.sum())} rows have a price of 2**52 ticks or more or a size of 2**53 lots "
                        f"or more (first: px {float(px[k])!r}, qty {float(qty[k])!r}; tick {tick_size:g}, "
                        f"lot {lot_size:g})")
    off = np.abs(steps - np.round(steps))
    if off.max() > TICK_TOLERANCE:
        k = int(np.argmax(off))
        raise DataError(f"{where}: tick size {tick_size:g} does not fit the data's prices "
                        f"(price {float(px[k])!r} is {float(off[k]):.3g} ticks off the grid)")


def _load_npz(path: Path, snapshot: str | os.PathLike | None) -> MarketData:
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a readable .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            key = next((k for k in EVENT_KEYS if k in npz.files), None)
            if key is None:
                raise DataError(f"{path}: no event array in the file (expected one named 'data' or 'events', "
                                f"found {npz.files})")
            events = check_rows(as_events(npz[key], str(path)), str(path))
            snap = (check_rows(as_events(npz["snapshot"], f"{path} [snapshot]"), f"{path} [snapshot]")
                    if "snapshot" in npz.files else None)
            stored = _stored_config(npz, path)
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    except (ValueError, json.JSONDecodeError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: malformed .npz ({exc})") from None
    if snapshot is not None:
        if not Path(snapshot).is_file():
            raise DataError(f"{snapshot}: no such snapshot file")
        snap = _load_npz(Path(snapshot), None).events(Path(snapshot).stem)
    if not len(events):
        raise DataError(f"{path}: the event array is empty")
    tick = stored.get("tick_size") or infer_tick_size(events)
    inst = Instrument(path.stem, float(tick), float(stored.get("lot_size", 1.0)), 1.0, meta={
        "tick_size_from": "file" if "tick_size" in stored else "inferred"})
    return MarketData(path, [inst], {"source": "npz", "config": stored},
                      arrays={inst.name: events}, snapshots={inst.name: snap} if snap is not None else {})


def _load_recording(path: Path) -> MarketData:
    manifest_path = path / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_bytes())
    except FileNotFoundError:
        raise DataError(f"{path}: not a recording ({MANIFEST} missing)") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{manifest_path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA or not manifest.get("instruments"):
        raise DataError(f"{manifest_path}: not a schema-{SCHEMA} recording manifest with instruments")
    venues = manifest.get("venues", [])
    instruments = []
    for k, spec in enumerate(manifest["instruments"]):
        try:
            meta = {key: v for key, v in spec.items() if key not in ("name", "file", "kind", "tick_size",
                                                                     "lot_size", "multiplier")}
            meta["venues"] = venues
            instruments.append(Instrument(spec["name"], float(spec["tick_size"]), float(spec.get("lot_size", 1)),
                                          float(spec.get("multiplier", 1)), spec.get("kind", "instrument"),
                                          path / spec["file"], meta))
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{manifest_path}: instrument #{k} is malformed ({exc!r})") from None
    return MarketData(path, instruments, manifest)


def load_manifest(path: str | os.PathLike) -> dict:
    """``load_data(path).manifest`` without reading any events (a fan-out's client needs only this)."""
    path = Path(path)
    if path.is_dir():
        return _load_recording(path).manifest
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {"source": "npz", "config": _stored_config(npz, path)}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None


def load_data(path: str | os.PathLike | MarketData, snapshot: str | os.PathLike | None = None) -> MarketData:
    """Open ``path``: an hftbacktest ``.npz`` (one instrument; ``snapshot``: an optional separate
    snapshot ``.npz``, else a ``snapshot`` array inside the file is used) or a recording directory.

    Raises
    ------
    DataError : the path is missing, or not a usable event file or recording.
    """
    if isinstance(path, MarketData):
        return path
    path = Path(path)
    if path.is_dir():
        if snapshot is not None:
            raise DataError(f"{path}: a recording starts from its own books; --snapshot is for an .npz file")
        return _load_recording(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    return _load_npz(path, snapshot)

