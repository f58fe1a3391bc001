"""A repeating log line (waitress's queue-depth warning at saturation) reaches the log once per interval,
and the next line that passes says how many were held back."""
from __future__ import annotations

import logging

from optsim.ops.logthrottle import OncePer


def test_one_line_per_interval_with_the_count_held_back(caplog):
    # Arrange: a stand-in for the logger, and a clock the test moves
    now = [100.0]
    logger = OncePer(logging.getLogger("test.logthrottle"), 10.0, clock=lambda: now[0])
    # Act: a burst of 50 lines within one interval, then one more after it
    with caplog.at_level(logging.WARNING, logger="test.logthrottle"):
        for depth in range(50):
            logger.warning("Task queue depth is %d", depth)
        now[0] += 10.0
        logger.warning("Task queue depth is %d", 7)
    # Assert: the first of the burst and the one after, which counts the 49 dropped
    assert [r.getMessage() for r in caplog.records] == [
        "Task queue depth is 0",
        "Task queue depth is 7 (and 49 more like it in the last 10 s)"]

