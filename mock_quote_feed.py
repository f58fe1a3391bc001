"""The mock quote feed process: quotes.snap and feed_heartbeat.json every interval, quotes.json about every second.

    python mock_quote_feed.py --data-dir data --as-of 2025-01-02 --interval 0.25 --seed 42 [--record DIR]

quotes.json comes every ``feed.json_interval_s``, less often on a chain so large that writing it would
take over ``feed.json_cpu_share`` of a core. Flags override the config file; fault flags start drills
that last the whole run, on top of any in feed_control.json. SIGINT/SIGTERM end the run after a final
"stopping" heartbeat, exit 0.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import signal
import threading
import time

from optsim.config import ConfigError, cli_overrides, load_config
from optsim.market.feed import Publisher
from optsim.market.feedctl import FaultSet, parse_faults
from optsim.ops.lifeline import die_with_parent
from optsim.research.recording import Recorder

log = logging.getLogger("mock_quote_feed")


def _names(text: str) -> list[str]:
    return [name for name in text.split(",") if name.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", help="where quotes.json and feed_heartbeat.json go")
    p.add_argument("--config", help="TOML config file")
    p.add_argument("--as-of", type=dt.date.fromisoformat, help="simulated trading date, YYYY-MM-DD")
    p.add_argument("--interval", type=float, help="seconds between snapshots (feed.interval_s)")
    p.add_argument("--seed", type=int, help="random seed (feed.seed); same seed, same market")
    p.add_argument("--max-ticks", type=int, help="stop after this many ticks")
    p.add_argument("--record", metavar="DIR", help="also record what is published as backtest data into DIR "
                   "(one event file per instrument + manifest.json; a restart continues the recording)")
    p.add_argument("--log-level", default="INFO")
    drills = p.add_argument_group("faults (drills for the whole run)")
    drills.add_argument("--stall", action="store_true", help="write neither file")
    drills.add_argument("--freeze-heartbeat", action="store_true", help="quote on, heartbeat stays old")
    drills.add_argument("--crossed", type=_names, default=[], help="series or underlyings to cross, comma-separated")
    drills.add_argument("--wide", type=_names, default=[], help="underlyings quoted at maximum width")
    drills.add_argument("--venues-dark", type=_names, default=[], help="venues that stop quoting")
    drills.add_argument("--seq-gap", type=int, default=0, help="skip this many sequence numbers once")
    return p.parse_args(argv)


def flag_faults(args: argparse.Namespace) -> FaultSet:
    return parse_faults({"stall": args.stall, "freeze_heartbeat": args.freeze_heartbeat, "crossed": args.crossed,
                         "wide": args.wide, "venues_dark": args.venues_dark, "seq_gap": args.seq_gap})


def main(argv: list[str] | None = None) -> int:
    """Run until a signal or ``--max-ticks``; returns the exit code (0 = clean stop)."""
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    die_with_parent()  # under run_simulator: stop when it stops, even if it is SIGKILLed
    overrides = cli_overrides(data_dir=args.data_dir, as_of=args.as_of)
    feed = {k: v for k, v in {"interval_s": args.interval, "seed": args.seed}.items() if v is not None}
    if feed:
        overrides["feed"] = feed
    try:
        config = load_config(args.config, overrides)
    except ConfigError as exc:
        logging.getLogger("feed").error("bad configuration:\n%s", exc)
        return 2
    publisher = Publisher(config, config.data_dir, flag_faults(args))
    recorder = None
    if args.record:
        try:
            recorder = Recorder(args.record, publisher.market, config)
        except (OSError, ValueError) as exc:
            log.error("cannot record into %s: %s", args.record, exc)
            return 2
        publisher.on_publish = recorder.record
        log.info("recording into %s", args.record)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: stop.set())
    interval = config.feed.interval_s
    log.info("quoting %d series on %s every %.3fs into %s (seed %d)", len(publisher.market), config.as_of,
             interval, config.data_dir, config.feed.seed)
    deadline, ticks = time.monotonic(), 0
    while not stop.is_set() and (args.max_ticks is None or ticks < args.max_ticks):
        publisher.tick()
        ticks += 1
        deadline = max(deadline + interval, time.monotonic())  # late ticks are dropped, not bunched
        stop.wait(deadline - time.monotonic())
    publisher.stop()
    if recorder is not None:
        recorder.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
