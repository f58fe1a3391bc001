"""Keep a repeating log line from flooding the log: one record per interval, with how many were held back.

Waitress warns "Task queue depth is N" for every request that finds all its threads busy; at
saturation that is a line (and a write to stderr) per request, which buries everything else in the
service log and costs the order path.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["OncePer"]


class OncePer(logging.Filter):
    """Pass a record at most once per ``interval_s``; the next one passed says how many were dropped."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.interval_s, self.clock = interval_s, clock
        self._next = float("-inf")
        self._held = 0
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            now = self.clock()
            if now < self._next:
                self._held += 1
                return False
            self._next = now + self.interval_s
            held, self._held = self._held, 0
        if held:
            record.msg = f"{record.msg} (and {held} more like it in the last {self.interval_s:g} s)"
        return True
