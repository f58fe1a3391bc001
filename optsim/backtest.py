"""Backtests from the command line: ``python -m optsim.backtest montecarlo|sweep ...``."""
from __future__ import annotations

import argparse
import sys

from optsim.research.fanout_cli import add_subcommands, run_subcommand


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m optsim.backtest", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    add_subcommands(sub)
    args = parser.parse_args(argv)
    return run_subcommand(args)


if __name__ == "__main__":
    sys.exit(main())
