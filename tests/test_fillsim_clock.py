"""Times near the end of int64: both engines stop the clock at INT64_MAX instead of wrapping."""
import sys

import numpy as np
import pytest

import fillsim
from fillsim import ACTION_DTYPE, DEPTH_SNAPSHOT_EVENT, SUBMIT, TRADE_EVENT
from fillsim.synth import StreamSpec, synth_stream
from tests.fillsim_rows import event_row, events

pytestmark = pytest.mark.timeout(30)
END = 2**63 - 1
SNAPSHOT = events(event_row(DEPTH_SNAPSHOT_EVENT, 1, 0, 1.00, 5), event_row(DEPTH_SNAPSHOT_EVENT, -1, 0, 1.02, 5))
CFG = {"tick_size": 0.01, "entry_latency_ns": 10, "response_latency_ns": 10}


@pytest.mark.parametrize("engine", ["cython", "python"])
def test_an_order_sent_just_before_the_end_of_time_never_arrives_early(engine):
    # send time + latency used to wrap in C, so the order arrived at once and filled at 5000
    stream = events(event_row(TRADE_EVENT, -1, 5000, 0.99, 1))
    acts = np.array([(END - 5, SUBMIT, 1, 1, 1.00, 1.0, 0, 0)], dtype=ACTION_DTYPE)
    assert fillsim.replay(stream, acts, CFG, SNAPSHOT, engine=engine).tolist() == []


@pytest.mark.parametrize("engine", ["cython", "python"])
def test_a_report_just_before_the_end_of_time_reaches_us_at_its_end(engine):
    stream = events(event_row(TRADE_EVENT, -1, END - 3, 0.99, 1))
    acts = np.array([(0, SUBMIT, 1, 1, 1.00, 1.0, 0, 0)], dtype=ACTION_DTYPE)
    (fill,) = fillsim.replay(stream, acts, CFG, SNAPSHOT, engine=engine)
    assert (int(fill["exch_ts"]), int(fill["local_ts"])) == (END - 3, END)


@pytest.mark.parametrize("engine", ["cython", "python"])
@pytest.mark.parametrize("ns", [sys.maxsize, 2**64, np.int64(END)])
def test_elapse_of_any_length_ends_the_run(ns, engine):
    # elapse(sys.maxsize) used to loop forever in C (the clock wrapped); 2**64 overflowed there
    events, snapshot, _ = synth_stream(StreamSpec(n_events=500, seed=3))
    bt = fillsim.Backtest([fillsim.Asset(events, snapshot=snapshot, tick_size=0.01)], engine=engine)
    bt.elapse(1_000)
    bt.sell(bt.best_ask, 1)
    assert [bt.elapse(ns), bt.elapse(ns)] == [False, False]
    assert bt.now == END
