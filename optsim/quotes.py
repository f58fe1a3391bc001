"""The service's view of the feed: ``quotes.json`` reread only when its sequence changes.

The feed writes the whole snapshot atomically several times a second; rereading it on every order
would cost a JSON parse per request, so ``refresh`` first compares the file's stat signature and
only parses when it changed. Trade prints are taken by ``trade_seq`` so none is missed between
refreshes (a gap is counted, not hidden).
"""
from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .fileio import read_json

QUOTES_FILE = "quotes.json"
HEARTBEAT_FILE = "feed_heartbeat.json"


@dataclass(frozen=True, slots=True)
class VenueQuote:
    bid: float
    bid_size: int
    ask: float
    ask_size: int


@dataclass(frozen=True, slots=True)
class Quote:
    """NBBO of one series plus each venue's own quote; a price of 0 with size 0 means no quote."""

    symbol: str
    bid: float
    bid_size: int
    ask: float
    ask_size: int
    bid_venue: str | None
    ask_venue: str | None
    iv: float | None
    venues: dict[str, VenueQuote] = field(default_factory=dict)

    @property
    def has_bid(self) -> bool:
        return self.bid_size > 0

    @property
    def has_ask(self) -> bool:
        return self.ask_size > 0 and self.ask > 0

    @property
    def locked_or_crossed(self) -> bool:
        return self.has_bid and self.has_ask and self.bid >= self.ask

    @property
    def mid(self) -> float | None:
        return (self.bid + self.ask) / 2 if self.has_bid and self.has_ask else None


@dataclass(frozen=True, slots=True)
class Trade:
    trade_seq: int
    ts: float
    symbol: str
    venue: str
    price: float
    qty: int
    aggressor: str  # BUY lifted the offer, SELL hit the bid


def _quote(symbol: str, raw: dict) -> Quote:
    venues = {name: VenueQuote(float(v.get("bid", 0)), int(v.get("bid_size", 0)),
                               float(v.get("ask", 0)), int(v.get("ask_size", 0)))
              for name, v in (raw.get("venues") or {}).items()}
    return Quote(symbol, float(raw.get("bid", 0)), int(raw.get("bid_size", 0)), float(raw.get("ask", 0)),
                 int(raw.get("ask_size", 0)), raw.get("bid_venue"), raw.get("ask_venue"),
                 float(raw["iv"]) if raw.get("iv") is not None else None, venues)


class Snapshot:
    """One parsed ``quotes.json``; series are parsed lazily since an order touches only a few."""

    def __init__(self, raw: dict):
        self.seq: int = int(raw.get("seq", 0))
        self.ts: float = float(raw.get("ts", 0.0))
        self.as_of: str | None = raw.get("as_of")
        self.spots: dict[str, float] = {k: float(v["spot"]) for k, v in (raw.get("underlyings") or {}).items()}
        self.venues_down: frozenset[str] = frozenset(raw.get("venues_down") or ())
        self._raw_quotes: dict = raw.get("quotes") or {}
        self._parsed: dict[str, Quote] = {}
        self.trades: list[Trade] = [Trade(int(t["trade_seq"]), float(t["ts"]), t["symbol"], t["venue"],
                                          float(t["price"]), int(t["qty"]), t["aggressor"])
                                    for t in raw.get("trades") or ()]
        self.locked_crossed = sum(
            1 for q in self._raw_quotes.values()
            if q.get("bid_size", 0) > 0 and q.get("ask_size", 0) > 0 and q.get("bid", 0) >= q.get("ask", 0))

    def quote(self, symbol: str) -> Quote | None:
        q = self._parsed.get(symbol)
        if q is None and symbol in self._raw_quotes:
            q = self._parsed[symbol] = _quote(symbol, self._raw_quotes[symbol])
        return q

    def __len__(self) -> int:
        return len(self._raw_quotes)


class QuoteBook:
    """Thread-safe holder of the latest snapshot, the feed heartbeat and unseen trade prints."""

    def __init__(self, data_dir: str | os.PathLike, clock: Callable[[], float] = time.time):
        self.path = Path(data_dir) / QUOTES_FILE
        self.heartbeat_path = Path(data_dir) / HEARTBEAT_FILE
        self.clock = clock
        self._lock = threading.Lock()
        self._signature: tuple | None = None
        self.snapshot: Snapshot | None = None
        self.read_errors = 0  # snapshots that failed to parse (kept the previous one)
        self.missed_trades = 0  # prints that rolled out of the feed's ring before we read them
        self._last_trade_seq: int | None = None
        self._pending: list[Trade] = []

    def refresh(self) -> bool:
        """Reread ``quotes.json`` if it changed on disk; True when a new sequence was loaded."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            if signature == self._signature:
                return False
            try:
                with open(self.path, "rb") as fh:
                    snap = Snapshot(json.loads(fh.read()))
            except (OSError, ValueError, KeyError, TypeError):
                self.read_errors += 1
                return False
            self._signature = signature
            if self.snapshot is not None and snap.seq == self.snapshot.seq:
                return False
            self._take_trades(snap.trades)
            self.snapshot = snap
            return True

    def _take_trades(self, trades: list[Trade]) -> None:
        if self._last_trade_seq is None:  # first snapshot: history before we started is not ours
            self._last_trade_seq = trades[-1].trade_seq if trades else 0
            return
        fresh = [t for t in trades if t.trade_seq > self._last_trade_seq]
        if fresh:
            self.missed_trades += max(0, fresh[0].trade_seq - self._last_trade_seq - 1)
            self._last_trade_seq = fresh[-1].trade_seq
            self._pending.extend(fresh)

    def drain_trades(self) -> list[Trade]:
        """Trade prints seen since the last call, oldest first."""
        with self._lock:
            out, self._pending = self._pending, []
            return out

    # ------------------------------------------------------------------ reads
    def quote(self, symbol: str) -> Quote | None:
        snap = self.snapshot
        return snap.quote(symbol) if snap else None

    def spot(self, root: str) -> float | None:
        snap = self.snapshot
        return snap.spots.get(root) if snap else None

    def age(self) -> float | None:
        """Seconds since the loaded snapshot was taken; None before the first one."""
        snap = self.snapshot
        return max(0.0, self.clock() - snap.ts) if snap else None

    def heartbeat(self) -> dict | None:
        try:
            hb = read_json(self.heartbeat_path)
        except (OSError, ValueError):
            return None
        return hb if isinstance(hb, dict) else None

    @staticmethod
    def beat_time(heartbeat: dict | None) -> float | None:
        """When the feed last beat (epoch s), or None without a heartbeat that says so."""
        ts = heartbeat.get("ts") if heartbeat else None
        return float(ts) if isinstance(ts, (int, float)) and not isinstance(ts, bool) else None
