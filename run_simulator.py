"""Start the simulator: the routing service, and with ``--all`` the quote feed and the monitor too.

``run_simulator.py drill NAME`` instead runs one scored drill against a running suite (optsim.ops.drills.cli).

With ``--all`` each part runs as a child process in its own session, logging to ``<data-dir>/logs``.
A child that dies is restarted with exponential backoff. Ctrl-C or SIGTERM stops them all: SIGTERM
first, SIGKILL after a grace period, so nothing is left running. Exit code 130 (SIGINT) / 143 (SIGTERM).
"""
from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from options_service import add_common_flags, config_from_args, create_app, serve
from optsim.fileio import private_file
from optsim.ops.lifeline import ENV

log = logging.getLogger("run_simulator")
HERE = Path(__file__).resolve().parent
KILL_WAIT_S = 5.0
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0  # a child that ran this long starts its backoff again from 1 s
READY_TIMEOUT_S = 20.0


@dataclass
class Child:
    name: str
    argv: list[str]
    log_path: Path
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff_s: float = 1.0
    restart_at: float | None = None
    ready: Callable[[], bool] | None = None  # the next child starts only once this is true (or times out)
    log_file: object = field(default=None, repr=False)


class Supervisor:
    """Runs children, restarts the ones that die, and stops them all in one place."""

    def __init__(self, children: list[Child], env: dict[str, str], clock: Callable[[], float] = time.monotonic,
                 popen: Callable[..., subprocess.Popen] = subprocess.Popen):
        self.children, self.env, self.clock, self.popen = children, env, clock, popen
        self.stopping = False
        self.stop_code: int | None = None  # set by SIGTERM/SIGINT; the main loop then stops everything
        self.exit_code = 0

    def start(self, child: Child) -> None:
        """Start ``child``; its own I/O failures (a read-only or full data dir) never stop the supervisor."""
        try:
            child.log_path.parent.mkdir(parents=True, exist_ok=True)
            child.log_file = open(child.log_path, "ab", buffering=0)
        except OSError as exc:  # keep the child running: its output goes to the supervisor's own stderr
            log.error("%-8s cannot open %s (%s); its output goes to this terminal", child.name, child.log_path, exc)
            child.log_file = None
        try:
            child.proc = self.popen(child.argv, stdout=child.log_file, stderr=subprocess.STDOUT,
                                    env={**self.env, ENV: str(os.getpid())}, cwd=HERE, **NEW_GROUP)
        except OSError as exc:
            log.error("%-8s could not start (%s); retrying in %.0fs", child.name, exc, child.backoff_s)
            self._close_log(child)
            child.restart_at = self.clock() + child.backoff_s
            child.backoff_s = min(child.backoff_s * 2, BACKOFF_MAX_S)
            return
        child.started_at, child.restart_at = self.clock(), None
        log.info("%-8s started  pid %-7d log %s", child.name, child.proc.pid, child.log_path)

    @staticmethod
    def _close_log(child: Child) -> None:
        if child.log_file:
            try:
                child.log_file.close()
            except OSError:
                pass
            child.log_file = None

    def step(self) -> None:
        """Notice dead children and restart those whose backoff has passed."""
        now = self.clock()
        for child in self.children:
            if child.proc is not None and child.proc.poll() is not None:
                code = child.proc.returncode
                child.proc = None
                self._close_log(child)
                if now - child.started_at >= STABLE_AFTER_S:
                    child.backoff_s = 1.0
                child.restart_at = now + child.backoff_s
                log.warning("%-8s exited with %s; restarting in %.0fs (see %s)", child.name, code, child.backoff_s,
                            child.log_path)
                child.backoff_s = min(child.backoff_s * 2, BACKOFF_MAX_S)
            if child.proc is None and child.restart_at is not None and now >= child.restart_at and not self.stopping:
                child.restarts += 1
                self.start(child)

    def wait_ready(self, child: Child, timeout_s: float = READY_TIMEOUT_S) -> None:
        """Hold the next start until ``child`` is ready, so the monitor never sees a service still booting."""
        deadline = time.monotonic() + timeout_s
        while child.ready is not None and self.stop_code is None and not child.ready():
            if child.proc is None or child.proc.poll() is not None:
                code = "did not start" if child.proc is None else f"exited with {child.proc.returncode}"
                log.warning("%-8s %s before it was ready (see %s); starting the rest anyway", child.name, code,
                            child.log_path)
                return
            if time.monotonic() > deadline:
                log.warning("%-8s not ready after %.0fs; starting the rest anyway", child.name, timeout_s)
                return
            time.sleep(0.1)

    def terminate(self, code: int) -> None:
        """SIGTERM every child's process group, SIGKILL what is left after KILL_WAIT_S."""
        if self.stopping:
            return
        self.stopping, self.exit_code = True, code
        running = [c for c in self.children if c.proc is not None and c.proc.poll() is None]
        for child in running:
            _signal_group(child.proc, signal.SIGTERM)
        deadline = time.monotonic() + KILL_WAIT_S
        for child in running:
            try:
                child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%-8s did not stop in %.0fs; killing it", child.name, KILL_WAIT_S)
                _signal_group(child.proc, getattr(signal, "SIGKILL", signal.SIGTERM))
                child.proc.wait()
        for child in self.children:
            self._close_log(child)
        log.info("all stopped")

    def request_stop(self, code: int) -> None:
        """The signal handlers: only note the stop. Stopping inside the handler could run half-way through
        starting a child, which it would then miss (forked, not yet held) and leave running."""
        if self.stop_code is None:
            self.stop_code = code

    def run(self) -> int:
        signal.signal(signal.SIGINT, lambda *_: self.request_stop(130))
        signal.signal(signal.SIGTERM, lambda *_: self.request_stop(143))
        try:
            for child in self.children:
                if self.stop_code is not None:
                    break
                self.start(child)
                self.wait_ready(child)
            while self.stop_code is None:
                try:
                    self.step()
                except Exception:  # a supervisor bug or I/O error: log it, keep supervising
                    log.exception("supervisor step failed; carrying on")
                time.sleep(0.2)
        finally:  # whatever ends the loop, no child outlives it
            self.terminate(1 if self.stop_code is None else self.stop_code)
        return self.exit_code


