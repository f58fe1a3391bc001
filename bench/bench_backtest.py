"""Closed-loop backtest speed, side by side in one run: fillsim.Backtest with the Python passive
market maker against hftbacktest with the same market maker in numba, on one stream.

    python bench/bench_backtest.py [--events 1000000] [--intervals 100ms 1ms] [--repeats 3]

The stream is fillsim.synth's seeded L2 book (timestamps on a 10 us grid, ~19 s of market
time per million rows). The strategy is optsim.research.strategies.market_maker (join the
touch, 1 lot a side, skew 0.2 tick per contract, position limit 5) deciding every interval;
the numba twin below makes the same decisions, so both runs must end with the same fills
(the script checks it). fillsim's time is the whole strategy call; hftbacktest's is its
strategy call after the numba JIT has been warmed up on a prefix (JIT excluded). Time to first
result is a fresh interpreter running a 20k-row backtest, process wall time.
"""
from __future__ import annotations

import argparse
import functools
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import fillsim
from fillsim.synth import StreamSpec, synth_stream
from optsim.research.strategies.market_maker import market_maker

HERE = Path(__file__).resolve().parent
CONFIG = {"tick_size": 0.01, "lot_size": 1.0, "entry_latency_ns": 200_000,
          "response_latency_ns": 200_000, "queue_model": "risk_averse", "partial_fills": False}
MM = {"qty": 1.0, "skew": 0.2, "max_position": 5.0}
INTERVALS = {"100ms": 100_000_000, "10ms": 10_000_000, "1ms": 1_000_000}

_COLD_FILLSIM = """
import time; t0 = time.perf_counter()
import numpy as np, fillsim
from optsim.research.strategies.market_maker import market_maker
d = np.load({path!r})
bt = fillsim.Backtest(fillsim.Asset(d["events"], snapshot=d["snapshot"], tick_size=0.01, config={config!r}))
market_maker(bt, interval_ns=1_000_000, **{mm!r})
print(time.perf_counter() - t0, len(bt.fills))
"""

_COLD_PEER = """
import time; t0 = time.perf_counter()
import importlib.util, numpy as np
spec = importlib.util.spec_from_file_location("b", {script!r}); b = importlib.util.module_from_spec(spec)
spec.loader.exec_module(b)
d = np.load({path!r})
fills = b.run_peer(np.ascontiguousarray(d["events"]), np.ascontiguousarray(d["snapshot"]), {config!r}, 1_000_000, warm=False)[0]
print(time.perf_counter() - t0, len(fills))
"""


