"""Cross-check fillsim against hftbacktest itself, fill by fill.

A seeded L2 stream runs through hftbacktest (no-partial-fill exchange, constant latency) with a
market maker that re-quotes the touch and one tick behind every ``interval``; every request it
sends is recorded, then replayed through ``fillsim.replay`` and the two fill lists compared.

    python bench/xcheck_hftbacktest.py [--events 200000] [--seed 7] [--queue riskaverse power:3]
                                       [--clears 0.02]

``--clears`` inserts depth-clear rows (that share of the rows) to cross-check how clears move
the book. Modify is not cross-checked: hftbacktest re-queues a modified order with its old
size (see bench/README.md), so the strategy only submits and cancels.

Needs ``pip install hftbacktest`` (the ``xcheck`` extra). Prints one line per queue model and
exits 1 on any mismatch.
"""
from __future__ import annotations

import argparse
import functools
import sys
import time

import numpy as np

import fillsim
from fillsim.synth import StreamSpec, synth_stream

QUEUES = {"riskaverse": "risk_averse", "power:3": ("power", 3.0), "power:2": ("power", 2.0),
          "power2:2": ("power2", 2.0), "power3:3": ("power3", 3.0), "log": ("log",),
          "log2": ("log2",)}


@functools.cache
def _strategy():
    """The numba quoting strategy (built lazily and once: numba import and JIT take seconds)."""
    from hftbacktest import GTC, LIMIT
    from hftbacktest.order import FILLED
    from numba import njit

    from fillsim.codes import INVALID_MAX, INVALID_MIN

    @njit
    def quote(hbt, interval, levels, qty, last_ts, tail, actions, fills):
        """Re-quote every ``interval`` ns until ``last_ts``, then only collect fills for ``tail``
        ns more; record each request and each fill.

        hftbacktest's elapse does not report the end of data while requests are in flight (it
        never does when the latency is at least the interval), so the loop ends on the clock.
        It also stops, cleanly, when ``actions`` or ``fills`` is full (the caller sees it from
        the counts).
        """
        n_act = 0
        n_fill = 0
        next_id = 1
        tick = hbt.depth(0).tick_size
        cap = actions.shape[0]
        while True:
            status = hbt.elapse(interval)
            orders = hbt.orders(0)
            values = orders.values()
            while values.has_next():
                order = values.get()
                if order.status == FILLED and n_fill < fills.shape[0]:
                    fills[n_fill, 0] = order.order_id
                    fills[n_fill, 1] = 1 if order.side == 1 else -1
                    fills[n_fill, 2] = order.price_tick
                    fills[n_fill, 3] = order.exec_price_tick
                    fills[n_fill, 4] = int(order.exec_qty)
                    fills[n_fill, 5] = order.exch_timestamp
                    fills[n_fill, 6] = 1 if order.arr[0].maker else 0
                    n_fill += 1
            hbt.clear_inactive_orders(0)
            now = hbt.current_timestamp
            if status != 0 or now > last_ts + tail or n_fill == fills.shape[0]:
                break
            if now > last_ts:
                continue  # the data is over: only the fills still on their way are collected
            values = orders.values()
            while values.has_next():
                order = values.get()
                if order.cancellable and n_act < cap:
                    hbt.cancel(0, order.order_id, False)
                    actions[n_act, 0] = now
                    actions[n_act, 1] = 2
                    actions[n_act, 2] = order.order_id
                    n_act += 1
            depth = hbt.depth(0)
            if depth.best_bid_tick == INVALID_MIN or depth.best_ask_tick == INVALID_MAX:
                continue  # one side is empty (a clear row): quote again once it is back
            if n_act + 2 * levels > cap:
                break
            for k in range(levels):
                for side in (1, -1):
                    px_tick = depth.best_bid_tick - k if side == 1 else depth.best_ask_tick + k
                    if side == 1:
                        hbt.submit_buy_order(0, next_id, px_tick * tick, qty, GTC, LIMIT, False)
                    else:
                        hbt.submit_sell_order(0, next_id, px_tick * tick, qty, GTC, LIMIT, False)
                    actions[n_act, 0] = now
                    actions[n_act, 1] = 1
                    actions[n_act, 2] = next_id
                    actions[n_act, 3] = side
                    actions[n_act, 4] = px_tick
                    n_act += 1
                    next_id += 1
        return n_act, n_fill

    return quote


