"""A child of ``run_simulator.py`` dies with it, even when the supervisor is SIGKILLed.

A supervisor killed outright cannot stop its children; left running they keep the port, and the
next start fails. The supervisor puts its pid in ``OPTSIM_SUPERVISOR_PID``; the child asks Linux to
send it SIGTERM when its parent dies (``prctl(PR_SET_PDEATHSIG)``), and elsewhere a thread polls for
the parent and exits the process when it is gone.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
import time

ENV = "OPTSIM_SUPERVISOR_PID"
PR_SET_PDEATHSIG = 1
POLL_S = 1.0

log = logging.getLogger(__name__)


def die_with_parent() -> None:
    """Call first thing in a supervised child's ``main``; does nothing when not started by the supervisor."""
    try:
        parent = int(os.environ.get(ENV, ""))
    except ValueError:
        return
    if sys.platform.startswith("linux") and _pdeathsig(signal.SIGTERM):
        if os.getppid() != parent:  # it died before the request took effect
            os.kill(os.getpid(), signal.SIGTERM)
        return
    threading.Thread(target=_watch, args=(parent,), name="parent-watch", daemon=True).start()


def _pdeathsig(sig: int) -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while _alive(parent):
        time.sleep(POLL_S)
    log.warning("supervisor %d is gone; exiting", parent)
    os._exit(1)  # the main thread may be blocked in the server loop: leave now, as SIGKILL would have


def _alive(pid: int) -> bool:
    if os.name == "nt":
        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        handle = kernel32.OpenProcess(0x00100000, False, pid)  # SYNCHRONIZE
        if not handle:
            return False
        try:
            return kernel32.WaitForSingleObject(handle, 0) == 0x00000102  # WAIT_TIMEOUT: still running
        finally:
            kernel32.CloseHandle(handle)
    return os.getppid() == pid  # POSIX: an orphan is re-parented
