"""The monitor's incident state machine over the shared incident log.

Each poll's signals are grouped (``grouping``) into incidents; each triggers (or refreshes) the one
unresolved incident of its dedup key, with its firing signals written on the record. An incident the
monitor opened is auto-resolved after ``resolve_after_polls`` consecutive polls that judged its type
healthy (hysteresis, so a flapping check does not open and close incidents every poll). A signal that
another incident could explain (``grouping.WAITING``) waits ``group_wait_polls`` polls before it opens
an incident of its own, like Alertmanager's ``group_wait``; once absorbed into a firing incident, its
own incident is resolved as grouped. The log is the source of truth: after a restart the open
incidents are read back from it, so nothing is triggered twice.
"""
from __future__ import annotations

import logging

from incident_logger import Incident, IncidentAlreadyResolved, IncidentLog

from .detectors import Assessment
from .grouping import WAITING, group, judged_types, signal_view

log = logging.getLogger(__name__)


class IncidentTracker:
    def __init__(self, incident_log: IncidentLog, resolve_after_polls: int, group_wait_polls: int = 1):
        self.log = incident_log
        self.resolve_after_polls = resolve_after_polls
        self.group_wait_polls = group_wait_polls
        self._healthy: dict[str, int] = {}  # dedup_key -> consecutive healthy polls
        self._waiting: dict[str, int] = {}  # dedup_key -> consecutive polls a waiting signal has fired alone

    def apply(self, assessment: Assessment) -> list[tuple[str, Incident]]:
        """Write this poll's changes; returns the (action, incident) pairs that were logged."""
        changes: list[tuple[str, Incident]] = []
        incidents, absorbed = group(assessment.findings)
        firing = set()
        waiting = {}
        for g in incidents:
            if len(g.signals) == 1 and g.type in WAITING and self.log.find_open(g.dedup_key) is None:
                waiting[g.dedup_key] = self._waiting.get(g.dedup_key, 0) + 1
                if waiting[g.dedup_key] < self.group_wait_polls:
                    firing.add(g.dedup_key)  # not healthy either: it is waiting
                    continue
            firing.add(g.dedup_key)
            self._healthy.pop(g.dedup_key, None)
            change = self.log.trigger(g.dedup_key, g.type, g.severity, g.summary, g.details,
                                      signals=[signal_view(s) for s in g.signals])
            if change.action:
                changes.append((change.action, change.incident))
                level = logging.WARNING if change.action == "trigger" else logging.INFO
                log.log(level, "%s %s %s [%s] %s", change.action, change.incident.incident_id, g.severity,
                        g.dedup_key, g.summary)
        self._waiting = waiting
        for f in absorbed:  # its own incident, opened before the cause showed, now lives in the group
            own = self.log.find_open(f.dedup_key)
            if own is not None and own.source == self.log.source:
                changes += self._resolve(own, "grouped under the incident that explains it")
        judged = judged_types(assessment.judged)
        for inc in self.log.open_incidents():
            if inc.source != self.log.source or inc.dedup_key in firing or inc.type not in judged:
                continue
            healthy = self._healthy.get(inc.dedup_key, 0) + 1
            if healthy < self.resolve_after_polls:
                self._healthy[inc.dedup_key] = healthy
                continue
            self._healthy.pop(inc.dedup_key, None)
            changes += self._resolve(inc, f"healthy for {healthy} consecutive polls")
        return changes

    def _resolve(self, inc: Incident, note: str) -> list[tuple[str, Incident]]:
        try:
            done = self.log.resolve(inc.incident_id, actor=self.log.source, resolution="auto", note=note)
        except IncidentAlreadyResolved:
            return []  # someone resolved it by hand in the meantime
        log.info("resolve %s [%s]: %s", done.incident_id, done.dedup_key, note)
        return [("resolve", done)]
