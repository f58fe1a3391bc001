"""The service's view of the feed: the latest validated snapshot, taken off the request thread.

A background thread (``options_service.start_background``) takes each new snapshot: the feed's
``quotes.snap`` (snapshot.py), or a ``quotes.json`` written by hand, checks it at the edge and swaps
it in as one reference, so an order reads the snapshot in use without a lock, a file stat or a parse.
Without that thread (tests, embedded use) ``pull`` takes new files on demand. A snapshot refused
whole leaves the last good one in use, ageing honestly (``age``); unusable series read as unquoted.
Trade prints are taken by ``trade_seq`` so none is missed between snapshots (a gap is counted); a
restarted feed (its snapshot ``seq`` or ``trade_seq`` goes back) is followed from its first print.
"""
from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..fileio import read_json
from .snapshot import (MAX_IV, NBBO_FIELDS, SNAPSHOT_FILE, BadSnapshot, Frame, check, check_trades, from_json,
                       read_snap, rows_differ)

QUOTES_FILE = "quotes.json"
HEARTBEAT_FILE = "feed_heartbeat.json"
PAIR_WINDOW_NS = 1_000_000_000  # the feed writes quotes.snap then quotes.json: a json newer than this is by hand
FUTURE_TOLERANCE_S = 5.0  # a snapshot stamped further ahead of our clock would never age: refused


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


class Snapshot:
    """One validated snapshot in columns; a series' ``Quote`` is built the first time an order asks for it."""

    def __init__(self, frame: Frame, max_cross: float, previous: Snapshot | None = None):
        """Check the frame's quotes; with the ``previous`` snapshot of the same chain, only the series that
        moved are rechecked, and each series notes the ``seq`` at which its venue quotes last moved."""
        self.frame = frame
        self.seq, self.ts, self.as_of = frame.seq, frame.ts, frame.as_of
        self.spots, self.venues_down = frame.spots, frame.venues_down
        s, v = frame.series, frame.venues
        same_layout = (previous is not None and previous.frame.venue_names == frame.venue_names
                       and previous.frame.venues.shape == v.shape
                       and np.array_equal(previous.frame.series["symbol"], s["symbol"]))
        if same_layout:  # the chain rarely changes: keep its symbol index, recheck and mark what moved
            self.symbols, self.index = previous.symbols, previous.index
            venues_moved = rows_differ(previous.frame.venues, v)
            recheck = np.flatnonzero(venues_moved | rows_differ(previous.frame.series, s, NBBO_FIELDS)
                                     | (previous.frame.shape_ok != frame.shape_ok))
            self.usable = previous.usable.copy()
            self.usable[recheck] = check(frame, max_cross, recheck)
            self.rev = np.where(venues_moved | (previous.usable != self.usable), self.seq, previous.rev)
        else:
            self.usable = check(frame, max_cross)
            self.symbols = [b.decode() for b in s["symbol"].tolist()]
            self.index = {symbol: i for i, symbol in enumerate(self.symbols)}
            self.rev = np.full(len(s), self.seq, dtype=np.int64)
        self.unusable = int(len(s) - np.count_nonzero(self.usable))
        self.locked_crossed = int(np.count_nonzero(self.usable & (s["bid_size"] > 0) & (s["ask_size"] > 0)
                                                   & (s["bid"] >= s["ask"])))
        self._parsed: dict[str, Quote | None] = {}

    def quote(self, symbol: str) -> Quote | None:
        """The series' NBBO and venue quotes; None when it is not quoted or its quote was refused."""
        try:
            return self._parsed[symbol]
        except KeyError:
            pass
        i = self.index.get(symbol)
        q = self._parsed[symbol] = None if i is None or not self.usable[i] else self._build(symbol, i)
        return q

    def refused(self, symbol: str) -> bool:
        """True when the feed quotes ``symbol`` but this snapshot's quote for it failed the edge checks."""
        i = self.index.get(symbol)
        return i is not None and not self.usable[i]

    def changed_since(self, seq: int) -> list[str]:
        """Series whose venue quotes (or usability) moved after snapshot ``seq``: what the venues' books show."""
        return [self.symbols[i] for i in np.flatnonzero(self.rev > seq).tolist()]

    def _build(self, symbol: str, i: int) -> Quote:
        _, bid, bid_size, ask, ask_size, bid_venue, ask_venue, iv = self.frame.series[i].item()
        names = self.frame.venue_names
        venues = {names[j]: VenueQuote(b, bs, a, az)
                  for j, (quoted, b, bs, a, az) in enumerate(self.frame.venues[i].tolist()) if quoted}
        return Quote(symbol, bid, bid_size, ask, ask_size, names[bid_venue] if bid_venue >= 0 else None,
                     names[ask_venue] if ask_venue >= 0 else None, iv if 0 < iv <= MAX_IV else None, venues)

    def __len__(self) -> int:
        return len(self.symbols)

    def __bool__(self) -> bool:
        return True  # a snapshot that lists no series is still the snapshot in use, not "no snapshot"


