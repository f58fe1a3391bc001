"""Notifications: what to send when (trigger, re-notify with escalation, resolve), and delivering it.

Each poll the monitor calls ``Notifier.reconcile()``, which compares every recent incident with the
``notify`` records on it in the incident log and decides what is due:

- an unresolved incident never notified: ``trigger`` (or, when a silence matches, one ``silenced``
  record and nothing sent; it is sent if the silence ends while the incident is still open);
- an unacknowledged incident whose severity has ``notify.renotify_after_s``: ``renotify`` that often,
  one escalation level further each time (``notify.escalation``); acknowledging stops it;
- a resolved incident whose trigger went out: ``resolve``.

Delivery runs on worker threads, so a slow or dead webhook never holds up a poll: each webhook gets
``retries`` more attempts with doubling backoff, then the outcome (sent or failed, per webhook) is
written as a ``notify`` record. Because decisions are read back from the log, a restarted monitor
neither repeats nor forgets a notification.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import requests

from incident_logger import Incident, IncidentLog, IncidentLogError

from .. import silences as silence_store
from ...config import Config, Webhook
from ..incident_types import SEVERITIES
from ...timefmt import rfc3339

log = logging.getLogger(__name__)
MAX_TEXT = 1900  # Discord refuses content over 2000 characters
RESOLVED_LOOKBACK_S = 24 * 3600  # resolve notifications are owed for incidents resolved this recently
COLOURS = {"SEV1": 0xD32F2F, "SEV2": 0xF57C00, "SEV3": 0xFBC02D, "SEV4": 0x1976D2, "resolved": 0x388E3C}


# ---------------------------------------------------------------------- payloads
def headline(event: str, inc: Incident) -> str:
    verb = {"trigger": "TRIGGERED", "renotify": "STILL OPEN", "resolve": "RESOLVED"}[event]
    return f"{inc.severity} {verb} {inc.incident_id} {inc.type}: {inc.summary}"[:MAX_TEXT]


def payload_json(event: str, inc: Incident, level: int, to: str, base_url: str) -> dict:
    """The plain JSON shape: every field a receiver needs to route, dedupe and link."""
    d = inc.to_dict()
    return {"version": 1, "event": event, "incident_id": inc.incident_id, "dedup_key": inc.dedup_key,
            "status": inc.status, "severity": inc.severity, "type": inc.type, "summary": inc.summary,
            "opened_at": d["opened_at"], "acknowledged_by": inc.acknowledged_by, "resolved_at": d["resolved_at"],
            "escalation": {"level": level, "to": to},
            "runbook_url": f"{base_url}/runbook#{d['runbook'].partition('#')[2]}",
            "incident_url": f"{base_url}/incidents/{inc.incident_id}", "dashboard_url": f"{base_url}/dashboard",
            "signals": [{k: s.get(k) for k in ("type", "severity", "summary", "active")} for s in d["signals"]],
            "details": inc.details, "text": headline(event, inc)}


def payload_slack(event: str, inc: Incident, level: int, to: str, base_url: str) -> dict:
    """Slack incoming-webhook shape: ``text`` fallback plus Block Kit blocks."""
    p = payload_json(event, inc, level, to, base_url)
    related = ", ".join(s["type"] for s in p["signals"] if s["type"] != inc.type) or "none"
    return {"text": p["text"], "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": p["text"][:150]}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{name}*\n{value}"} for name, value in (
            ("Severity", inc.severity), ("Status", inc.status), ("Escalation", f"level {level}: {to}"),
            ("Related signals", related))]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"<{p['runbook_url']}|Runbook> · <{p['dashboard_url']}|Dashboard> · dedup key `{inc.dedup_key}`")}]}]}


def payload_discord(event: str, inc: Incident, level: int, to: str, base_url: str) -> dict:
    """Discord webhook shape: short ``content`` plus one embed; mentions disabled."""
    p = payload_json(event, inc, level, to, base_url)
    related = ", ".join(s["type"] for s in p["signals"] if s["type"] != inc.type) or "none"
    colour = COLOURS["resolved" if inc.status == "resolved" else inc.severity]
    return {"content": p["text"], "allowed_mentions": {"parse": []}, "embeds": [{
        "title": f"{inc.incident_id} {inc.type}"[:256], "description": inc.summary[:4000], "url": p["runbook_url"],
        "color": colour, "timestamp": rfc3339(time.time()),
        "fields": [{"name": name, "value": value[:1000], "inline": True} for name, value in (
            ("Severity", inc.severity), ("Status", inc.status), ("Escalation", f"level {level}: {to}"),
            ("Related signals", related))],
        "footer": {"text": f"dedup key {inc.dedup_key}"[:2048]}}]}


PAYLOADS = {"json": payload_json, "slack": payload_slack, "discord": payload_discord}


# ---------------------------------------------------------------------- delivery
def deliver(hook: Webhook, body: dict, session: requests.Session, *, retries: int, backoff_s: float,
            backoff_max_s: float, timeout_s: float, sleep: Callable[[float], None] = time.sleep) -> dict:
    """POST with retries and doubling backoff; returns ``{"name", "outcome", "attempts", "error"}``."""
    error = None
    for attempt in range(1, retries + 2):
        try:
            resp = session.post(hook.url, json=body, timeout=timeout_s)
            if resp.status_code < 300:
                return {"name": hook.name, "outcome": "sent", "attempts": attempt, "error": None}
            error = f"HTTP {resp.status_code}"
        except requests.RequestException as exc:
            error = exc.__class__.__name__
        if attempt <= retries:
            sleep(min(backoff_max_s, backoff_s * 2 ** (attempt - 1)))
    log.warning("webhook %s gave up after %d attempts: %s", hook.name, retries + 1, error)
    return {"name": hook.name, "outcome": "failed", "attempts": retries + 1, "error": error}


# ---------------------------------------------------------------------- decisions
def _sent(inc: Incident, event: str) -> bool:
    return any(n.get("event") == event and n.get("outcome") in ("sent", "failed") for n in inc.notifications)


def due(inc: Incident, now: float, renotify_after_s: dict[str, float], max_level: int) -> tuple[str, int] | None:
    """(event, escalation level) owed for ``inc`` now, or None. Pure: reads only the incident's records."""
    if inc.status == "resolved":
        return ("resolve", inc.escalation_level) if _sent(inc, "trigger") and not _sent(inc, "resolve") else None
    if not _sent(inc, "trigger"):
        return "trigger", 0
    every = renotify_after_s.get(inc.severity)
    last = inc.last_notified_at
    if inc.status == "open" and every and last is not None and now - last >= every:
        return "renotify", min(inc.escalation_level + 1, max_level)
    return None


