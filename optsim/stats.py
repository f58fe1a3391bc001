"""Running counts for the dashboard, kept as orders and fills happen.

``/api/summary`` reads these instead of rescanning every order, so its cost does not grow with
history. At start-up they are loaded once from the store with a few GROUP BY queries.
"""
from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter, deque


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

    def order(self, underlying: str | None, venue: str | None, status: str, reason: str | None = None) -> None:
        with self._lock:
            self.by_status[status] += 1
            if status == "accepted":
                self.by_underlying[underlying] += 1
                self.by_venue[venue] += 1
            if reason:
                self.reject_reasons[reason] += 1

    def fill(self, venue: str, qty: int) -> None:
        with self._lock:
            self.fills_by_venue[venue] += 1
            self.contracts_by_venue[venue] += qty

    def latency(self, seconds: float) -> None:
        with self._lock:
            self.latencies.append((time.time(), seconds))

    def load(self, db: sqlite3.Connection) -> None:
        """Seed the counters from the store once, at start-up."""
        with self._lock:
            for row in db.execute("SELECT underlying, venue, status, reason, COUNT(*) AS n FROM orders "
                                  "GROUP BY underlying, venue, status, reason"):
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
                    "fills_by_venue": dict(self.fills_by_venue), "contracts_by_venue": dict(self.contracts_by_venue)}
