"""The monitor process: polls /health, /metrics and the feed heartbeat, and keeps incidents.jsonl.

    python monitor_poll.py --data-dir data --url http://127.0.0.1:8081 --config optsim.toml --interval 2

Exit codes: 0 after --once or a clean stop (SIGINT/SIGTERM), 2 for a bad config or flags.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from pydantic import ValidationError

from optsim.ops.lifeline import die_with_parent


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="monitor_poll.py", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", help="directory with feed_heartbeat.json and incidents.jsonl")
    p.add_argument("--url", help="service base URL (default http://<service.host>:<service.port>)")
    p.add_argument("--config", help="TOML config file")
    p.add_argument("--interval", type=float, help="seconds between polls (monitor.interval_s)")
    p.add_argument("--once", action="store_true", help="poll once and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="log every poll")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    logging.getLogger("urllib3").setLevel(logging.INFO)  # -v is for our polls, not every HTTP connection
    die_with_parent()  # under run_simulator: stop when it stops, even if it is SIGKILLed
    from optsim.config import cli_overrides, load_config
    from optsim.ops.monitor.loop import Monitor

    overrides = cli_overrides(data_dir=args.data_dir)
    if args.interval is not None:
        overrides["monitor"] = {"interval_s": args.interval}
    try:
        config = load_config(args.config, overrides)
    except (OSError, ValueError, ValidationError) as exc:
        logging.getLogger("monitor").error("bad configuration: %s", exc)
        return 2
    url = args.url or config.service.url
    monitor = Monitor(config, url)
    if args.once:
        monitor.poll_once()
        return 0
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    monitor.run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