class Notifier:
    """Decides and delivers notifications for the incidents in ``ilog`` (see the module docstring)."""

    def __init__(self, ilog: IncidentLog, config: Config, session: requests.Session | None = None,
                 clock: Callable[[], float] = time.time):
        self.log, self.config, self.clock = ilog, config, clock
        self.hooks = config.webhooks()
        self.session = session or requests.Session()
        self._inflight: set[str] = set()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)

    def reconcile(self) -> list[tuple[str, str]]:
        """Start every notification due now; returns (incident id, event) pairs started or silenced."""
        if not self.hooks:
            return []
        now = self.clock()
        nc = self.config.notify
        active = [s for s in silence_store.load(self.config.data_dir) if s.state(now) == "active"]
        started = []
        candidates = self.log.incidents(state="unresolved") + self.log.incidents(
            status="resolved", since=now - RESOLVED_LOOKBACK_S)
        for inc in candidates:
            with self._lock:
                if inc.incident_id in self._inflight:
                    continue
            decision = due(inc, now, nc.renotify_after_s, len(nc.escalation) - 1)
            if decision is None:
                continue
            event, level = decision
            silence = silence_store.matching(active, inc.labels(), now) if event != "resolve" else None
            if silence is not None:
                last = inc.notifications[-1] if inc.notifications else {}
                if event == "trigger" and last.get("silence_id") != silence.silence_id:
                    self._record(inc, {"event": event, "outcome": "silenced", "level": level,
                                       "silence_id": silence.silence_id})
                    started.append((inc.incident_id, "silenced"))
                continue
            hooks = [h for h in self.hooks if SEVERITIES.index(inc.severity) <= SEVERITIES.index(h.min_severity)
                     and h.escalation_level <= level]
            if not hooks:
                continue
            with self._lock:
                self._inflight.add(inc.incident_id)
            threading.Thread(target=self._send, args=(inc, event, level, hooks), daemon=True,
                             name=f"notify-{inc.incident_id}").start()
            started.append((inc.incident_id, event))
        return started

    def send_unrecorded(self, inc: Incident) -> None:
        """Trigger for an incident the log could not take (full disk): sent now, nothing recorded."""
        hooks = [h for h in self.hooks if SEVERITIES.index(inc.severity) <= SEVERITIES.index(h.min_severity)
                 and h.escalation_level == 0]
        if hooks:
            threading.Thread(target=self._send, args=(inc, "trigger", 0, hooks, False), daemon=True,
                             name=f"notify-unrecorded-{inc.dedup_key}").start()

    def _send(self, inc: Incident, event: str, level: int, hooks: list[Webhook], record: bool = True) -> None:
        nc = self.config.notify
        to = nc.escalation[min(level, len(nc.escalation) - 1)]
        try:
            results = [deliver(h, PAYLOADS[h.format](event, inc, level, to, self.config.base_url), self.session,
                               retries=nc.retries, backoff_s=nc.backoff_s, backoff_max_s=nc.backoff_max_s,
                               timeout_s=nc.timeout_s) for h in hooks]
            outcome = "sent" if any(r["outcome"] == "sent" for r in results) else "failed"
            if record:
                self._record(inc, {"event": event, "outcome": outcome, "level": level, "to": to, "channels": results})
            log.log(logging.INFO if outcome == "sent" else logging.WARNING, "notify %s %s level %d (%s): %s",
                    event, inc.incident_id, level, to, outcome)
        finally:
            with self._lock:
                self._inflight.discard(inc.incident_id)
                self._idle.notify_all()

    def _record(self, inc: Incident, notification: dict) -> None:
        try:
            self.log.notify(inc.incident_id, notification)
        except (IncidentLogError, OSError) as exc:  # a full disk must not kill the sender thread silently
            log.error("could not record notification for %s: %s", inc.incident_id, exc)

    def wait_idle(self, timeout: float) -> bool:
        """Block until no delivery is in flight (tests, clean shutdown); False on timeout."""
        with self._lock:
            return self._idle.wait_for(lambda: not self._inflight, timeout)
