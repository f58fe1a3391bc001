"""Keep a repeating log line from flooding the log: one record per interval, with how many were held back.

Waitress warns "Task queue depth is N" for every request that finds all its threads busy; at
saturation that is a line (and a write to stderr) per request, which buries everything else in the
service log. It makes the call while holding its task queue's lock, so a call held back must return
before any record is built: a ``logging.Filter`` would run only after the record was made.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["OncePer"]


class OncePer:
    """Stands in for ``logger``: a warning passes at most once per ``interval_s``, and the next one passed
    says how many were dropped."""

    def __init__(self, logger: logging.Logger, interval_s: float, clock: Callable[[], float] = time.monotonic):
        self.logger, self.interval_s, self.clock = logger, interval_s, clock
        self._next = float("-inf")
        self._held = 0
        self._lock = threading.Lock()

    def warning(self, msg: str, *args) -> None:
        with self._lock:
            now = self.clock()
            if now < self._next:
                self._held += 1
                return
            self._next = now + self.interval_s
            held, self._held = self._held, 0
        if held:
            msg = f"{msg} (and {held} more like it in the last {self.interval_s:g} s)"
        self.logger.warning(msg, *args)
