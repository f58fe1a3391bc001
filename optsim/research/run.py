"""One backtest end to end: data and strategy in, the summary out (and the files, given a directory).

``run_backtest`` is the one entry point the CLI, Monte Carlo runs and sweeps share. Results
stream while the strategy runs (``results.Results`` is the engine's recorder), so memory stays
flat whatever the length of the data; ``out_dir=None`` computes the same summary and writes nothing.
"""
from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import json
import math
import os
import sys
import time
import tomllib
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

import fillsim

from .data import MarketData, check_tick, load_data
from .errors import BacktestInputError, DataError, RunConfigError, StrategyError, StrategyFailed
from .results import SUMMARY_MARKOUTS_S, Results

__all__ = ["STRATEGIES", "config_defaults", "load_data", "load_run_config", "ns_value", "parse_params",
           "resolve_strategy", "run_backtest"]

#: Strategies known by name: ``name -> "module:function"``.
STRATEGIES = {
    "mm": "optsim.research.strategies.market_maker:market_maker",
    "options_mm": "optsim.research.strategies.options_mm:options_mm",
}
#: Run-config keys that are not fillsim.Config fields.
RUN_KEYS = {"fees", "venue"}
#: fillsim.Config fields that are switches: fillsim takes bool(value), so "false" would mean True.
BOOL_KEYS = frozenset(f.name for f in dataclasses.fields(fillsim.Config) if f.type in (bool, "bool"))


# -- strategy ----------------------------------------------------------------------------------------
def resolve_strategy(spec: str | Callable) -> Callable:
    """A callable from ``mm``, ``options_mm``, ``FILE.py:NAME`` or ``package.module:NAME``."""
    if callable(spec):
        return spec
    target = STRATEGIES.get(spec, spec)
    where, sep, name = target.rpartition(":")
    if not sep or not where or not name:
        raise StrategyError(f"unknown strategy {spec!r}: use {', '.join(STRATEGIES)} or FILE.py:NAME")
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise StrategyError(f"strategy file {where} not found")
        module_spec = importlib.util.spec_from_file_location(f"backtest_strategy_{path.stem}", path)
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except Exception as exc:  # the user's file: report what broke, not our stack
            raise StrategyError(f"strategy file {where} failed to import: {type(exc).__name__}: {exc}") from None
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise StrategyError(f"unknown strategy {spec!r} ({exc})") from None
    fn = getattr(module, name, None)
    if not callable(fn):
        raise StrategyError(f"{where} has no strategy function {name!r}")
    return fn


def _takes(fn: Callable) -> tuple[set[str], bool]:
    """Keyword parameters ``fn`` accepts after ``bt``, and whether it takes **kwargs."""
    params = list(inspect.signature(fn).parameters.values())[1:]
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names, any(p.kind == p.VAR_KEYWORD for p in params)


def check_params(fn: Callable, params: Mapping) -> None:
    """Refuse, before anything runs, a parameter the strategy does not take or one it needs."""
    reserved = sorted({"data", "seed"} & set(params))
    if reserved:
        raise StrategyError(f"parameter {reserved[0]!r} is set by the run, not by --param")
    names, open_ended = _takes(fn)
    unknown = sorted(set(params) - names - {"data", "seed"}) if not open_ended else []
    if unknown:
        known = ", ".join(sorted(names - {"data", "seed"})) or "none"
        raise StrategyError(f"strategy {getattr(fn, '__name__', fn)} has no parameter {unknown[0]!r} (it takes: {known})")
    missing = [name for name in _required(fn) if name not in params and name not in ("data", "seed")]
    if missing:
        raise StrategyError(f"strategy {getattr(fn, '__name__', fn)} needs --param {missing[0]}=VALUE "
                            f"(the parameter has no default)")


