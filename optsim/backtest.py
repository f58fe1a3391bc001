"""Backtests from the command line: ``python -m optsim.backtest run|montecarlo|sweep --data PATH [...]``.

Subcommands sit on one argparse parser (``build_parser``); each registers itself with
``add_subcommand`` and shares the run flags through ``add_run_arguments``. Bad input is one
line on stderr and exit code 2; so is a strategy that raises, after its traceback, with the
partial results kept in the output directory.
"""
from __future__ import annotations

import argparse
import json
import sys

from optsim.research.data import load_data
from optsim.research.errors import BacktestInputError, StrategyFailed
from optsim.research.fanout_cli import add_subcommands
from optsim.research.run import load_run_config, parse_params, run_backtest

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The flags every subcommand that runs backtests takes."""
    p.add_argument("--data", required=True, metavar="PATH", help="an hftbacktest .npz event file or a recording directory")
    p.add_argument("--snapshot", metavar="PATH", help="a separate hftbacktest snapshot .npz for the --data file")
    p.add_argument("--strategy", default="mm", metavar="NAME",
                   help="mm (passive market maker), options_mm (options market maker), or FILE.py:NAME")
    p.add_argument("--param", action="append", default=[], metavar="K=V",
                   help="strategy parameter (value read as JSON, else as text); repeatable")
    p.add_argument("--config", metavar="FILE", help="fillsim config file (TOML or JSON): latency, jitter, queue model, fees")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="seed of the run (latency jitter, strategy draws)")


def _run(args: argparse.Namespace) -> int:
    data = load_data(args.data, args.snapshot) if args.snapshot else args.data
    summary = run_backtest(data, args.strategy, parse_params(args.param),
                           config=load_run_config(args.config), seed=args.seed, out_dir=args.out,
                           progress=sys.stderr.isatty())
    print(json.dumps(summary, indent=1) if args.out is None else
          f"pnl {summary['pnl']:.2f}  fills {summary['fills']}  events {summary['events']:,} in "
          f"{summary['wall_s']:.2f}s  -> {args.out}/report.html")
    return EXIT_OK


def build_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    parser = argparse.ArgumentParser(prog="python -m optsim.backtest",
                                     description="Backtests: strategies trading against fillsim on recorded market data.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="one backtest: summary.json, fills.csv, equity.csv, report.html")
    add_run_arguments(run)
    run.add_argument("--out", metavar="DIR", help="output directory (default: print the summary, write no files)")
    run.set_defaults(handler=_run)
    add_subcommands(commands)  # montecarlo, sweep
    return parser, commands


def main(argv: list[str] | None = None) -> int:
    parser, _ = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except BacktestInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except StrategyFailed as exc:
        print(exc.traceback_text, file=sys.stderr, end="")
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:  # run's --out: not a directory, read-only, a full disk mid-run
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
