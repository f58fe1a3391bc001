"""Running counts for the dashboard, kept as orders and fills happen.

``/api/summary`` reads these instead of rescanning every order, so its cost does not grow with
history. At start-up they are loaded once from the store with a few GROUP BY queries.
"""
from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections import Counter, deque

LATENCY_BUCKET_S = 5.0  # one p50/p95/p99 sample per this many seconds
LATENCY_BUCKETS_KEPT = 120  # ten minutes of samples


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_underlying: Counter[str] = Counter()  # accepted orders
        self.by_venue: Counter[str] = Counter()  # accepted orders
        self.by_status: Counter[str] = Counter()  # accepted / rejected / invalid at entry
        self.reject_reasons: Counter[str] = Counter()
        self.fills_by_venue: Counter[str] = Counter()
        self.contracts_by_venue: Counter[str] = Counter()
        self.latencies: deque[tuple[float, float]] = deque(maxlen=4096)  # (epoch, seconds) of recent orders
        self.latency_samples: deque[dict] = deque(maxlen=LATENCY_BUCKETS_KEPT)  # closed buckets, oldest first
        self.by_current_status: Counter[str] = Counter()  # stored orders by their status now

    # n=-1 takes a count back (the order's writes were rolled back)
    def order(self, underlying: str | None, venue: str | None, status: str, reason: str | None = None,
              n: int = 1) -> None:
        with self._lock:
            self.by_status[status] += n
            if status == "accepted":
                self.by_underlying[underlying] += n
                self.by_venue[venue] += n
            if reason:
                self.reject_reasons[reason] += n

    def moved(self, old: str | None, new: str, n: int = 1) -> None:
        """An order was stored with status ``new`` (``old`` None) or changed from ``old`` to ``new``."""
        with self._lock:
            if old:
                self.by_current_status[old] -= n
            self.by_current_status[new] += n

    def fill(self, venue: str, qty: int, n: int = 1) -> None:
        with self._lock:
            self.fills_by_venue[venue] += n
            self.contracts_by_venue[venue] += n * qty

    def latency(self, seconds: float) -> None:
        with self._lock:
            self.latencies.append((time.time(), seconds))

    def load(self, db: sqlite3.Connection) -> None:
        """Seed the counters from the store once, at start-up."""
        with self._lock:
            for row in db.execute("SELECT underlying, venue, status, reason, COUNT(*) AS n FROM orders "
                                  "GROUP BY underlying, venue, status, reason"):
                self.by_current_status[row["status"]] += row["n"]
                if row["status"] == "rejected":
                    self.by_status["rejected"] += row["n"]
                    self.reject_reasons[row["reason"]] += row["n"]
                else:
                    self.by_status["accepted"] += row["n"]
                    self.by_underlying[row["underlying"]] += row["n"]
                    self.by_venue[row["venue"]] += row["n"]
            for row in db.execute("SELECT venue, COUNT(*) AS n, SUM(qty) AS q FROM fills GROUP BY venue"):
                self.fills_by_venue[row["venue"]] += row["n"]
                self.contracts_by_venue[row["venue"]] += row["q"]

    def snapshot(self) -> dict:
        with self._lock:
            return {"orders_by_underlying": dict(self.by_underlying), "orders_by_venue": dict(self.by_venue),
                    "orders_by_outcome": dict(self.by_status), "reject_reasons": dict(self.reject_reasons),
                    "orders_by_status": {k: v for k, v in self.by_current_status.items() if v},
                    "fills_by_venue": dict(self.fills_by_venue), "contracts_by_venue": dict(self.contracts_by_venue)}

    def latency_series(self, now: float | None = None, bucket_s: float = LATENCY_BUCKET_S) -> list[dict]:
        """p50/p95/p99 per time bucket: the kept closed buckets plus the open one (``partial``).

        Buckets that closed since the last call are computed from the latency ring, so the cost is
        bounded by the ring, whoever calls and however rarely.
        """
        now = time.time() if now is None else now
        current = math.floor(now / bucket_s) * bucket_s
        with self._lock:
            ring = list(self.latencies)
            last = self.latency_samples[-1]["t"] if self.latency_samples else None
        first = current - bucket_s * LATENCY_BUCKETS_KEPT
        start = max(first, last + bucket_s) if last is not None else max(first, _first_bucket(ring, bucket_s, current))
        grouped: dict[float, list[float]] = {}
        for ts, seconds in ring:
            if ts >= start:
                grouped.setdefault(math.floor(ts / bucket_s) * bucket_s, []).append(seconds)
        closed = []
        t = start
        while t < current:
            closed.append(_percentiles(t, grouped.get(t, [])))
            t += bucket_s
        with self._lock:
            if not self.latency_samples or closed and closed[0]["t"] > self.latency_samples[-1]["t"]:
                self.latency_samples.extend(closed)
            kept = list(self.latency_samples)
        return kept + [dict(_percentiles(current, grouped.get(current, [])), partial=True)]


def _first_bucket(ring: list[tuple[float, float]], bucket_s: float, current: float) -> float:
    return math.floor(ring[0][0] / bucket_s) * bucket_s if ring else current


def _percentiles(t: float, values: list[float]) -> dict:
    """Nearest-rank percentiles in seconds; None when the bucket saw no orders."""
    ordered = sorted(values)

    def rank(q: float) -> float | None:
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] if ordered else None

    return {"t": t, "n": len(ordered), "p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99)}
