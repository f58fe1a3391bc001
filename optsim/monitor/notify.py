"""Optional chat webhook on trigger and resolve; a failed post is logged, never fatal."""
from __future__ import annotations

import logging

import requests

from incident_logger import Incident

log = logging.getLogger(__name__)
MAX_TEXT = 1900  # Discord refuses content over 2000 characters


def message(action: str, inc: Incident) -> str:
    if action == "resolve":
        return f"RESOLVED {inc.incident_id} {inc.type} [{inc.dedup_key}] ({inc.resolution}) {inc.summary}"[:MAX_TEXT]
    return (f"{inc.severity} TRIGGERED {inc.incident_id} {inc.type} [{inc.dedup_key}]: {inc.summary} "
            f"(runbook {inc.to_dict()['runbook']})")[:MAX_TEXT]


class Webhook:
    """POSTs ``{"text": ..., "content": ...}`` (Slack and Discord both read one of them)."""

    def __init__(self, url: str, timeout_s: float, session: requests.Session | None = None):
        self.url, self.timeout = url, timeout_s
        self.session = session or requests.Session()

    def __call__(self, action: str, inc: Incident) -> None:
        if not self.url:
            return
        text = message(action, inc)
        try:
            resp = self.session.post(self.url, json={"text": text, "content": text}, timeout=self.timeout)
        except requests.RequestException as exc:
            log.warning("webhook post for %s failed: %s", inc.incident_id, exc.__class__.__name__)
            return
        if resp.status_code >= 300:
            log.warning("webhook post for %s answered HTTP %d", inc.incident_id, resp.status_code)
