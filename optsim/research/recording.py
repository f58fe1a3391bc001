"""Record what the quote feed publishes as backtest data: one event file per instrument and a manifest.

Each series' venue quotes become its consolidated book (the displayed size of every venue summed
per price), written as hftbacktest-layout depth rows whenever a level changes; its NBBO is that
book's top. Trade prints are trade rows (the aggressor's side flag, ``ival`` = 1-based venue
number in the manifest). An underlying is published as a spot only, so it is recorded as a
one-tick-either-side book around the spot with deep size (``synthetic_book`` in the manifest):
enough for a strategy to hedge against and to mark at the spot.

Rows stream to ``<name>.events`` files (raw 64-byte ``EVENT_DTYPE`` rows, appended), flushed
every ``flush_s`` so memory stays flat and a killed feed leaves at most its last unflushed
second behind; a torn last row is dropped by the loader. Timestamps are the snapshot's ``ts`` in
ns, exchange and local alike. A feed that restarts into the same directory continues the
recording: each book is cleared (a DEPTH_CLEAR row) before the new process's first snapshot.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import numpy as np

from fillsim.types import (
    BUY_EVENT,
    DEPTH_CLEAR_EVENT,
    DEPTH_EVENT,
    EVENT_DTYPE,
    EXCH_EVENT,
    LOCAL_EVENT,
    SELL_EVENT,
    TRADE_EVENT,
)

from ..config import TICK_CLASSES, Config
from ..fileio import atomic_write_json, read_json
from ..market.feed.market import QuoteFeed

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
SCHEMA = 1
EVENTS_SUFFIX = ".events"
UNDERLYING_DEPTH = 10_000.0  # shares shown each side of a recorded spot
_SEEN = EXCH_EVENT | LOCAL_EVENT


def _fd_limit() -> int:
    """The soft limit on open files (0 where it cannot be read: then files open per flush)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def file_stem(name: str) -> str:
    """The file name of an instrument: its OCC symbol without the padding, or the root."""
    return name.replace(" ", "")


def manifest_for(feed: QuoteFeed, config: Config) -> dict:
    """The static part of a recording's manifest: what was recorded and how to trade it."""
    instruments = []
    for root, u in config.underlyings.items():
        instruments.append({"name": root, "kind": "underlying", "file": file_stem(root) + EVENTS_SUFFIX,
                            "tick_size": 0.01, "lot_size": 1.0, "multiplier": 1,
                            "synthetic_book": {"ticks_each_side": 1, "qty": UNDERLYING_DEPTH}})
    for s in feed.series:
        c, tc = s.contract, TICK_CLASSES[s.contract.tick_class]
        instruments.append({
            "name": s.symbol, "kind": "option", "file": file_stem(s.symbol) + EVENTS_SUFFIX, "occ": s.symbol,
            "underlying": c.underlying, "expiry": c.expiry.isoformat(), "right": c.right,
            "strike": float(c.strike), "multiplier": c.multiplier, "lot_size": 1.0,
            "tick_size": min(tc.below_3, tc.at_or_above_3),  # the price grid every quote sits on
            "tick_class": {"name": c.tick_class, "below_3": tc.below_3, "at_or_above_3": tc.at_or_above_3}})
    return {
        "schema": SCHEMA, "layout": "hftbacktest event rows (fillsim.EVENT_DTYPE), 64 bytes each, little-endian",
        "source": "mock_quote_feed", "as_of": config.as_of.isoformat(), "seed": config.feed.seed,
        "interval_s": config.feed.interval_s, "rate": config.chain.rate,
        "dividend_yield": config.chain.dividend_yield,
        "underlyings": {root: {"vol": u.vol, "skew": u.skew, "smile": u.smile, "spot": u.spot}
                        for root, u in config.underlyings.items()},
        "venues": [{"name": v.name, "fee_make": v.fee_make, "fee_take": v.fee_take,
                    "entry_latency_us": v.entry_latency_us, "response_latency_us": v.response_latency_us}
                   for v in config.venues],
        "instruments": instruments,
    }


