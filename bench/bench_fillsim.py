"""fillsim speed, side by side in one run on one stream: the extension, the pure-Python
reference and hftbacktest (when installed), plus time to first fill from a cold process.

    python bench/bench_fillsim.py [--events 1000000] [--ref-events 100000] [--repeats 3]

The stream is fillsim.synth's seeded L2 book; the orders are a market maker re-quoting two
levels a side every ~100 events (2 ms). With hftbacktest installed its own strategy run
produces those orders, and fillsim replays exactly them (the fills are compared too); its
time is the strategy call with the numba JIT warmed up, as in the xcheck files. The reference
runs on a prefix and is extrapolated (it is linear in events).
"""
from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import fillsim
from fillsim.synth import StreamSpec, requote_actions, synth_stream

CONFIG = {"tick_size": 0.01, "lot_size": 1.0, "entry_latency_ns": 200_000,
          "response_latency_ns": 200_000, "queue_model": "risk_averse", "partial_fills": False}
HERE = Path(__file__).resolve().parent

_COLD_FILLSIM = """
import time; t0 = time.perf_counter()
import numpy as np, fillsim
d = np.load({path!r})
f = fillsim.replay(d["events"], d["actions"], {config!r}, d["snapshot"])
print(time.perf_counter() - t0, len(f))
"""

_COLD_PEER = """
import time; t0 = time.perf_counter()
import importlib.util, numpy as np
spec = importlib.util.spec_from_file_location("x", {script!r}); x = importlib.util.module_from_spec(spec)
spec.loader.exec_module(x)
d = np.load({path!r})
events, snapshot = np.ascontiguousarray(d["events"]), np.ascontiguousarray(d["snapshot"])
hbt = x._peer_backtest(events, snapshot, {config!r})
n_act, n_fill = x._strategy()(hbt, 2_000_000, 2, 1.0, x._last_ts(events), 0, *x._buffers(events, 2_000_000, 2))
print(time.perf_counter() - t0, n_fill)
"""


def _best(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def _peer_module():
    if importlib.util.find_spec("hftbacktest") is None:
        return None
    spec = importlib.util.spec_from_file_location("xcheck_hftbacktest", HERE / "xcheck_hftbacktest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cold(code: str) -> tuple[float, float, int]:
    """Run ``code`` in a fresh interpreter: (process wall s, in-process s to first fill, fills)."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    inner, fills = out.stdout.split()
    return wall, float(inner), int(fills)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--ref-events", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    events, snapshot, touches = synth_stream(StreamSpec(n_events=args.events, seed=args.seed))
    print(f"stream: {len(events):,} events, seed {args.seed} (generated in "
          f"{time.perf_counter() - start:.1f} s)")
    peer = _peer_module()
    if peer is not None:
        actions, peer_fills, peer_wall = peer.run_hftbacktest(events, snapshot, CONFIG)
        source = "hftbacktest's quoting strategy"
    else:
        actions, peer_fills, peer_wall = requote_actions(events, touches), None, None
        source = "fillsim.synth.requote_actions (hftbacktest not installed)"
    print(f"orders: {len(actions):,} requests from {source}")

    ext_s, fills = _best(lambda: fillsim.replay(events, actions, CONFIG, snapshot, engine="cython"),
                         args.repeats)
    n_ref = min(args.ref_events, len(events))
    horizon = events["exch_ts"][n_ref - 1]
    ref_actions = actions[actions["local_ts"] <= horizon]
    ref_s, _ = _best(lambda: fillsim.replay(events[:n_ref], ref_actions, CONFIG, snapshot,
                                            engine="python"), 1)
    ext_rate, ref_rate = len(events) / ext_s, n_ref / ref_s

    print(f"\n{'engine':34s} {'events/s':>14s} {'wall':>10s}")
    print(f"{'fillsim cython (whole replay call)':34s} {ext_rate:14,.0f} {ext_s * 1e3:8.1f} ms")
    print(f"{'fillsim python reference':34s} {ref_rate:14,.0f} {ref_s * 1e3:8.1f} ms"
          f"  ({n_ref:,}-event prefix, extrapolated: {len(events) / ref_rate:.1f} s for all)")
    if peer_wall is not None:
        peer_rate = len(events) / peer_wall
        same = peer.fill_keys(peer_fills, CONFIG["tick_size"]) == peer.fill_keys(fills, CONFIG["tick_size"])
        print(f"{'hftbacktest 2.x (strategy call)':34s} {peer_rate:14,.0f} {peer_wall * 1e3:8.1f} ms"
              f"  (fills {'identical' if same else 'DIFFER'}: {len(peer_fills):,})")
    print(f"\nratios: extension / reference = {ext_rate / ref_rate:,.0f}x", end="")
    if peer_wall is not None:
        print(f"; extension / hftbacktest = {ext_rate / peer_rate:.2f}x")
    else:
        print()

    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small.npz"
        cut = 20_000
        np.savez(small, events=events[:cut], snapshot=snapshot,
                 actions=actions[actions["local_ts"] <= events["exch_ts"][cut - 1]])
        print("\ntime to first fills from a cold process (20k events; process wall incl. "
              "interpreter start / in-process from first import):")
        wall, inner, n = _cold(_COLD_FILLSIM.format(path=str(small), config=CONFIG))
        print(f"  fillsim {fillsim.ENGINE:7s} {wall:6.2f} s / {inner:6.2f} s  ({n} fills)")
        if peer is not None:
            wall, inner, n = _cold(_COLD_PEER.format(script=str(HERE / "xcheck_hftbacktest.py"),
                                                     path=str(small), config=CONFIG))
            print(f"  hftbacktest    {wall:6.2f} s / {inner:6.2f} s  ({n} fills, numba JIT included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
