"""The Cython engine and the pure-Python reference agree on random streams, fill for fill."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fillsim
from fillsim import (
    ACTION_DTYPE,
    BUY_EVENT,
    DEPTH_CLEAR_EVENT,
    DEPTH_EVENT,
    DEPTH_SNAPSHOT_EVENT,
    EVENT_DTYPE,
    EXCH_EVENT,
    LOCAL_EVENT,
    SELL_EVENT,
    TRADE_EVENT,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

QUEUE_MODELS = ["risk_averse", ("power", 3.0), ("power", 0.5), ("power2", 2.0), ("power3", 3.0),
                ("log",), ("log2",)]
JITTERS = [None, {"kind": "normal", "sigma": 40.0, "seed": 3},
           {"kind": "lognormal", "sigma": 0.5, "seed": 11},
           {"kind": "table", "table": [(5, 7), (50, 20), (120, 1)], "seed": 5}]


@st.composite
def configs(draw):
    return {"tick_size": 0.01, "lot_size": draw(st.sampled_from([1.0, 0.5])),
            "entry_latency_ns": draw(st.sampled_from([0, 30, 100])),
            "response_latency_ns": draw(st.sampled_from([0, 20])),
            "queue_model": draw(st.sampled_from(QUEUE_MODELS)),
            "partial_fills": draw(st.booleans()), "jitter": draw(st.sampled_from(JITTERS))}


def random_stream(rng, n):
    """A messy book: crossings, removals, clears, fractional sizes, bursts on one timestamp."""
    types = rng.choice([DEPTH_EVENT, TRADE_EVENT, DEPTH_CLEAR_EVENT, DEPTH_SNAPSHOT_EVENT], size=n,
                       p=[0.7, 0.22, 0.02, 0.06])
    sides = rng.choice([BUY_EVENT, SELL_EVENT, 0], size=n, p=[0.48, 0.48, 0.04])
    ticks = 100 + rng.integers(-6, 7, size=n) + np.where(sides == SELL_EVENT, 1, 0)
    qty = rng.integers(0, 25, size=n) + rng.choice([0.0, 0.25, 0.5], size=n)
    events = np.zeros(n, dtype=EVENT_DTYPE)
    events["ev"] = EXCH_EVENT | types | sides | np.where(rng.random(n) < 0.95, LOCAL_EVENT, 0)
    events["exch_ts"] = np.cumsum(rng.choice([0, 0, 10, 25], size=n))
    events["local_ts"] = events["exch_ts"] + 5
    events["px"] = ticks * 0.01
    events["qty"] = qty
    return events


def random_actions(rng, n, horizon):
    acts = np.zeros(n, dtype=ACTION_DTYPE)
    acts["local_ts"] = np.sort(rng.integers(0, max(horizon, 1), size=n)) // 10 * 10
    acts["kind"] = rng.choice([1, 2, 3], size=n, p=[0.6, 0.25, 0.15])
    acts["order_id"] = rng.integers(1, 12, size=n)
    acts["side"] = rng.choice([1, -1], size=n)
    acts["px"] = (100 + rng.integers(-5, 6, size=n)) * 0.01
    acts["qty"] = rng.integers(1, 15, size=n) + rng.choice([0.0, 0.5], size=n)
    acts["tif"] = rng.choice([0, 1, 2, 3], size=n, p=[0.6, 0.15, 0.1, 0.15])
    acts["ord_type"] = rng.choice([0, 1], size=n, p=[0.9, 0.1])
    return acts


def snapshot():
    rows = [(EXCH_EVENT | LOCAL_EVENT | BUY_EVENT | DEPTH_SNAPSHOT_EVENT, -1, -1, t * 0.01, 10.0, 0, 0, 0.0)
            for t in range(96, 100)]
    rows += [(EXCH_EVENT | LOCAL_EVENT | SELL_EVENT | DEPTH_SNAPSHOT_EVENT, -1, -1, t * 0.01, 10.0, 0, 0,
              0.0) for t in range(101, 105)]
    return np.array(rows, dtype=EVENT_DTYPE)


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n_events=st.integers(0, 300), n_actions=st.integers(0, 60),
       config=configs())
def test_replay_gives_identical_fills_on_both_engines(seed, n_events, n_actions, config):
    rng = np.random.default_rng(seed)
    events = random_stream(rng, n_events)
    actions = random_actions(rng, n_actions, int(events["exch_ts"][-1]) if n_events else 500)
    fast = fillsim.replay(events, actions, config, snapshot(), engine="cython")
    slow = fillsim.replay(events, actions, config, snapshot(), engine="python")
    assert fast.dtype == slow.dtype == fillsim.FILL_DTYPE
    assert fast.tolist() == slow.tolist()


@SETTINGS
@given(seed=st.integers(0, 2**32 - 1), n_ops=st.integers(1, 200), config=configs())
def test_online_engines_give_identical_reports_and_order_states(seed, n_ops, config):
    rng = np.random.default_rng(seed)
    engines = [fillsim.OnlineEngine(config, engine=name) for name in ("cython", "python")]
    outputs = [[], []]
    ts = 0
    for _ in range(n_ops):
        ts += int(rng.choice([0, 5, 40]))
        op = rng.random()
        instrument = int(rng.integers(0, 2))
        side = int(rng.choice([1, -1]))
        px = (100 + int(rng.integers(-5, 6))) * 0.01
        qty = float(rng.integers(0, 20))
        oid = int(rng.integers(1, 8))
        tif, ord_type = int(rng.integers(0, 4)), int(rng.random() < 0.1)
        for eng, out in zip(engines, outputs):
            if op < 0.45:
                eng.depth(instrument, side, px, qty, ts)
            elif op < 0.6:
                eng.trade(instrument, side, px, qty + 1, ts)
            elif op < 0.75:
                state = eng.order(oid)
                if state is None or state.status.name in ("FILLED", "CANCELED", "EXPIRED", "REJECTED"):
                    eng.submit(oid, instrument, side, px, qty + 1, ts, tif, ord_type)
            elif op < 0.85:
                eng.cancel(oid, ts)
            elif op < 0.9:
                eng.modify(oid, px, qty + 1, ts)
            else:
                out.extend(eng.advance(ts))
                out.extend([eng.order(i) for i in range(1, 8)])
                out.append(eng.touch(instrument))
    for eng, out in zip(engines, outputs):
        out.extend(eng.advance(ts + 10_000))
    assert outputs[0] == outputs[1]
