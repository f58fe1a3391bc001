"""Grouping and inhibition: the signals one fault causes become one incident with the others attached.

Alertmanager's ideas in our own code. A *root* group (service down, feed, kill switch, routing) turns
its signals into one incident; a firing root then absorbs the knock-on signals it explains (a stale
feed explains ``service_unhealthy`` on ``nbbo-feed`` checks and a reject spike; all venues down
explains ``service_unhealthy`` on ``route-*`` checks). What no root explains is an incident of its own.
The table of types, severities and what groups under what is ``optsim.ops.incident_types``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..incident_types import INCIDENT_TYPES, routing_severity, worst
from .detectors import Finding


@dataclass(frozen=True)
class Grouped:
    """One incident to trigger: its own fields plus every signal it stands for (``signals``)."""

    dedup_key: str
    type: str
    severity: str
    summary: str
    details: dict = field(default_factory=dict)
    signals: tuple[Finding, ...] = ()


@dataclass(frozen=True)
class Root:
    """A group that opens an incident: ``members`` are the signal types that make it fire, best first."""

    dedup_key: str
    members: tuple[str, ...]


ROOTS = (Root("service_down:optsim", ("service_down",)), Root("feed:nbbo", ("feed_stale", "feed_frozen", "quotes_unusable")),
         Root("kill_switch_engaged:trading", ("kill_switch_engaged",)),
         Root("routing_degraded:venues", ("route_down",)),
         Root("disk_full:optsim", ("disk_full",)), Root("db_corrupt:optsim", ("db_corrupt",)))
WAITING = frozenset({"service_unhealthy", "reject_rate_spike"})  # lasting knock-ons a root may explain next poll


def judged_types(judged_signals: frozenset[str]) -> frozenset[str]:
    """Incident types a poll could judge: the signal types, plus a group's types when its members were judged."""
    out = set(judged_signals)
    if "route_down" in judged_signals:
        out.add("routing_degraded")
    return frozenset(out)


def signal_view(f: Finding) -> dict:
    """How a signal is written on its incident's record."""
    labels = {k: f.details[k] for k in ("venue", "limit", "underlying") if isinstance(f.details.get(k), str)}
    return {"key": f.dedup_key, "type": f.type, "severity": f.severity, "summary": f.summary, "labels": labels}


def _root_incident(root: Root, signals: list[Finding]) -> Grouped:
    if root.members == ("route_down",):
        total = max(int(f.details.get("venues", 0)) for f in signals)
        venues = sorted(f.details.get("venue", "?") for f in signals)
        severity = routing_severity(len(venues), total)
        what = "every venue" if len(venues) >= total else f"{len(venues)} of {total} venues"
        return Grouped(root.dedup_key, "routing_degraded", severity,
                       f"routing degraded: {what} down ({', '.join(venues)})",
                       {"venues_down": venues, "venues": total, "share": round(len(venues) / total, 3) if total else 1.0,
                        "band": f"{severity}:{len(venues)}"}, tuple(signals))
    lead = min(signals, key=lambda f: root.members.index(f.type))
    return Grouped(root.dedup_key, lead.type, worst(*(f.severity for f in signals)), lead.summary,
                   dict(lead.details), tuple(signals))


def _explainer(f: Finding, firing: list[tuple[Root, str]]) -> int | None:
    """Index in ``firing`` of the first incident that explains signal ``f``, or None."""
    for i, (_, incident_type) in enumerate(firing):
        kind = INCIDENT_TYPES[incident_type]
        if f.type not in kind.groups:
            continue
        if f.type != "service_unhealthy":
            return i
        checks = f.details.get("failing_checks") or []
        prefixes = tuple(p for _, t in firing for p in INCIDENT_TYPES[t].explains_checks)
        if checks and all(c.startswith(prefixes) for c in checks) and any(
                c.startswith(kind.explains_checks) for c in checks):
            return i
    return None


def group(findings: list[Finding]) -> tuple[list[Grouped], list[Finding]]:
    """(incidents to trigger, signals absorbed into them). Signals no root explains stand alone."""
    pending = list(findings)
    incidents: list[Grouped] = []
    firing: list[tuple[Root, str]] = []
    members: list[list[Finding]] = []
    for root in ROOTS:
        mine = [f for f in pending if f.type in root.members]
        if mine:
            pending = [f for f in pending if f not in mine]
            incident = _root_incident(root, mine)
            firing.append((root, incident.type))
            members.append(mine)
    absorbed = []
    for f in list(pending):
        i = _explainer(f, firing)
        if i is not None:
            members[i].append(f)
            absorbed.append(f)
            pending.remove(f)
    for (root, _), signals in zip(firing, members):
        incidents.append(_with_related(_root_incident(root, [s for s in signals if s.type in root.members]), signals))
    incidents += [Grouped(f.dedup_key, f.type, f.severity, f.summary, dict(f.details), (f,)) for f in pending]
    return incidents, absorbed


def _with_related(incident: Grouped, signals: list[Finding]) -> Grouped:
    """The incident with every signal firing under it; the summary counts them all, as the incident shows them."""
    n = len(signals)
    summary = incident.summary + (f" ({n} signals attached)" if n > 1 else "")
    return Grouped(incident.dedup_key, incident.type, incident.severity, summary, incident.details, tuple(signals))
