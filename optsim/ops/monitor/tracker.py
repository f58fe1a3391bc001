"""The monitor's incident state machine over the shared incident log.

Each poll's signals are grouped (``grouping``) into incidents; each triggers (or refreshes) the one
unresolved incident of its dedup key, with its firing signals written on the record. An incident the
monitor opened is auto-resolved after ``resolve_after_polls`` consecutive polls that judged its type
healthy (hysteresis, so a flapping check does not open and close incidents every poll). A signal that
another incident could explain (``grouping.WAITING``) waits ``group_wait_polls`` polls before it opens
an incident of its own, like Alertmanager's ``group_wait``; once absorbed into a firing incident, its
own incident is resolved as grouped. The log is the source of truth: after a restart the open
incidents are read back from it, so nothing is triggered twice. An incident the log cannot take (a
full disk) is kept in memory, logged and notified once, and written on every later poll until it lands,
with when it was first detected (``details.detected_at``) and every signal it stood for meanwhile.
"""
from __future__ import annotations

import dataclasses
import logging
import time
from typing import Callable

from incident_logger import Incident, IncidentAlreadyResolved, IncidentLog

from .detectors import Assessment
from ...timefmt import rfc3339
from .grouping import WAITING, Grouped, group, judged_types, signal_view

log = logging.getLogger(__name__)


def _merged(held: Grouped, now: Grouped) -> Grouped:
    """An incident held back from the log, as seen now: the latest fields, and every signal it stood for
    while it waited (the latest view of each), so a knock-on signal that has since cleared is not lost."""
    latest = {s.dedup_key for s in now.signals}
    earlier = tuple(s for s in held.signals if s.dedup_key not in latest)
    return dataclasses.replace(now, signals=now.signals + earlier) if earlier else now


class IncidentTracker:
    def __init__(self, incident_log: IncidentLog, resolve_after_polls: int, group_wait_polls: int = 1,
                 notify_unrecorded: Callable[[Incident], None] | None = None):
        self.log = incident_log
        self.notify_unrecorded = notify_unrecorded or (lambda incident: None)
        self.resolve_after_polls = resolve_after_polls
        self.group_wait_polls = group_wait_polls
        self._healthy: dict[str, int] = {}  # dedup_key -> consecutive healthy polls
        self._waiting: dict[str, int] = {}  # dedup_key -> consecutive polls a waiting signal has fired alone
        # incidents the log refused (full disk), with when each was first detected: retried every poll
        self.unwritten: dict[str, tuple[Grouped, float]] = {}

    def apply(self, assessment: Assessment) -> list[tuple[str, Incident]]:
        """Write this poll's changes; returns the (action, incident) pairs that were logged."""
        changes: list[tuple[str, Incident]] = []
        incidents, absorbed = group(assessment.findings)
        firing = set()
        waiting = {}
        current = {g.dedup_key for g in incidents}
        retry = [g for key, (g, _) in self.unwritten.items() if key not in current]  # it happened, even if over now
        for g in [*retry, *incidents]:
            if (len(g.signals) == 1 and g.type in WAITING and g.dedup_key not in self.unwritten
                    and self.log.find_open(g.dedup_key) is None):
                waiting[g.dedup_key] = self._waiting.get(g.dedup_key, 0) + 1
                if waiting[g.dedup_key] < self.group_wait_polls:
                    firing.add(g.dedup_key)  # not healthy either: it is waiting
                    continue
            firing.add(g.dedup_key)
            self._healthy.pop(g.dedup_key, None)
            held = self.unwritten.get(g.dedup_key)
            details = g.details
            if held is not None:  # recorded late: with every signal seen meanwhile, and when it was detected
                g = _merged(held[0], g)
                details = {**g.details, "detected_at": rfc3339(held[1])}
            try:
                change = self.log.trigger(g.dedup_key, g.type, g.severity, g.summary, details,
                                          signals=[signal_view(s) for s in g.signals])
            except OSError as exc:  # cannot write the log: keep it in memory, say so once, retry next poll
                self._unwritable(g, held, exc)
                continue
            if self.unwritten.pop(g.dedup_key, None) is not None:
                log.warning("incident log writable again: recorded [%s], detected at %s", g.dedup_key,
                            details["detected_at"])
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
        try:
            still_open = self.log.open_incidents()
        except OSError as exc:
            log.error("incident log unreadable (%s): auto-resolve waits for the next poll", exc)
            still_open = []
        for inc in still_open:
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
        except OSError as exc:
            log.error("cannot record the resolve of %s (%s); retrying next poll", inc.incident_id, exc)
            return []
        log.info("resolve %s [%s]: %s", done.incident_id, done.dedup_key, note)
        return [("resolve", done)]

    def _unwritable(self, g: Grouped, held: tuple[Grouped, float] | None, exc: OSError) -> None:
        """The first time an incident cannot be logged: log an error and notify with the incident as it would be.

        The notifier works from the log, which cannot hold this one yet, so it is sent directly; once
        recorded, the notifier owes (and sends) its trigger like any other.
        """
        if held is not None:
            self.unwritten[g.dedup_key] = (g, held[1])  # ``g`` is merged with what was held: recorded when it lands
            return
        now = time.time()
        self.unwritten[g.dedup_key] = (g, now)
        log.error("CANNOT WRITE %s (%s): %s [%s] %s kept in memory, retried every poll", self.log.path, exc,
                  g.severity, g.dedup_key, g.summary)
        self.notify_unrecorded(Incident(
            incident_id="(not yet recorded)", dedup_key=g.dedup_key, type=g.type, severity=g.severity, status="open",
            source=self.log.source, summary=f"{g.summary} [incident log unwritable: {exc.strerror or exc}]",
            details=g.details, opened_at=now, updated_at=now, last_seen=now))
