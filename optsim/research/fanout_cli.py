"""The ``montecarlo`` and ``sweep`` subcommands of ``python -m optsim.backtest``."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .data import load_data
from .errors import BacktestInputError
from .plan import Spec, parse_grid, split_point, tasks
from .run import check_params, load_run_config, parse_params, resolve_strategy

__all__ = ["add_subcommands", "run_subcommand"]


class UsageError(Exception):
    """A bad argument: one line on stderr and exit code 2."""


def add_subcommands(subparsers) -> None:
    mc = subparsers.add_parser("montecarlo", help="one strategy under N drawn scenarios",
                               description="Run a backtest N times, each run drawing latency, queue "
                                           "model and illiquidity from its own seed.")
    _common(mc)
    mc.set_defaults(handler=run_subcommand, build_spec=_montecarlo)
    mc.add_argument("--runs", type=int, help="number of runs (required unless --resume)")
    mc.add_argument("--vary", nargs="+", choices=["latency", "queue", "liquidity"],
                    help="factors each run draws (default: all three)")
    sw = subparsers.add_parser("sweep", help="a strategy over the Cartesian product of parameter grids",
                               description="Run a backtest at every point of the grids' product, "
                                           "optionally under R Monte Carlo draws per point.")
    _common(sw)
    sw.set_defaults(handler=run_subcommand, build_spec=_sweep)
    sw.add_argument("--grid", action="append", metavar="NAME=V1,V2,...",
                    help="a strategy parameter or fillsim config key and its values (repeatable)")
    sw.add_argument("--runs-per-point", type=int, metavar="R", help="Monte Carlo draws per point (default 1)")
    sw.add_argument("--vary", nargs="+", choices=["latency", "queue", "liquidity"],
                    help="factors each draw varies (default: none with R=1, all three otherwise)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="hftbacktest .npz (or recording directory), a path every worker can read")
    p.add_argument("--strategy", help="mm, options_mm, FILE.py:NAME or module:NAME (default mm)")
    p.add_argument("--param", action="append", default=[], metavar="K=V",
                   help="fixed strategy parameter (value read as JSON, else as text); repeatable")
    p.add_argument("--config", help="fillsim config file (TOML or JSON): latency, jitter, queue model, fees")
    p.add_argument("--seed", type=int, help="master seed (default 0)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, metavar="K", help="local worker processes (default: cores)")
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="an existing Dask scheduler")
    p.add_argument("--out", help="output directory")
    p.add_argument("--resume", metavar="DIR", help="continue the fan-out stored in DIR, skipping finished runs")


def _spec(args, mode: str, **fields) -> Spec:
    given = {k: v for k, v in dict(
        data=args.data and os.path.abspath(args.data), strategy=args.strategy, seed=args.seed,
        params=parse_params(args.param) or None, config=load_run_config(args.config) or None, **fields,
    ).items() if v is not None}
    if args.resume:
        from .fanout import stored_spec
        stored = stored_spec(Path(args.resume))
        if stored is None or stored.mode != mode:
            raise UsageError(f"--resume {args.resume}: no {mode} was started there (no spec.json)")
        for k, v in given.items():
            if getattr(stored, k) != (tuple(v) if k == "vary" else v):
                raise UsageError(f"--resume {args.resume}: --{k.replace('_', '-')} differs from the stored run")
        if args.out and os.path.abspath(args.out) != os.path.abspath(args.resume):
            raise UsageError("--out and --resume name different directories")
        return stored
    for name in ("data", "out"):
        if getattr(args, name) is None:
            raise UsageError(f"--{name} is required")
    if "runs" not in given:
        raise UsageError("--runs is required")
    given.setdefault("strategy", "mm")
    spec = Spec(mode=mode, **{k: tuple(v) if k == "vary" else v for k, v in given.items()})
    if (Path(args.out) / "runs.csv").exists():
        raise UsageError(f"{args.out} already holds a fan-out: --resume {args.out} or choose another --out")
    return spec


def check(spec: Spec) -> None:
    """Refuse, before any worker starts, what would fail every run: unreadable data, an unknown
    strategy or parameter, a bad grid value or config."""
    data = load_data(spec.data)
    fn = resolve_strategy(spec.strategy)
    for point in spec.points:
        check_params(fn, {**spec.params, **split_point(point)[0]})
    tasks(spec, data.manifest)


def _montecarlo(args) -> Spec:
    vary = args.vary if args.vary is not None else (None if args.resume else ["latency", "queue", "liquidity"])
    return _spec(args, "montecarlo", runs=args.runs, vary=vary)


def _sweep(args) -> Spec:
    grid = parse_grid(args.grid) if args.grid else None
    if grid is None and not args.resume:
        raise UsageError("--grid is required")
    runs = args.runs_per_point if args.runs_per_point is not None else (None if args.resume else 1)
    vary = args.vary
    if vary is None and not args.resume:
        vary = [] if runs == 1 else ["latency", "queue", "liquidity"]
    return _spec(args, "sweep", runs=runs, vary=vary, grid=grid)


def run_subcommand(args) -> int:
    """Run a parsed ``montecarlo``/``sweep`` command; exit code 0, 1 (some runs failed), 2, 130."""
    from .executor import NoWorkers
    from .fanout import Interrupted, run_fanout
    try:
        if args.workers is not None and args.workers < 1:
            raise UsageError("--workers must be at least 1")
        spec = args.build_spec(args)
        check(spec)
    except (UsageError, BacktestInputError, ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.resume or args.out)
    try:
        summary = run_fanout(spec, out, workers=args.workers, scheduler=args.scheduler,
                             resume=bool(args.resume))
    except Interrupted as exc:
        done, planned = exc.args
        print(f"interrupted: {done} of {planned} runs kept in {out}; continue with --resume {out}",
              file=sys.stderr)
        return 130
    except NoWorkers as exc:
        print(f"error: {exc}; the finished runs are kept in {out}: continue with --resume {out}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. no scheduler at the address
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{summary['runs_done']} runs ({summary['runs_failed']} failed) -> {out}/runs.csv, "
          f"summary.json, report.html")
    return 1 if summary["runs_failed"] else 0