def _peer_backtest(events, snapshot, config):
    """hftbacktest reads ``events`` and ``snapshot`` through raw pointers: keep them alive."""
    from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest

    asset = (BacktestAsset().data([events]).initial_snapshot(snapshot).linear_asset(1.0)
             .constant_order_latency(config["entry_latency_ns"], config["response_latency_ns"])
             .no_partial_fill_exchange().trading_value_fee_model(0.0, 0.0)
             .tick_size(config["tick_size"]).lot_size(config["lot_size"]))
    queue = config["queue_model"]
    if queue == "risk_averse":
        asset = asset.risk_adverse_queue_model()
    else:
        builder = {"power": asset.power_prob_queue_model, "power2": asset.power_prob_queue_model2,
                   "power3": asset.power_prob_queue_model3, "log": asset.log_prob_queue_model,
                   "log2": asset.log_prob_queue_model2}[queue[0]]
        asset = builder(*queue[1:])
    return HashMapMarketDepthBacktest([asset])


def run_hftbacktest(events, snapshot, config, interval_ns=2_000_000, levels=2, qty=1.0):
    """Run the quoting strategy in hftbacktest; return (actions, fills, wall seconds).

    The wall time covers the strategy call only (its numba JIT is warmed up beforehand on a
    small prefix of the same stream). Raises RuntimeError if the buffers sized from the
    stream's span ran out (the run would be cut short).
    """
    quote = _strategy()
    tail = 2 * (config["entry_latency_ns"] + config["response_latency_ns"]) + interval_ns
    prefix = np.ascontiguousarray(events[: min(len(events), 2000)])
    warm = _peer_backtest(prefix, snapshot, config)
    quote(warm, interval_ns, levels, qty, _last_ts(prefix), tail, *_buffers(prefix, interval_ns, levels))
    warm.close()
    hbt = _peer_backtest(events, snapshot, config)
    raw_actions, raw_fills = _buffers(events, interval_ns, levels)
    start = time.perf_counter()
    n_act, n_fill = quote(hbt, interval_ns, levels, qty, _last_ts(events), tail, raw_actions, raw_fills)
    wall = time.perf_counter() - start
    hbt.close()
    if n_act + 2 * levels > len(raw_actions) or n_fill == len(raw_fills):
        raise RuntimeError(f"cross-check buffers full ({n_act} requests, {n_fill} fills)")
    tick = config["tick_size"]
    actions = np.zeros(n_act, dtype=fillsim.ACTION_DTYPE)
    actions["local_ts"], actions["kind"], actions["order_id"] = raw_actions[:n_act, :3].T
    actions["side"], actions["px"] = raw_actions[:n_act, 3], raw_actions[:n_act, 4] * tick
    actions["qty"] = qty
    fills = np.zeros(n_fill, dtype=fillsim.FILL_DTYPE)
    f = raw_fills[:n_fill]
    fills["order_id"], fills["side"], fills["px"], fills["exec_px"] = f[:, 0], f[:, 1], f[:, 2] * tick, f[:, 3] * tick
    fills["exec_qty"], fills["exch_ts"], fills["maker"] = f[:, 4], f[:, 5], f[:, 6].astype(bool)
    fills["local_ts"] = fills["exch_ts"] + config["response_latency_ns"]
    return actions, fills, wall


def _last_ts(events) -> int:
    """The latest time the stream says anything: the strategy stops quoting after it."""
    return int(max(events["exch_ts"].max(), events["local_ts"].max())) if len(events) else 0