def _xcheck():
    spec = importlib.util.spec_from_file_location("xcheck_hftbacktest", HERE / "xcheck_hftbacktest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def _peer_strategy():
    """The market maker in numba for hftbacktest (built lazily: numba import and JIT take seconds)."""
    from hftbacktest import GTX, LIMIT
    from numba import njit

    @njit
    def mm(hbt, interval, qty, skew, max_position, fills):
        """market_maker's rules; records every fill (order id, side, exec tick, qty, exch ts, maker)."""
        n_fill = 0
        next_id = 1
        tick = hbt.depth(0).tick_size
        while True:
            status = hbt.elapse(interval)
            orders = hbt.orders(0)
            values = orders.values()
            while values.has_next():
                order = values.get()
                if order.status == 3 and n_fill < fills.shape[0]:  # FILLED
                    fills[n_fill, 0] = order.order_id
                    fills[n_fill, 1] = order.side
                    fills[n_fill, 2] = order.exec_price_tick
                    fills[n_fill, 3] = int(order.exec_qty)
                    fills[n_fill, 4] = order.exch_timestamp
                    fills[n_fill, 5] = 1 if order.arr[0].maker else 0
                    n_fill += 1
            hbt.clear_inactive_orders(0)
            if status != 0:
                break
            depth = hbt.depth(0)
            bid, ask = depth.best_bid_tick, depth.best_ask_tick
            if bid == -(2**63) or ask == 2**63 - 1:
                continue
            pos = hbt.position(0)
            shift = np.floor(skew * pos + 0.5)
            bid_t = min(min(bid, ask - 1) - shift, ask - 1)
            ask_t = max(max(ask, bid + 1) - shift, bid + 1)
            keep_bid, keep_ask = False, False
            work_bid, work_ask = 0.0, 0.0
            values = orders.values()
            while values.has_next():
                order = values.get()
                if order.status not in (0, 1, 5) or order.req == 4:  # not live, or cancel in flight
                    continue
                target = bid_t if order.side == 1 else ask_t
                if order.req != 0 or (order.price_tick == target
                                      and not (keep_bid if order.side == 1 else keep_ask)):
                    if order.side == 1:
                        keep_bid, work_bid = True, work_bid + order.leaves_qty
                    else:
                        keep_ask, work_ask = True, work_ask + order.leaves_qty
                else:
                    hbt.cancel(0, order.order_id, False)
            if not keep_bid and max_position - pos - work_bid >= qty:
                hbt.submit_buy_order(0, next_id, bid_t * tick, qty, GTX, LIMIT, False)
                next_id += 1
            if not keep_ask and max_position + pos - work_ask >= qty:
                hbt.submit_sell_order(0, next_id, ask_t * tick, qty, GTX, LIMIT, False)
                next_id += 1
        return n_fill

    return mm


def run_peer(events, snapshot, config, interval_ns, warm=True):
    """hftbacktest + the numba market maker; returns (fill keys, wall seconds of the strategy call)."""
    peer = _xcheck()._peer_backtest
    mm = _peer_strategy()
    cap = len(events) // 2 + 1000
    if warm:
        prefix = np.ascontiguousarray(events[: min(len(events), 2000)])
        hbt = peer(prefix, snapshot, config)
        mm(hbt, interval_ns, MM["qty"], MM["skew"], MM["max_position"], np.zeros((cap, 6), np.int64))
        hbt.close()
    hbt = peer(events, snapshot, config)
    raw = np.zeros((cap, 6), np.int64)
    start = time.perf_counter()
    n = mm(hbt, interval_ns, MM["qty"], MM["skew"], MM["max_position"], raw)
    wall = time.perf_counter() - start
    hbt.close()
    return sorted(map(tuple, raw[:n].tolist())), wall


def run_ours(events, snapshot, config, interval_ns, engine=None):
    """fillsim.Backtest + the Python market maker; returns (fill keys, wall seconds, backtest)."""
    bt = fillsim.Backtest(fillsim.Asset(events, snapshot=snapshot, tick_size=config["tick_size"],
                                        config=config), engine=engine)
    start = time.perf_counter()
    market_maker(bt, interval_ns=interval_ns, **MM)
    wall = time.perf_counter() - start
    tick = config["tick_size"]
    keys = sorted((f.order_id, f.side, round(f.price / tick), int(f.qty), f.exch_ns, int(f.maker))
                  for f in bt.fills)
    return keys, wall, bt


def _cold(code: str) -> tuple[float, float, int]:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    inner, n = out.stdout.split()
    return wall, float(inner), int(n)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--intervals", nargs="+", default=["100ms", "1ms"], choices=sorted(INTERVALS))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    has_peer = importlib.util.find_spec("hftbacktest") is not None
    events, snapshot, _ = synth_stream(StreamSpec(n_events=args.events, seed=args.seed))
    span = (events["exch_ts"][-1] - events["exch_ts"][0]) / 1e9
    print(f"{args.events:,} events ({span:.1f} s of market time), fillsim {fillsim.ENGINE}, "
          f"market maker {MM}, best of {args.repeats}")
    ok = True
    for label in args.intervals:
        interval = INTERVALS[label]
        ours = min((run_ours(events, snapshot, CONFIG, interval) for _ in range(args.repeats)),
                   key=lambda r: r[1])
        keys, wall, bt = ours
        line = (f"  every {label:5s} decisions {bt.decisions:7,d} fills {len(keys):6,d}  "
                f"fillsim {args.events / wall / 1e6:6.2f} M ev/s ({wall * 1e3:7.1f} ms)")
        if has_peer:
            peer_keys, peer_wall = min((run_peer(events, snapshot, CONFIG, interval)
                                        for _ in range(args.repeats)), key=lambda r: r[1])
            same = peer_keys == keys
            ok &= same
            line += (f"  hftbacktest {args.events / peer_wall / 1e6:6.2f} M ev/s "
                     f"({peer_wall * 1e3:7.1f} ms)  ratio {peer_wall / wall:5.2f}x  "
                     f"fills {'IDENTICAL' if same else 'DIFFER (%d peer)' % len(peer_keys)}")
        print(line)
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small.npz"
        np.savez(small, events=events[:20_000], snapshot=snapshot)
        print("time to first result from a cold process (20k events, 1 ms decisions; process wall "
              "incl. interpreter start / in-process from first import):")
        wall, inner, n = _cold(_COLD_FILLSIM.format(path=str(small), config=CONFIG, mm=MM))
        print(f"  fillsim      {wall:5.2f} s / {inner:5.2f} s  ({n} fills)")
        if has_peer:
            wall, inner, n = _cold(_COLD_PEER.format(script=str(Path(__file__).resolve()),
                                                     path=str(small), config=CONFIG))
            print(f"  hftbacktest  {wall:5.2f} s / {inner:5.2f} s  ({n} fills, numba JIT included)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
