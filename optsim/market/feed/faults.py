"""The drills in force each tick: the command-line faults plus whatever feed_control.json says.

The control file is reread every tick. A missing file is no faults; a damaged one is also no
faults, reported once (not four times a second) until it changes. Every switch that turns on,
changes or turns off is logged, so the drill's timeline is in the feed's log.
"""
from __future__ import annotations

import logging
import os

from ..feedctl import FAULT_NAMES, FaultSet, read_faults

log = logging.getLogger(__name__)


class FaultSwitch:
    """Merges flag and file faults, logs transitions, and hands out each seq_gap request once."""

    def __init__(self, data_dir: str | os.PathLike, flags: FaultSet = FaultSet()):
        self.data_dir = data_dir
        self.flags = flags
        self.current = FaultSet()
        self._gap_pending = flags.seq_gap
        self._gap_seen: tuple | None = None  # (seq_gap, ts) of the last file request counted
        self._file_error: str | None = None

    def poll(self) -> FaultSet:
        """The faults for this tick."""
        effective = self.flags.union(self._from_file())
        self._log_changes(self.current, effective)
        self.current = effective
        return effective

    def take_seq_gap(self) -> int:
        """Sequence numbers to skip on the next snapshot written (0 almost always)."""
        gap, self._gap_pending = self._gap_pending, 0
        if gap:
            log.warning("fault seq_gap: skipping %d sequence numbers", gap)
        return gap

    def _from_file(self) -> FaultSet:
        try:
            faults = read_faults(self.data_dir, strict=True)
        except ValueError as exc:
            if str(exc) != self._file_error:
                log.error("ignoring the control file, no faults from it: %s", exc)
                self._file_error = str(exc)
            return FaultSet()
        if self._file_error:
            log.info("control file readable again")
            self._file_error = None
        request = (faults.seq_gap, faults.ts)
        if faults.seq_gap and request != self._gap_seen:
            self._gap_pending += faults.seq_gap
            self._gap_seen = request
        return faults

    @staticmethod
    def _log_changes(old: FaultSet, new: FaultSet) -> None:
        before, after = old.to_json(), new.to_json()
        for name in FAULT_NAMES:
            if name == "seq_gap" or before[name] == after[name]:
                continue
            if not before[name]:
                log.warning("fault started: %s=%s", name, after[name])
            elif not after[name]:
                log.warning("fault stopped: %s", name)
            else:
                log.warning("fault changed: %s=%s", name, after[name])
