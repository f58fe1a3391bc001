"""The options routing service: a Flask app built by ``create_app``, served by waitress.

``python options_service.py`` serves the service alone; ``run_simulator.py`` is the usual entry,
which can also start the quote feed and the monitor.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask

from optsim import errors
from optsim.config import Config, ConfigError, cli_overrides, load_config
from optsim.trading.desk import OrderDesk
from optsim.ops import collector
from optsim.ops.lifeline import die_with_parent


def create_app(config: Config | dict[str, Any] | None = None, *, execution=None, clock=None) -> Flask:
    """Build the service. ``config`` is a Config, or a nested override mapping applied to the defaults."""
    if not isinstance(config, Config):
        config = load_config(overrides=config or {})
    app = Flask(__name__, static_folder="static", static_url_path="/static")
    app.config["OPTSIM_CONFIG"] = config
    app.config["MAX_CONTENT_LENGTH"] = config.service.max_body_bytes
    app.json.sort_keys = False
    desk_kwargs = {"execution": execution} | ({"clock": clock} if clock else {})
    app.extensions["desk"] = OrderDesk(config, **desk_kwargs)
    errors.init_app(app)

    from optsim.api import admin, auth, drills, gateway, ops, orders, positions
    auth.init_app(app)
    gateway.install(app, orders.ENTRY)
    app.register_blueprint(orders.bp)
    app.register_blueprint(positions.bp)
    app.register_blueprint(drills.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(admin.bp)
    for optional in ("incidents", "silences", "drill_runs", "dashboard", "openapi"):
        try:
            module = __import__(f"optsim.api.{optional}", fromlist=["bp"])
        except ModuleNotFoundError as exc:
            if exc.name != f"optsim.api.{optional}":
                raise
            continue
        app.register_blueprint(module.bp)
    return app


def start_background(app: Flask) -> threading.Event:
    """Take the feed's snapshots and advance resting orders on an interval, off the request threads;
    returns the event that stops it. From here on no request looks at the feed's files."""
    desk: OrderDesk = app.extensions["desk"]
    stop = threading.Event()
    interval = app.config["OPTSIM_CONFIG"].service.quote_poll_interval_s
    desk.quotes.refresh()  # the first snapshot before the first request
    desk.quotes.following = True

    def loop() -> None:
        while not stop.wait(interval):
            try:
                desk.poll()
            except Exception:  # keep polling: one bad snapshot must not stop fills for the day
                app.logger.exception("background poll failed")

    threading.Thread(target=loop, name="quote-poller", daemon=True).start()
    return stop


def tune_interpreter(app: Flask) -> list[Callable[[str, dict], None]]:
    """Once the books are loaded and the first snapshot taken: freeze all that start-up made out of the
    garbage collector's reach, and what survives each full pass from here on, time its passes, and set the
    GIL switch interval. Returns the collector callbacks (for a test to remove)."""
    cfg: Config = app.config["OPTSIM_CONFIG"]
    collector.freeze_startup()
    callbacks = [collector.time_collections(app.extensions["desk"].metrics.gc_pauses)]
    if cfg.service.gc_thaw_interval_s > 0:
        callbacks.append(collector.freeze_survivors(cfg.service.gc_thaw_interval_s))
    # A request that wants the GIL while the background thread runs Python waits up to this long: at 1 ms instead of
    # Python's 5, p99 at 100 orders/s fell 2-4 ms (7 ms on a 10x chain), for ~6 % less throughput at saturation.
    sys.setswitchinterval(cfg.service.gil_switch_interval_s)
    return callbacks


def serve(app: Flask) -> None:
    from optsim.api import server

    cfg: Config = app.config["OPTSIM_CONFIG"]
    start_background(app)
    tune_interpreter(app)
    logging.getLogger("optsim").info("serving on http://%s:%s (data dir %s, trading date %s)",
                                     cfg.service.host, cfg.service.port, cfg.data_dir, cfg.as_of)
    _raise_fd_limit(cfg.service.connection_limit + 64)
    server.serve(app, host=cfg.service.host, port=cfg.service.port, threads=cfg.service.threads,
                 ident="optsim", clear_untrusted_proxy_headers=True,
                 # idle and slow clients are closed after channel_timeout: a flood of them that fills every slot
                 # holds /health off for at most that long (tests/test_idle_clients.py)
                 connection_limit=cfg.service.connection_limit, channel_timeout=cfg.service.channel_timeout_s,
                 # a body over the limit is refused on its headers, not first spooled to a temporary file
                 max_request_body_size=cfg.service.max_body_bytes,
                 cleanup_interval=max(1, int(cfg.service.channel_timeout_s / 3)),
                 asyncore_use_poll=True)  # select() cannot watch a descriptor above 1023


def _raise_fd_limit(wanted: int) -> None:
    """Lift the soft open-file limit toward ``wanted`` (up to the hard limit) so the connection limit is real."""
    try:
        import resource
    except ImportError:  # Windows: no such limit
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="HTTP port (default 8081)")
    parser.add_argument("--data-dir", help="directory for quotes, orders.db, incidents (default ./data)")
    parser.add_argument("--as-of", help="simulated trading date YYYY-MM-DD (default today)")
    parser.add_argument("--config", help="TOML file with limits, venues and thresholds")


def config_from_args(args: argparse.Namespace) -> Config:
    """The config the flags ask for; a bad file, key or flag value ends the program with exit code 2 and one
    line on stderr naming each problem."""
    try:
        return load_config(args.config, cli_overrides(host=args.host, port=args.port, data_dir=args.data_dir,
                                                      as_of=args.as_of))
    except ConfigError as exc:
        print("bad configuration: " + "; ".join(str(exc).splitlines()), file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_flags(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.umask(0o077)  # orders.db, its WAL and the logs: owner only
    die_with_parent()  # under run_simulator: stop when it stops, even if it is SIGKILLed
    serve(create_app(config_from_args(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
