"""One tick of the feed process: read the drills, move the market, write the snapshot and the heartbeat.

The snapshot goes out twice: ``quotes.snap`` in columns for the service (snapshot.py) on every tick,
and ``quotes.json`` for people and tools every ``feed.json_interval_s`` (the last one also on stop):
serialising a megabyte of JSON was over half of what a tick cost, taken from the cores the service
runs on. On a large chain that interval stretches so that quotes.json takes at most
``feed.json_cpu_share`` of a core: a 14,560-series document costs ~0.14 s of CPU, 60 % of the feed
when written once a second. Every file is written atomically (temp file, fsync, rename), so a reader
sees the previous snapshot or the next one, never half of one. Both are written before the heartbeat, so a heartbeat
never names a ``seq`` that ``quotes.snap`` does not have yet. During a stall the market
keeps moving and printing and only the files stop, as when a real feed handler hangs; ``seq``
then resumes at +1 (nothing was written, so nothing was skipped). A file that cannot be written (a
full disk) is logged and retried on the next tick, the same way: the feed does not exit over it.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

from ...config import Config
from ..feedctl import FaultSet
from ...fileio import atomic_write, atomic_write_json
from ...ops.logthrottle import OncePer
from ..snapshot import SNAPSHOT_FILE, write_snap
from .faults import FaultSwitch
from .market import QuoteFeed

QUOTES_FILE = "quotes.json"
HEARTBEAT_FILE = "feed_heartbeat.json"

log = logging.getLogger(__name__)


class SnapshotTimer:
    """Wall time per snapshot, split into build (market step, the columnar form) and write (snap, JSON when due)."""

    def __init__(self) -> None:
        self.count = 0
        self.build_total = self.write_total = self.worst = 0.0

    def record(self, build: float, write: float) -> None:
        self.count += 1
        self.build_total += build
        self.write_total += write
        self.worst = max(self.worst, build + write)

    def summary(self) -> dict[str, float]:
        n = max(self.count, 1)
        return {"snapshots": self.count, "build_ms": 1000 * self.build_total / n,
                "write_ms": 1000 * self.write_total / n, "worst_ms": 1000 * self.worst}


class Publisher:
    """Owns the market, the drill switch and the two files the feed writes."""

    def __init__(self, config: Config, data_dir: str | os.PathLike, flags: FaultSet = FaultSet(),
                 clock: Callable[[], float] = time.time, on_publish: Callable[[float], None] | None = None):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.market = QuoteFeed(config)
        self._resume_session()
        self.switch = FaultSwitch(self.data_dir, flags)
        self.clock = clock
        self.seq = 0  # the last snapshot's sequence number
        self.json_every = max(1, round(config.feed.json_interval_s / config.feed.interval_s))  # in snapshots
        self._json_behind: tuple[float, FaultSet] | None = None  # (ts, drills) of a snapshot quotes.json lacks
        self._since_json = self.json_every  # snapshots since quotes.json was written: the first one writes it
        self._json_due = self.json_every  # snapshots between documents: json_every, or more if one costs too much
        self._cpu_share, self._interval_s = config.feed.json_cpu_share, config.feed.interval_s
        self.timer = SnapshotTimer()
        self.on_publish = on_publish  # told the ts of every snapshot written (the recorder)
        # a full disk is ridden out tick by tick, not a crash and the supervisor's backoff: said once per 10 s
        self._cannot_write = OncePer(log, 10.0)

    def _resume_session(self) -> None:
        """A feed restarted on the same data dir and date goes on from its last heartbeat's session time:
        starting again at ``feed.session_open`` would turn the clock back, past a close already reached."""
        try:
            last = json.loads((self.data_dir / HEARTBEAT_FILE).read_bytes()).get("session_time")
            moment = dt.datetime.fromisoformat(last)
        except (OSError, ValueError, TypeError, AttributeError):
            return
        self.market.clock.resume(moment)
        if self.market.clock.now == moment:
            log.info("resuming the session clock at %s (the last heartbeat's)", moment.isoformat())

    def tick(self) -> None:
        """Advance the market one interval and publish it, unless a drill says otherwise."""
        faults = self.switch.poll()
        if faults.stall:  # the files stop as they are: quotes.json first catches up with the last snapshot
            self.write_json()
        started = time.perf_counter()
        ts = self.clock()
        self.market.step(faults, ts)
        if faults.stall:
            return
        seq = self.seq + 1 + self.switch.take_seq_gap()
        frame = self.market.frame(seq, ts, faults)
        built = time.perf_counter()
        try:
            write_snap(self.data_dir / SNAPSHOT_FILE, frame)
            self.seq = seq  # taken only once written: a snapshot that never reached the disk leaves no gap
            self._json_behind, self._since_json = (ts, faults), self._since_json + 1
            if self._since_json >= self._json_due:
                self.write_json()
            if not faults.freeze_heartbeat:
                self.write_heartbeat("running", ts)
        except OSError as exc:
            self._cannot_write.warning("cannot write into %s: %s; the market moves on and the files resume when "
                                       "they can be written", self.data_dir, exc)
            return
        if self.on_publish is not None:
            self.on_publish(ts)
        self.timer.record(built - started, time.perf_counter() - built)

    def write_json(self) -> None:
        """quotes.json for the latest snapshot, if it does not have it yet."""
        if self._json_behind is not None:
            ts, faults = self._json_behind
            started = time.thread_time()
            prints = self.market.tape.trade_seq
            document = self.market.document(self.seq, ts, faults)
            atomic_write(self.data_dir / QUOTES_FILE, lambda fh: fh.write(document))
            self.market.tape.carried(prints)
            self._json_behind, self._since_json = None, 0
            self._pace_json(time.thread_time() - started)

    def _pace_json(self, cpu_s: float) -> None:
        """Space documents so that they take at most ``json_cpu_share`` of a core (0: no cap)."""
        due = self.json_every
        if self._cpu_share > 0:
            due = max(due, math.ceil(cpu_s / self._cpu_share / self._interval_s))
        if (due > self.json_every) != (self._json_due > self.json_every):  # log when the cap starts or stops
            log.info("quotes.json every %.2f s (feed.json_interval_s %.2f s): a document takes %.0f ms of CPU "
                     "and feed.json_cpu_share is %g of a core", due * self._interval_s,
                     self.json_every * self._interval_s, 1000 * cpu_s, self._cpu_share)
        self._json_due = due

    def write_heartbeat(self, status: str, ts: float | None = None) -> None:
        """``status`` is "running" or "stopping" (docs/architecture.md)."""
        atomic_write_json(self.data_dir / HEARTBEAT_FILE, {
            "ts": self.clock() if ts is None else ts, "seq": self.seq, "trade_seq": self.market.tape.trade_seq,
            "pid": os.getpid(), "contracts": len(self.market), "status": status,
            "session_time": self.market.clock.now.isoformat()})  # the simulated time of day: DAY orders end at the close

    def stop(self) -> None:
        """The last word: quotes.json caught up, and a heartbeat that says the feed is going away on purpose."""
        try:
            self.write_json()
            self.write_heartbeat("stopping")
        except OSError as exc:
            log.error("cannot write the last snapshot and heartbeat into %s: %s", self.data_dir, exc)
        log.info("stopped after %d snapshots; per snapshot %s", self.timer.count,
                 ", ".join(f"{k} {v:.1f}" for k, v in self.timer.summary().items() if k != "snapshots"))