class QuoteBook:
    """Holder of the snapshot in use, the feed heartbeat and unseen trade prints.

    Readers take ``snapshot`` as one reference and never lock; ``refresh`` (one thread at a time)
    builds the next snapshot aside and swaps it in.
    """

    def __init__(self, data_dir: str | os.PathLike, clock: Callable[[], float] = time.time, max_cross: float = 0.5):
        self.path = Path(data_dir) / QUOTES_FILE
        self.snap_path = Path(data_dir) / SNAPSHOT_FILE
        self.heartbeat_path = Path(data_dir) / HEARTBEAT_FILE
        self.clock, self.max_cross = clock, max_cross
        self._lock = threading.Lock()
        self._signatures: dict[Path, tuple] = {}
        self.snapshot: Snapshot | None = None
        self.following = False  # a background thread keeps the book current: requests never look at files
        self.read_errors = 0  # snapshots refused whole (the previous one stayed in use)
        self.refused_series = 0  # unusable series, counted once per snapshot taken
        self.bad_trades = 0  # prints dropped for their shape or price
        self.last_error: str | None = None  # why the newest snapshot on disk is not the one in use
        self.missed_trades = 0  # prints that rolled out of the feed's ring before we read them
        self.on_refused: Callable[[str, int], None] = lambda what, n: None  # metrics hook
        self.take_times: list[float] = []  # seconds per snapshot taken, newest last (bounded)
        self._last_trade_seq: int | None = None
        self._pending: list[Trade] = []

    def pull(self) -> None:
        """Take a new snapshot now, unless the background thread keeps the book current."""
        if not self.following:
            self.refresh()

    def refresh(self) -> bool:
        """Take the newest snapshot on disk if it changed; True when a new sequence was swapped in."""
        with self._lock:
            picked = self._pick()
            if picked is None:
                return False
            path, signature = picked
            started = time.perf_counter()
            try:
                frame = read_snap(path) if path == self.snap_path else from_json(path.read_bytes())
            except FileNotFoundError:
                return False  # replaced or removed between the stat and the read: next look
            except (BadSnapshot, OSError) as exc:
                self._signatures[path] = signature
                return self._refuse(str(exc))
            self._signatures[path] = signature
            if frame.ts > self.clock() + FUTURE_TOLERANCE_S:
                return self._refuse(f"snapshot seq {frame.seq} is stamped in the future ({frame.ts:.3f})")
            self.last_error = None
            if self.snapshot is not None and frame.seq == self.snapshot.seq:
                return False
            restarted = self.snapshot is not None and frame.seq < self.snapshot.seq
            snap = Snapshot(frame, self.max_cross, self.snapshot)
            self._take_trades(frame, restarted)
            self.snapshot = snap  # one reference: readers see the old snapshot or the new one
            if snap.unusable:
                self.refused_series += snap.unusable
                self.on_refused("series", snap.unusable)
            self.take_times = self.take_times[-999:] + [time.perf_counter() - started]
            return True

    def _pick(self) -> tuple[Path, tuple] | None:
        """The file to take: quotes.snap, unless a quotes.json was written by hand after it (or is alone)."""
        stats = {}
        for path in (self.snap_path, self.path):
            try:
                stats[path] = os.stat(path)
            except FileNotFoundError:
                pass
        if not stats:
            if self.snapshot is not None:
                self.last_error = f"{QUOTES_FILE} and {SNAPSHOT_FILE} are missing: the last snapshot ages out"
            return None
        binary, js = stats.get(self.snap_path), stats.get(self.path)
        path = self.path if js and (binary is None or js.st_mtime_ns > binary.st_mtime_ns + PAIR_WINDOW_NS) else self.snap_path
        st = stats[path]
        signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        return None if signature == self._signatures.get(path) else (path, signature)

    def _refuse(self, reason: str) -> bool:
        self.read_errors += 1
        self.last_error = reason
        self.on_refused("snapshot", 1)
        return False

    def _take_trades(self, frame: Frame, restarted: bool = False) -> None:
        t = frame.trades
        if self._last_trade_seq is None:  # first snapshot: history before we started is not ours
            self._last_trade_seq = int(t["trade_seq"].max()) if len(t) else 0
            return
        if restarted or (len(t) and int(t["trade_seq"].max()) < self._last_trade_seq):
            # a restarted feed numbers its snapshots and prints from 1 again: its prints are all new, and
            # none was missed across the restart (the old feed's last ones were taken or are gone with it)
            self._last_trade_seq = int(t["trade_seq"].min()) - 1 if len(t) else 0
        fresh = np.sort(t[t["trade_seq"] > self._last_trade_seq], order="trade_seq")
        if not len(fresh):
            return
        good = check_trades(fresh) & (fresh["venue"] >= 0) & (fresh["venue"] < len(frame.venue_names))
        if not good.all():
            self.bad_trades += int(len(fresh) - np.count_nonzero(good))
            self.on_refused("trade", int(len(fresh) - np.count_nonzero(good)))
        first, last = int(fresh["trade_seq"][0]), int(fresh["trade_seq"][-1])
        self.missed_trades += max(0, first - self._last_trade_seq - 1)
        self._last_trade_seq = last
        names = frame.venue_names
        self._pending.extend(Trade(seq, ts, symbol.decode(), names[venue], price, qty, "BUY" if side > 0 else "SELL")
                             for seq, ts, symbol, venue, price, qty, side in fresh[good].tolist())

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
        """Seconds since the snapshot in use was taken; None before the first one."""
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