# Each child leads its own process group, so a signal reaches it and whatever it started, and only them.
NEW_GROUP = ({"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if os.name == "nt"
             else {"start_new_session": True})


def port_in_use(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be bound now (another suite holds it), or None when it is free."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress binds: TIME_WAIT is no conflict
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    try:
        if os.name == "nt":  # Windows has no process groups to signal: terminate() is TerminateProcess
            proc.kill() if sig == getattr(signal, "SIGKILL", None) else proc.terminate()
        else:
            os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def admin_token(data_dir: Path, configured: str) -> str:
    """The configured token, else one generated once and kept in ``<data-dir>/admin_token`` (mode 600)."""
    if configured:
        return configured
    path = data_dir / "admin_token"
    if path.exists():
        private_file(path)  # an existing 0644 token is tightened, or refused when it is not ours
        return path.read_text().strip()
    token = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token


def suite(args: argparse.Namespace, data_dir: Path, url: str) -> list[Child]:
    # children run in the repository directory: a relative --config is resolved here, as --record is
    common = [f"--data-dir={data_dir}"] + ([f"--config={Path(args.config).resolve()}"] if args.config else [])
    as_of = [f"--as-of={args.as_of}"] if args.as_of else []
    service_flags = [f"--{k}={v}" for k, v in (("host", args.host), ("port", args.port)) if v is not None]
    logs = data_dir / "logs"
    record = [f"--record={Path(args.record).resolve()}"] if args.record else []
    py = sys.executable
    return [
        Child("feed", [py, str(HERE / "mock_quote_feed.py"), *common, *as_of, *record], logs / "feed.log",
              ready=lambda: (data_dir / "feed_heartbeat.json").exists()),
        Child("service", [py, str(HERE / "options_service.py"), *common, *as_of, *service_flags], logs / "service.log",
              ready=lambda: _answers(url + "/livez")),
        Child("monitor", [py, str(HERE / "monitor_poll.py"), *common, f"--url={url}"], logs / "monitor.log"),
    ]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:
            return response.status == 200
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["drill"]:  # run_simulator.py drill NAME: a scored drill against the running suite
        from optsim.ops.drills.cli import main as drill_main
        return drill_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="run_simulator.py drill NAME runs a scored drill (drill --help)")
    add_common_flags(parser)
    parser.add_argument("--all", action="store_true", help="also start the quote feed and the monitor")
    parser.add_argument("--record", metavar="DIR", help="with --all: the feed records what it publishes into DIR "
                        "as backtest data (see mock_quote_feed.py --record)")
    args = parser.parse_args(argv)
    if args.record and not args.all:
        parser.error("--record needs --all (the feed records, and only --all starts it)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = config_from_args(args)  # checked once here: a bad file is one line and exit 2, not a crash loop
    busy = port_in_use(config.service.host, config.service.port) if config.service.port else None
    if busy:  # before anything starts: a second suite must not report the first one's URL as its own
        print(f"cannot serve on {config.service.host}:{config.service.port}: {busy} "
              "(another simulator is running there? choose --port)", file=sys.stderr)
        return 2
    os.umask(0o077)  # the data dir, logs and admin token: owner only
    data_dir = config.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    where = "OPTSIM_ADMIN_TOKEN or the config" if config.admin_token else data_dir / "admin_token"
    os.environ["OPTSIM_ADMIN_TOKEN"] = admin_token(data_dir, config.admin_token)
    url = config.service.url
    log.info("trading date %s; dashboard %s/dashboard; admin token in %s", config.as_of, url, where)
    if not args.all:
        log.warning("service only: no quote feed runs, so orders are rejected NO_REFERENCE and /health fails "
                    "until %s appears; use --all to start the feed and the monitor too", data_dir / "quotes.json")
        serve(create_app(config))
        return 0
    return Supervisor(suite(args, data_dir, url), dict(os.environ)).run()


if __name__ == "__main__":
    sys.exit(main())
