"""One poll's raw observations: /health, /metrics and the feed heartbeat file, failures included.

Nothing here raises for a sick service or a bad file: a refused connection, a timeout, non-JSON
health, garbage metrics or a missing heartbeat all become fields of the ``Observation``.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import requests

from .scrape import Scrape

HEARTBEAT_FILE = "feed_heartbeat.json"
# Each probe on a new connection, closed after it: a kept-alive socket would still answer while new
# clients are refused (a full connection table), hiding the outage the probe is there to see.
FRESH = {"Connection": "close"}


@dataclass(frozen=True)
class FeedReading:
    """Where the feed says it is: snapshot ``seq`` taken at ``ts`` (epoch s)."""

    ts: float
    seq: int
    status: str = "running"
    origin: str = "heartbeat"  # "heartbeat" (the file) or "metrics" (the service's view)


@dataclass(frozen=True)
class Observation:
    at: float  # epoch seconds of the poll
    reachable: bool  # the service answered /health at all
    error: str | None = None  # why not: "connection refused", "timeout after 1.5s", ...
    health: str | None = None  # "pass" | "warn" | "fail"; None when the body was unreadable
    health_code: int | None = None
    failing_checks: tuple[str, ...] = ()
    scrape: Scrape | None = None
    scrape_error: str | None = None
    heartbeat: FeedReading | None = None
    heartbeat_error: str | None = None


_HEALTH_ALIASES = {"pass": "pass", "ok": "pass", "up": "pass", "warn": "warn", "fail": "fail", "error": "fail",
                   "down": "fail"}


def parse_health(body: Any) -> tuple[str | None, tuple[str, ...]]:
    """(overall status, names of failing checks) of an ``application/health+json`` body."""
    if not isinstance(body, dict):
        return None, ()
    status = _HEALTH_ALIASES.get(str(body.get("status", "")).lower())
    failing = []
    checks = body.get("checks")
    for name, entries in (checks.items() if isinstance(checks, dict) else ()):
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and _HEALTH_ALIASES.get(str(entry.get("status", "")).lower()) == "fail":
                failing.append(str(name))
                break
    return status, tuple(failing)


def parse_heartbeat(doc: Any) -> FeedReading:
    """Raises ValueError when the document is not a heartbeat with a finite ``ts`` and integer ``seq``."""
    if not isinstance(doc, dict):
        raise ValueError("heartbeat is not a JSON object")
    ts, seq = doc.get("ts"), doc.get("seq")
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts):
        raise ValueError(f"heartbeat ts {ts!r} is not a time")
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise ValueError(f"heartbeat seq {seq!r} is not an integer")
    return FeedReading(float(ts), seq, str(doc.get("status", "running")))


def read_heartbeat(path: Path) -> tuple[FeedReading | None, str | None]:
    try:
        return parse_heartbeat(json.loads(path.read_bytes())), None
    except FileNotFoundError:
        return None, f"{path.name} missing"
    except (OSError, ValueError) as exc:
        return None, f"{path.name} unreadable: {exc}"


def _describe(exc: requests.RequestException, timeout: float) -> str:
    if isinstance(exc, requests.Timeout):
        return f"timeout after {timeout}s"
    if isinstance(exc, requests.ConnectionError):
        return "connection refused or reset"
    return exc.__class__.__name__


class Observer:
    """Takes one observation per call; ``session`` and ``clock`` are injectable for tests."""

    def __init__(self, base_url: str, data_dir: Path, timeout_s: float, *,
                 session: requests.Session | None = None, clock: Callable[[], float] = time.time):
        self.base_url = base_url.rstrip("/")
        self.heartbeat_path = Path(data_dir) / HEARTBEAT_FILE
        self.timeout = timeout_s
        self.session = session or requests.Session()
        self.clock = clock

    def observe(self) -> Observation:
        at = self.clock()
        heartbeat, hb_error = read_heartbeat(self.heartbeat_path)
        feed = {"heartbeat": heartbeat, "heartbeat_error": hb_error}
        try:
            resp = self.session.get(f"{self.base_url}/health", timeout=self.timeout, headers=FRESH)
        except requests.RequestException as exc:
            return Observation(at, reachable=False, error=_describe(exc, self.timeout), **feed)
        try:
            health, failing = parse_health(resp.json())
        except ValueError:
            health, failing = None, ()
        scrape, scrape_error = self._scrape()
        return Observation(at, reachable=True, health=health, health_code=resp.status_code, failing_checks=failing,
                           scrape=scrape, scrape_error=scrape_error, **feed)

    def _scrape(self) -> tuple[Scrape | None, str | None]:
        try:
            resp = self.session.get(f"{self.base_url}/metrics", timeout=self.timeout, headers=FRESH)
        except requests.RequestException as exc:
            return None, _describe(exc, self.timeout)
        if resp.status_code != 200:
            return None, f"/metrics answered HTTP {resp.status_code}"
        try:
            return Scrape.parse(resp.text), None
        except ValueError as exc:
            return None, str(exc)