class Recorder:
    """Turns each published snapshot into depth and trade rows and appends them per instrument."""

    def __init__(self, directory: str | os.PathLike, feed: QuoteFeed, config: Config, *, flush_s: float = 1.0,
                 manifest_every_s: float = 10.0, clock=time.monotonic):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.feed, self.flush_s, self.manifest_every_s, self.clock = feed, flush_s, manifest_every_s, clock
        self.manifest = manifest_for(feed, config)
        self.files = {i["name"]: self.dir / i["file"] for i in self.manifest["instruments"]}
        previous = read_json(self.dir / MANIFEST)
        self.resumed = previous is not None
        if self.resumed:
            names = [i["name"] for i in previous.get("instruments", [])]
            if names != [i["name"] for i in self.manifest["instruments"]]:
                raise ValueError(f"{self.dir} holds a recording of another chain; record into an empty directory")
            self.manifest["span"] = previous.get("span")
            self.manifest["sessions"] = previous.get("sessions", [])
        else:  # a fresh recording: every file starts empty, so a missing one means a damaged recording
            self.manifest["span"], self.manifest["sessions"] = None, []
            for path in self.files.values():
                path.write_bytes(b"")
        self.venue_no = {v["name"]: k + 1 for k, v in enumerate(self.manifest["venues"])}
        self.books: dict[str, tuple[dict[int, int], dict[int, int]]] = {}  # cents -> size, per side
        self.quoted_tick = np.full(len(feed), -2)  # the feed's requote tick last recorded per series: none yet
        self.rows: dict[str, list[tuple]] = {name: [] for name in self.files}
        self.pending = 0
        self._handles: dict[str, object] = {}
        self._keep_open = len(self.files) + 256 <= _fd_limit()
        self.last_trade_seq = feed.tape.trade_seq
        self.first = True
        self.last_flush = self.last_manifest = clock()
        self.counts = {"rows": previous.get("recorded_rows", 0) if previous else 0,
                       "trades_missed": previous.get("trades_missed", 0) if previous else 0}
        self._write_manifest()

    # -- RECORD ------------------------------------------------------------------------------------
    def record(self, ts: float) -> None:
        """Record the snapshot just published at wall time ``ts`` (seconds)."""
        ns = int(round(ts * 1e9))
        if self.first:
            self._start_session(ns)
        for root, spot in self.feed.spots.items():
            cents = round(spot * 100)
            self._book(root, ns, {cents - 1: UNDERLYING_DEPTH}, {cents + 1: UNDERLYING_DEPTH})
        requoted = np.flatnonzero(self.feed.quoted_tick != self.quoted_tick)
        self.quoted_tick = self.feed.quoted_tick.copy()
        for row in requoted.tolist():
            s = self.feed.series[row]
            bids: dict[int, int] = {}
            asks: dict[int, int] = {}
            for q in s.quotes.values():
                if q.bid_size > 0:
                    bids[q.bid] = bids.get(q.bid, 0) + q.bid_size
                if q.ask_size > 0:
                    asks[q.ask] = asks.get(q.ask, 0) + q.ask_size
            self._book(s.symbol, ns, bids, asks)
        self._trades(ns)
        now = self.clock()
        if now - self.last_flush >= self.flush_s or self.pending >= 200_000:
            self.flush()
        if now - self.last_manifest >= self.manifest_every_s:
            self._write_manifest()

    def _start_session(self, ns: int) -> None:
        self.first = False
        if self.resumed:  # the books of the process before are gone: start every book empty
            for name in self.files:
                self.rows[name].append((_SEEN | DEPTH_CLEAR_EVENT, ns, ns, 0.0, 0.0, 0, 0, 0.0))
                self.pending += 1
        self.manifest["sessions"].append(ns)

    def _book(self, name: str, ns: int, bids: dict[int, float], asks: dict[int, float]) -> None:
        """Rows for the levels that changed: removals first, so the book never crosses in between."""
        old_bids, old_asks = self.books.get(name, ({}, {}))
        rows = self.rows[name]
        before = len(rows)
        for side, old, new in ((BUY_EVENT, old_bids, bids), (SELL_EVENT, old_asks, asks)):
            for cents in old.keys() - new.keys():
                rows.append((_SEEN | side | DEPTH_EVENT, ns, ns, cents / 100, 0.0, 0, 0, 0.0))
        for side, old, new in ((BUY_EVENT, old_bids, bids), (SELL_EVENT, old_asks, asks)):
            for cents, qty in new.items():
                if old.get(cents) != qty:
                    rows.append((_SEEN | side | DEPTH_EVENT, ns, ns, cents / 100, float(qty), 0, 0, 0.0))
        self.books[name] = (bids, asks)
        self.pending += len(rows) - before

    def _trades(self, ns: int) -> None:
        tape = self.feed.tape
        fresh = []
        for t in reversed(tape.ring):  # newest first: stop at the first print already recorded
            if t["trade_seq"] <= self.last_trade_seq:
                break
            fresh.append(t)
        fresh.reverse()
        if fresh and fresh[0]["trade_seq"] > self.last_trade_seq + 1:
            missed = fresh[0]["trade_seq"] - self.last_trade_seq - 1
            self.counts["trades_missed"] += missed
            log.warning("recording missed %d trade prints (the tape ring rolled past them)", missed)
        for t in fresh:
            side = BUY_EVENT if t["aggressor"] == "BUY" else SELL_EVENT
            t_ns = min(int(round(t["ts"] * 1e9)), ns)
            self.rows[t["symbol"]].append((_SEEN | side | TRADE_EVENT, t_ns, t_ns, t["price"], float(t["qty"]), 0,
                                           self.venue_no.get(t["venue"], 0), 0.0))
            self.pending += 1
        self.last_trade_seq = tape.trade_seq

    # -- DISK --------------------------------------------------------------------------------------
    def flush(self) -> None:
        """Append every buffered row to its instrument's file (one write per file)."""
        for name, rows in self.rows.items():
            if not rows:
                continue
            block = np.array(rows, dtype=EVENT_DTYPE)  # rows are full EVENT_DTYPE tuples
            self._append(name, block.tobytes())
            span = self.manifest["span"]
            lo, hi = int(block["exch_ts"].min()), int(block["exch_ts"].max())
            self.manifest["span"] = [min(span[0], lo), max(span[1], hi)] if span else [lo, hi]
            self.counts["rows"] += len(rows)
            rows.clear()
        self.pending = 0
        self.last_flush = self.clock()

    def _append(self, name: str, data: bytes) -> None:
        """One unbuffered append; the file stays open when the descriptor limit has room for all."""
        fh = self._handles.get(name)
        if fh is None:
            fh = open(self.files[name], "ab", buffering=0)
            if self._keep_open:
                self._handles[name] = fh
        fh.write(data)
        if not self._keep_open:
            fh.close()

    def _write_manifest(self) -> None:
        self.manifest["recorded_rows"] = self.counts["rows"]
        self.manifest["trades_missed"] = self.counts["trades_missed"]
        atomic_write_json(self.dir / MANIFEST, self.manifest)
        self.last_manifest = self.clock()

    def close(self) -> None:
        """Flush what is buffered and write the final manifest (span, row count)."""
        self.flush()
        for fh in self._handles.values():
            fh.close()
        self._handles.clear()
        self._write_manifest()
        log.info("recorded %d rows for %d instruments into %s", self.counts["rows"], len(self.files), self.dir)