def _required(fn: Callable) -> list[str]:
    """Parameters after ``bt`` without a default: the run must be given them."""
    params = list(inspect.signature(fn).parameters.values())[1:]
    return [p.name for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def parse_params(pairs: list[str]) -> dict:
    """``["size=2", "name=x"]`` -> ``{"size": 2, "name": "x"}``: values as JSON, else as text."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise StrategyError(f"--param {pair!r} is not KEY=VALUE")
        try:
            out[key.strip()] = ns_value(key.strip(), json.loads(value))
        except ValueError:
            out[key.strip()] = value
    return out


def ns_value(name: str, value):
    """A nanosecond count written as a whole float (``interval_ns=1e6``) as the int it means;
    anything else unchanged (``1.5`` stays a float and is refused where a count is needed)."""
    if name.endswith("_ns") and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# -- config ------------------------------------------------------------------------------------------
def load_run_config(path: str | os.PathLike | None) -> dict:
    """A fillsim config file, TOML or JSON by its extension; None -> {}."""
    if path is None:
        return {}
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = json.loads(raw) if path.suffix.lower() == ".json" else tomllib.loads(raw.decode())
    except FileNotFoundError:
        raise RunConfigError(f"config file {path} not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise RunConfigError(f"config file {path} is malformed: {exc}") from None
    if not isinstance(data, dict):
        raise RunConfigError(f"config file {path} must hold a table of settings")
    check_switches(data, f"config file {path}")
    return data


def check_switches(cfg: Mapping, where: str) -> None:
    """Refuse a switch (``partial_fills``) that is not a true/false boolean."""
    for key in sorted(BOOL_KEYS & set(cfg)):
        if not isinstance(cfg[key], bool):
            raise RunConfigError(f"{where}: {key} must be true or false, got {cfg[key]!r}")


def _engine_config(base: Mapping, overrides: Mapping, seed: int) -> dict:
    """The fillsim.Config fields of one asset: the data's, then the run's; jitter seeded by the run."""
    merged = {k: v for k, v in {**base, **overrides}.items() if k not in RUN_KEYS}
    check_switches(merged, "bad fillsim config")
    jitter = dict(merged.get("jitter") or {})
    if jitter and "seed" not in jitter:
        jitter["seed"] = seed
    if jitter:
        merged["jitter"] = jitter
    try:
        fillsim.Config.coerce(merged)
    except (TypeError, ValueError) as exc:
        raise RunConfigError(f"bad fillsim config: {exc}") from None
    return merged


def _venue(manifest: Mapping, cfg: Mapping) -> dict | None:
    """The recorded venue whose terms a recording's trades get: ``venue``, else the first recorded."""
    venues = manifest.get("venues") or []
    if not venues:
        return None
    name = cfg.get("venue", venues[0]["name"])
    venue = next((v for v in venues if v["name"] == name), None)
    if venue is None:
        raise RunConfigError(f"venue {name!r} is not in the recording (it has {[v['name'] for v in venues]})")
    return venue


def _fees(inst, cfg: Mapping, venue: dict | None) -> tuple[float, float]:
    """(maker, taker) fee per unit: the run's ``fees``, else the venue's for an option, else none."""
    fees = cfg.get("fees")
    if fees is not None:
        if not isinstance(fees, Mapping) or set(fees) - {"maker", "taker"}:
            raise RunConfigError(f"fees must be a table with 'maker' and/or 'taker' per unit, got {fees!r}")
        try:
            return float(fees.get("maker", 0.0)), float(fees.get("taker", 0.0))
        except (TypeError, ValueError):
            raise RunConfigError(f"fees must be numbers, got {fees!r}") from None
    if inst.kind != "option" or venue is None:
        return 0.0, 0.0
    return float(venue["fee_make"]), float(venue["fee_take"])


def config_defaults(manifest: Mapping, cfg: Mapping) -> dict:
    """The fillsim config a run's own ``cfg`` is laid over: a file's stored config, or the latencies
    of the recorded venue ``cfg`` chooses (the runs table reports the same merge)."""
    venue = _venue(manifest, cfg)
    stored = dict(manifest.get("config") or {}) if manifest.get("source") == "npz" else {}
    if venue is not None:
        stored.update(entry_latency_ns=round(venue.get("entry_latency_us", 0) * 1000),
                      response_latency_ns=round(venue.get("response_latency_us", 0) * 1000))
    return stored


def _assets(data: MarketData, cfg: Mapping, seed: int) -> list:
    """One fillsim.Asset per instrument: defaults from the data (``config_defaults``, a recorded
    venue's fees), then the run's ``config``."""
    venue = _venue(data.manifest, cfg)
    stored = config_defaults(data.manifest, cfg)
    assets = []
    for inst in data.instruments:
        base = {**stored, "tick_size": inst.tick_size, "lot_size": inst.lot_size}
        if len(data.instruments) == 1 and "tick_size" in cfg:  # a plain file whose tick the user knows
            base["tick_size"] = cfg["tick_size"]
        config = _engine_config(base, {k: v for k, v in cfg.items() if k != "tick_size"}, seed)
        check_tick(data.events(inst.name), config["tick_size"], config["lot_size"], f"{data.source}: {inst.name}")
        maker, taker = _fees(inst, cfg, venue)
        try:
            assets.append(fillsim.Asset(data.events(inst.name), snapshot=data.snapshot(inst.name), config=config,
                                        tick_size=config["tick_size"], lot_size=config["lot_size"],
                                        multiplier=inst.multiplier, name=inst.name,
                                        maker_fee=maker, taker_fee=taker))
        except ValueError as exc:
            raise DataError(f"{data.source}: {inst.name}: {exc}") from None
    return assets


def _selected(fn: Callable, data: MarketData, params: Mapping) -> MarketData:
    """The instruments the strategy's ``select_assets`` chooses; what it cannot trade on this data
    with these parameters is a StrategyError (one line, exit 2), not a traceback."""
    select = getattr(fn, "select_assets", None)
    if select is None:
        return data
    try:
        return data.select(select(data, **params))
    except BacktestInputError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        reason = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise StrategyError(f"strategy {getattr(fn, '__name__', fn)} cannot run on {data.source}: {reason}") from None


# -- the run -----------------------------------------------------------------------------------------
class _Progress:
    """A market-time progress bar on a terminal (tqdm), shown only for runs over a second."""

    def __init__(self, enabled: bool, start_ns: int, end_ns: int):
        self.bar = None
        if enabled and end_ns > start_ns:
            from tqdm import tqdm
            self.bar = tqdm(total=round((end_ns - start_ns) / 1e9, 3), unit="s", unit_scale=False, delay=1.0,
                            desc="market time", file=sys.stderr, disable=None, leave=False,
                            bar_format="{desc} {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f}s [{elapsed}<{remaining}]")
        self.start_ns, self.shown = start_ns, 0.0

    def __call__(self, now_ns: int) -> None:
        done = round((now_ns - self.start_ns) / 1e9, 3)
        if done - self.shown >= 0.5:
            self.bar.update(done - self.shown)
            self.shown = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _span(data: MarketData) -> tuple[int, int]:
    lo, hi = [], []
    for name in data.names:
        ev = data.events(name)
        if len(ev):
            lo.append(int(ev["local_ts"].min()))
            hi.append(int(ev["local_ts"].max()))
    return (min(lo), max(hi)) if lo else (0, 0)


def run_backtest(data: MarketData | str | os.PathLike, strategy: str | Callable, params: dict | None = None, *,
                 config: dict | None = None, seed: int = 0, out_dir=None, progress: bool = False) -> dict:
    """Run ``strategy`` over ``data`` in a closed loop with fillsim and return the summary.

    Parameters
    ----------
    data : MarketData, or a path for ``load_data``.
    strategy : "mm", "options_mm", "FILE.py:NAME", "module:NAME" or a callable ``f(bt, **params)``.
        A strategy that declares ``data`` gets the MarketData, one that declares ``seed`` the seed;
        one with a ``select_assets(data, **params)`` attribute chooses which instruments trade.
    params : the strategy's keyword parameters (unknown names are refused).
    config : fillsim config for every asset (latency, jitter, queue model, partial fills) plus
        ``fees`` = {maker, taker} per unit and ``venue`` (whose recorded fees options pay).
    seed : seeds the latency jitter (unless the config sets its own) and the strategy.
    out_dir : where summary.json, fills.csv, equity.csv and report.html go; None writes nothing.
    progress : a progress bar on stderr when it is a terminal.

    Raises
    ------
    BacktestInputError : bad data, strategy, parameter or config (DataError, StrategyError,
        RunConfigError).
    StrategyFailed : the strategy raised; its ``summary`` holds the partial results, written too.
    """
    params = dict(params or {})
    cfg = dict(config or {})
    if not 0 <= seed < 2**64:  # the latency jitter's seed
        raise RunConfigError(f"--seed must be an integer from 0 to 2**64 - 1, got {seed}")
    fn = resolve_strategy(strategy)
    check_params(fn, params)
    data = load_data(data)
    data = _selected(fn, data, params)
    assets = _assets(data, cfg, seed)
    names, _ = _takes(fn)
    call = dict(params)
    if "data" in names:
        call["data"] = data
    if "seed" in names:
        call["seed"] = seed
    out = Path(out_dir) if out_dir is not None else None
    start_ns, end_ns = _span(data)
    bar = _Progress(progress, start_ns, end_ns)
    results = Results([(i.name, i.multiplier) for i in data.instruments], out,
                      progress=bar if bar.bar is not None else None)
    bt = fillsim.Backtest(assets, recorder=results, keep_fills=False)
    results.attach(bt)
    failure = None
    started = time.perf_counter()
    try:
        fn(bt, **call)
    except Exception as exc:  # the user's code: keep what it did, report how it ended
        if results.write_error is None:
            failure = (f"strategy raised {type(exc).__name__}: {exc}", traceback.format_exc())
    finally:
        wall = time.perf_counter() - started
        bar.close()
        _close(results)
    results.count_orders(bt.orders)  # orders sent after the last elapse
    n_events = results.events_seen(data.events(n) for n in data.names)
    summary = summarize(bt, results, data, strategy, params, cfg, seed, n_events, wall)
    if failure:
        summary["error"] = failure[0]
    if out is not None:
        (out / "summary.json").write_text(json.dumps(summary, indent=1, default=_json_default) + "\n")
        from .report import write_report
        write_report(out / "report.html", summary, results, data.names)
    if failure:
        raise StrategyFailed(failure[0], summary, failure[1])
    return summary


def _close(results: Results) -> None:
    """Close the result files; a write that failed (a full disk, a vanished directory) is an
    OSError for the caller, as when the directory could not be made at all."""
    try:
        results.close()
    except OSError as exc:
        results.write_error = results.write_error or exc
    if results.write_error is not None:
        exc = results.write_error
        raise OSError(exc.errno, f"cannot write the results: {exc.strerror or exc}", exc.filename) from None


def summarize(bt, results: Results, data: MarketData, strategy, params: dict, cfg: dict, seed: int,
              n_events: int, wall: float) -> dict:
    """summary.json: what the run did, what it earned, and exactly how it was run."""
    names = data.names
    orders, filled_orders = results.orders_sent, results.orders_filled
    positions = {n: float(bt.asset(k).position) for k, n in enumerate(names)}
    markouts = {f"markout_{h:g}s": {side: None if v is None else round(v, 6) for side, v in results.markouts.at(h).items()}
                for h in SUMMARY_MARKOUTS_S}
    sharpe = results.sharpe()
    return {
        "data": os.path.abspath(data.source), "strategy": strategy if isinstance(strategy, str) else
        getattr(strategy, "__name__", repr(strategy)), "params": params, "config": cfg, "seed": seed,
        "instruments": names,
        "events": n_events, "wall_s": round(wall, 6), "events_per_s": round(n_events / wall, 1) if wall > 0 else None,
        "decisions": results.curve.seen,
        "orders": orders, "fills": results.fills,
        "fill_ratio": round(filled_orders / orders, 6) if orders else None,
        "volume": results.volume, "notional": round(results.notional, 2),
        "maker_share": round(results.maker_fills / results.fills, 6) if results.fills else None,
        "position": positions[names[0]] if len(names) == 1 else positions,
        "cash": round(float(bt.cash), 6), "fees": round(float(bt.fees), 6),
        "equity": round(results.last_equity, 6), "pnl": round(results.last_equity, 6),
        "max_drawdown": round(results.max_drawdown, 6),
        "sharpe": None if sharpe is None or not math.isfinite(sharpe) else round(sharpe, 4),
        **markouts,
        "start_ns": results.first_ns, "end_ns": results.last_ns,
    }


def _json_default(obj):
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")