def _buffers(events, interval_ns, levels):
    """Request and fill buffers for a run over the stream's span: each interval sends at most
    one cancel and one quote per resting order (2 * levels of each); fills are bounded by quotes."""
    ts = events["local_ts"]
    rounds = (int(ts.max() - ts.min()) // interval_ns + 2) if len(events) else 2
    cap = rounds * 4 * levels + 16
    return np.zeros((cap, 5), np.int64), np.zeros((cap, 7), np.int64)


def with_clears(events, touches, rate, seed, tick_size):
    """``events`` with a depth-clear row after about ``rate`` of the rows: same times, a random
    side, clearing from the touch (``touches`` after each row, as synth_stream gives them) to
    zero to two ticks into the book."""
    rng = np.random.default_rng(seed)
    picked = np.flatnonzero(rng.random(len(events)) < rate)
    clears = events[picked].copy()
    buy = rng.random(len(picked)) < 0.5
    depth = rng.integers(0, 3, size=len(picked))
    ticks = np.where(buy, touches[picked, 0] - depth, touches[picked, 1] + depth)
    clears["ev"] = (fillsim.EXCH_EVENT | fillsim.LOCAL_EVENT | fillsim.DEPTH_CLEAR_EVENT
                    | np.where(buy, fillsim.BUY_EVENT, fillsim.SELL_EVENT))
    clears["px"], clears["qty"] = ticks * tick_size, 0.0
    return np.insert(events, picked + 1, clears)


def fill_keys(fills, tick_size):
    """Comparable fills: (order_id, exch_ts, exec tick, order tick, qty, side, maker), sorted."""
    return sorted(zip(fills["order_id"].tolist(), fills["exch_ts"].tolist(),
                      np.rint(fills["exec_px"] / tick_size).astype(int).tolist(),
                      np.rint(fills["px"] / tick_size).astype(int).tolist(),
                      np.rint(fills["exec_qty"]).astype(int).tolist(), fills["side"].tolist(),
                      fills["maker"].tolist()))


def cross_check(n_events=100_000, seed=7, queue="riskaverse", engine=None, clears=0.0):
    """Run both simulators on one stream (with ``clears`` of its rows followed by a clear row);
    return a dict of counts, mismatches and timings."""
    spec = StreamSpec(n_events=n_events, seed=seed)
    events, snapshot, touches = synth_stream(spec)
    if clears:
        events = with_clears(events, np.asarray(touches), clears, seed, spec.tick_size)
    config = {"tick_size": spec.tick_size, "lot_size": 1.0, "entry_latency_ns": 200_000,
              "response_latency_ns": 200_000, "queue_model": QUEUES[queue], "partial_fills": False}
    actions, peer_fills, peer_wall = run_hftbacktest(events, snapshot, config)
    start = time.perf_counter()
    ours = fillsim.replay(events, actions, config, snapshot, engine=engine)
    our_wall = time.perf_counter() - start
    theirs_k, ours_k = fill_keys(peer_fills, spec.tick_size), fill_keys(ours, spec.tick_size)
    missing = sorted(set(theirs_k) - set(ours_k))
    extra = sorted(set(ours_k) - set(theirs_k))
    return {"queue": queue, "events": len(events), "requests": len(actions), "peer_fills": len(theirs_k),
            "our_fills": len(ours_k), "match": theirs_k == ours_k, "missing": missing[:5],
            "extra": extra[:5], "peer_wall_s": peer_wall, "our_wall_s": our_wall}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--queue", nargs="+", default=["riskaverse", "power:3"], choices=sorted(QUEUES))
    parser.add_argument("--clears", type=float, default=0.0, help="share of rows followed by a clear row")
    args = parser.parse_args(argv)
    from importlib.metadata import version

    import hftbacktest  # noqa: F401  (fail here, clearly, if the peer is not installed)

    print(f"hftbacktest {version('hftbacktest')} vs fillsim ({fillsim.ENGINE}), "
          f"{args.events:,} events, seed {args.seed}")
    ok = True
    for queue in args.queue:
        r = cross_check(args.events, args.seed, queue, clears=args.clears)
        ok &= r["match"]
        print(f"  {queue:10s} requests {r['requests']:6d}  fills peer {r['peer_fills']:5d} "
              f"ours {r['our_fills']:5d}  {'IDENTICAL' if r['match'] else 'MISMATCH'}  "
              f"peer {r['peer_wall_s'] * 1e3:7.1f} ms  fillsim {r['our_wall_s'] * 1e3:6.1f} ms")
        if not r["match"]:
            print(f"    missing (peer only): {r['missing']}\n    extra (ours only): {r['extra']}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
