"""The monitor's incident state machine over the shared incident log.

A finding triggers (or refreshes) the one unresolved incident of its dedup key; an incident the
monitor opened is auto-resolved after ``resolve_after_polls`` consecutive polls that judged its type
healthy (hysteresis, so a flapping check does not open and close incidents every poll). The log is
the source of truth: after a restart the open incidents are read back from it, so nothing is
triggered twice, and an incident resolved by hand is simply no longer tracked.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

from incident_logger import Incident, IncidentAlreadyResolved, IncidentLog

from .detectors import Assessment, Finding

log = logging.getLogger(__name__)

Notify = Callable[[str, Incident], None]


class IncidentTracker:
    def __init__(self, incident_log: IncidentLog, resolve_after_polls: int, notify: Notify | None = None):
        self.log = incident_log
        self.resolve_after_polls = resolve_after_polls
        self.notify = notify or (lambda action, incident: None)
        self._healthy: dict[str, int] = {}  # dedup_key -> consecutive healthy polls
        self.unwritten: dict[str, Finding] = {}  # findings the log refused (full disk): retried every poll

    def apply(self, assessment: Assessment) -> list[tuple[str, Incident]]:
        """Write this poll's changes; returns the (action, incident) pairs that were logged."""
        changes: list[tuple[str, Incident]] = []
        firing = set()
        current = {f.dedup_key for f in assessment.findings}
        retry = [f for key, f in self.unwritten.items() if key not in current]  # it happened, even if over now
        for f in [*retry, *assessment.findings]:
            firing.add(f.dedup_key)
            self._healthy.pop(f.dedup_key, None)
            try:
                change = self.log.trigger(f.dedup_key, f.type, f.severity, f.summary, f.details)
            except OSError as exc:  # cannot write the log: keep it in memory, say so, retry next poll
                self._unwritable(f, exc)
                continue
            if self.unwritten.pop(f.dedup_key, None) is not None:
                log.warning("incident log writable again: recorded [%s]", f.dedup_key)
            if change.action:
                changes.append((change.action, change.incident))
                level = logging.WARNING if change.action == "trigger" else logging.INFO
                log.log(level, "%s %s %s [%s] %s", change.action, change.incident.incident_id, f.severity,
                        f.dedup_key, f.summary)
            if change.action == "trigger":
                self.notify("trigger", change.incident)
        try:
            still_open = self.log.open_incidents()
        except OSError as exc:
            log.error("incident log unreadable (%s): auto-resolve waits for the next poll", exc)
            still_open = []
        for inc in still_open:
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
            except OSError as exc:
                log.error("cannot record the resolve of %s (%s); retrying next poll", inc.incident_id, exc)
                continue
            log.info("resolve %s [%s] after %d healthy polls", done.incident_id, done.dedup_key, healthy)
            changes.append(("resolve", done))
            self.notify("resolve", done)
        return changes

    def _unwritable(self, f: Finding, exc: OSError) -> None:
        """The first time a finding cannot be logged: log an error and notify with the incident as it would be."""
        if f.dedup_key in self.unwritten:
            return
        self.unwritten[f.dedup_key] = f
        log.error("CANNOT WRITE %s (%s): %s [%s] %s kept in memory, retried every poll", self.log.path, exc,
                  f.severity, f.dedup_key, f.summary)
        now = time.time()
        self.notify("trigger", Incident(
            incident_id="(not yet recorded)", dedup_key=f.dedup_key, type=f.type, severity=f.severity, status="open",
            source=self.log.source, summary=f"{f.summary} [incident log unwritable: {exc.strerror or exc}]",
            details=f.details, opened_at=now, updated_at=now, last_seen=now))
