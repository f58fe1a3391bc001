"""The monitor loop: observe → assess → track → notify, on the configured interval, until told to stop."""
from __future__ import annotations

import logging
import threading
import time

import requests

from incident_logger import IncidentLog

from ...config import Config
from .detectors import Assessment, PollState, assess
from .notify import Notifier
from .observe import Observer
from .tracker import IncidentTracker

log = logging.getLogger(__name__)


class Monitor:
    """One monitor process's state: the previous poll and the incident tracker."""

    def __init__(self, config: Config, base_url: str, *, session: requests.Session | None = None):
        if not config.notify.base_url:  # links in notifications point at the service polled (--url), not service.port
            config = config.model_copy(update={"notify": config.notify.model_copy(update={"base_url": base_url})})
        self.config = config
        mon = config.monitor
        session = session or requests.Session()
        self.observer = Observer(base_url, config.data_dir, mon.request_timeout_s, session=session)
        self.log = IncidentLog.from_config(config, source="monitor")
        self.notifier = Notifier(self.log, config)
        self.tracker = IncidentTracker(self.log, mon.resolve_after_polls, mon.group_wait_polls,
                                       notify_unrecorded=self.notifier.send_unrecorded)
        self.state = PollState()
        reopened = self.log.open_incidents()
        if reopened:
            log.info("resuming with %d unresolved incident(s): %s", len(reopened),
                     ", ".join(i.dedup_key for i in reopened))

    def poll_once(self) -> Assessment:
        obs = self.observer.observe()
        assessment = assess(self.state, obs, self.config)
        self.state = assessment.state
        self.tracker.apply(assessment)
        self.notifier.reconcile()
        if obs.scrape_error:
            log.warning("metrics unusable this poll: %s", obs.scrape_error)
        log.debug("poll: %d finding(s) %s", len(assessment.findings),
                  ", ".join(f.dedup_key for f in assessment.findings))
        return assessment

    def run(self, stop: threading.Event) -> None:
        """Poll every ``monitor.interval_s`` until ``stop`` is set; a failed poll is logged, not fatal."""
        interval = self.config.monitor.interval_s
        log.info("monitoring %s every %gs, incidents in %s", self.observer.base_url, interval, self.log.path)
        while not stop.is_set():
            started = time.monotonic()
            try:
                self.poll_once()
            except Exception:  # the watchdog must outlive its own bugs and a full disk
                log.exception("poll failed; retrying next interval")
            stop.wait(max(0.0, interval - (time.monotonic() - started)))
        self.notifier.wait_idle(self.config.notify.timeout_s)
        log.info("monitor stopped")
