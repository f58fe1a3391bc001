"""The monitor's incident state machine over the shared incident log.

A finding triggers (or refreshes) the one unresolved incident of its dedup key; an incident the
monitor opened is auto-resolved after ``resolve_after_polls`` consecutive polls that judged its type
healthy (hysteresis, so a flapping check does not open and close incidents every poll). The log is
the source of truth: after a restart the open incidents are read back from it, so nothing is
triggered twice, and an incident resolved by hand is simply no longer tracked.
"""
from __future__ import annotations

import logging
from typing import Callable

from incident_logger import Incident, IncidentAlreadyResolved, IncidentLog

from .detectors import Assessment

log = logging.getLogger(__name__)

Notify = Callable[[str, Incident], None]


class IncidentTracker:
    def __init__(self, incident_log: IncidentLog, resolve_after_polls: int, notify: Notify | None = None):
        self.log = incident_log
        self.resolve_after_polls = resolve_after_polls
        self.notify = notify or (lambda action, incident: None)
        self._healthy: dict[str, int] = {}  # dedup_key -> consecutive healthy polls

    def apply(self, assessment: Assessment) -> list[tuple[str, Incident]]:
        """Write this poll's changes; returns the (action, incident) pairs that were logged."""
        changes: list[tuple[str, Incident]] = []
        firing = set()
        for f in assessment.findings:
            firing.add(f.dedup_key)
            self._healthy.pop(f.dedup_key, None)
            change = self.log.trigger(f.dedup_key, f.type, f.severity, f.summary, f.details)
            if change.action:
                changes.append((change.action, change.incident))
                level = logging.WARNING if change.action == "trigger" else logging.INFO
                log.log(level, "%s %s %s [%s] %s", change.action, change.incident.incident_id, f.severity,
                        f.dedup_key, f.summary)
            if change.action == "trigger":
                self.notify("trigger", change.incident)
        for inc in self.log.open_incidents():
            if inc.source != self.log.source or inc.dedup_key in firing or inc.type not in assessment.judged:
                continue
            healthy = self._healthy.get(inc.dedup_key, 0) + 1
            if healthy < self.resolve_after_polls:
                self._healthy[inc.dedup_key] = healthy
                continue
            self._healthy.pop(inc.dedup_key, None)
            try:
                done = self.log.resolve(inc.incident_id, actor=self.log.source, resolution="auto",
                                        note=f"healthy for {healthy} consecutive polls")
            except IncidentAlreadyResolved:
                continue  # someone resolved it by hand in the meantime
            log.info("resolve %s [%s] after %d healthy polls", done.incident_id, done.dedup_key, healthy)
            changes.append(("resolve", done))
            self.notify("resolve", done)
        return changes
