"""Service-side faults for drills: a latency spike on order entry and a venue reject storm.

Feed faults live in ``feedctl`` (the feed applies them); venue down is the router's. Names follow
Toxiproxy's toxics: ``latency`` (+ jitter) and ``toxicity`` (the share of orders affected).
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass


@dataclass
class ServiceFaults:
    latency_ms: float = 0.0  # added to every order request
    jitter_ms: float = 0.0  # uniform 0..jitter_ms on top
    reject_fraction: float = 0.0  # share of otherwise-good orders the venue rejects
    injected_at: dict[str, float] | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(7)
        self._lock = threading.Lock()
        self.injected_at = {}

    def delay(self) -> None:
        """Sleep for the injected latency (outside the order lock, like a slow network hop)."""
        if self.latency_ms or self.jitter_ms:
            with self._lock:
                extra = self._rng.uniform(0, self.jitter_ms)
            time.sleep((self.latency_ms + extra) / 1000.0)

    def venue_rejects(self) -> bool:
        if self.reject_fraction <= 0:
            return False
        with self._lock:
            return self._rng.random() < self.reject_fraction

    def active(self) -> dict[str, dict]:
        out = {}
        if self.latency_ms or self.jitter_ms:
            out["latency_spike"] = {"ms": self.latency_ms, "jitter_ms": self.jitter_ms}
        if self.reject_fraction:
            out["reject_storm"] = {"fraction": self.reject_fraction}
        return out
