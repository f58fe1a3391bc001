"""What the results layer costs, side by side in one run: the passive market maker on one stream

    python bench/bench_run.py [--events 1000000] [--intervals 100ms 1ms]

1. bare:     fillsim.Backtest + market_maker, no recorder (keep_fills=False)
2. summary:  run_backtest(out_dir=None): the recorder hook, markouts, drawdown, Sharpe, no files
3. files:    run_backtest(out_dir=DIR): also fills.csv, equity.csv, summary.json and report.html

Prints wall seconds, events/s and the ratio to bare, and the peak of Python allocations during
the run (tracemalloc) for the full stream and a quarter of it. Then the feed recorder's share of
each snapshot's time on the default chain (mock_quote_feed.py --record).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fillsim  # noqa: E402
from fillsim.synth import StreamSpec, synth_stream  # noqa: E402
from optsim.research.data import Instrument, MarketData  # noqa: E402
from optsim.research.run import run_backtest  # noqa: E402
from optsim.research.strategies.market_maker import market_maker  # noqa: E402

CONFIG = {"entry_latency_ns": 200_000, "response_latency_ns": 200_000, "fees": {"maker": -0.2, "taker": 0.5}}
MM = {"qty": 1.0, "skew": 0.2, "max_position": 5.0}
INTERVALS = {"100ms": 100_000_000, "10ms": 10_000_000, "1ms": 1_000_000}


def data_for(events, snapshot) -> MarketData:
    inst = Instrument("synth", 0.01)
    return MarketData(Path("synth"), [inst], {"source": "npz", "config": {}},
                      arrays={"synth": events}, snapshots={"synth": snapshot})


def bare(events, snapshot, interval) -> tuple[float, int]:
    t0 = time.perf_counter()
    asset = fillsim.Asset(events, snapshot=snapshot, tick_size=0.01, maker_fee=-0.2, taker_fee=0.5,
                          config={"entry_latency_ns": 200_000, "response_latency_ns": 200_000})
    bt = fillsim.Backtest(asset, keep_fills=False)
    market_maker(bt, interval_ns=interval, **MM)
    return time.perf_counter() - t0, bt.volume


def via_run(data, interval, out_dir) -> tuple[float, int]:
    t0 = time.perf_counter()
    summary = run_backtest(data, "mm", {"interval_ns": interval, **MM}, config=CONFIG, out_dir=out_dir)
    return time.perf_counter() - t0, summary["volume"]


def peak_alloc(fn) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def bench_runs(n_events: int, intervals: list[str]) -> None:
    events, snapshot, _ = synth_stream(StreamSpec(n_events=n_events, seed=7))
    data = data_for(events, snapshot)
    quarter = data_for(events[: n_events // 4], snapshot)
    print(f"passive market maker, {n_events:,} events ({(events['exch_ts'][-1] - events['exch_ts'][0]) / 1e9:.1f} s "
          "of market time)")
    print(f"{'interval':>8} {'layer':>8} {'wall s':>8} {'events/s':>11} {'x bare':>7} {'volume':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in intervals:
            interval = INTERVALS[name]
            walls = {}
            for layer, fn in (("bare", lambda: bare(events, snapshot, interval)),
                              ("summary", lambda: via_run(data, interval, None)),
                              ("files", lambda: via_run(data, interval, Path(tmp) / name))):
                wall, volume = fn()
                walls[layer] = wall
                print(f"{name:>8} {layer:>8} {wall:8.3f} {n_events / wall:11,.0f} {wall / walls['bare']:7.2f} "
                      f"{volume:7.0f}")
        interval = INTERVALS[intervals[-1]]
        full = peak_alloc(lambda: via_run(data, interval, Path(tmp) / "mem_full"))
        part = peak_alloc(lambda: via_run(quarter, interval, Path(tmp) / "mem_quarter"))
        print(f"peak Python allocations during a run with files at {intervals[-1]} (data preloaded): "
              f"{part:.1f} MiB on a quarter of the stream, {full:.1f} MiB on all of it")


def bench_recorder(ticks: int) -> None:
    from optsim.config import load_config
    from optsim.market.feed import Publisher
    from optsim.research.recording import Recorder

    config = load_config(overrides={"service": {"as_of": "2025-01-02"}})
    with tempfile.TemporaryDirectory() as tmp:
        clock = iter(range(10**9))
        publisher = Publisher(config, Path(tmp) / "data", clock=lambda: 1_735_828_200 + next(clock) / 4)
        recorder = Recorder(Path(tmp) / "rec", publisher.market, config)
        spent = [0.0]

        def record(ts):
            t = time.perf_counter()
            recorder.record(ts)
            spent[0] += time.perf_counter() - t

        publisher.on_publish = record
        t0 = time.perf_counter()
        for _ in range(ticks):
            publisher.tick()
        t = time.perf_counter()
        recorder.close()
        spent[0] += time.perf_counter() - t
        total = time.perf_counter() - t0
        print(f"default chain ({len(publisher.market)} series), {ticks} snapshots: {1000 * total / ticks:.0f} ms per "
              f"snapshot, of which the recorder {1000 * spent[0] / ticks:.0f} ms ({spent[0] / total:.0%}); "
              f"{recorder.counts['rows'] / ticks:,.0f} rows per snapshot")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--intervals", nargs="+", default=["100ms", "1ms"], choices=list(INTERVALS))
    p.add_argument("--snapshots", type=int, default=40, help="feed snapshots for the recorder figure")
    args = p.parse_args()
    bench_runs(args.events, args.intervals)
    bench_recorder(args.snapshots)


if __name__ == "__main__":
    main()
