"""Live cross-check: the closed loop against hftbacktest's own elapse loop, fill for fill.

The same market maker runs in Python on fillsim.Backtest and in numba on hftbacktest (the
pair in bench/bench_backtest.py); its quotes follow its position, so any difference in when
the book, acks or fills reach the strategy would change every later decision. Runs only where
hftbacktest is installed (the ``xcheck`` extra).
"""
import importlib.util
from pathlib import Path

import pytest

from fillsim.synth import StreamSpec, synth_stream

pytest.importorskip("hftbacktest", reason="hftbacktest is not installed (pip install -e .[xcheck])")
pytestmark = pytest.mark.xcheck

_SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "bench_backtest.py"
_spec = importlib.util.spec_from_file_location("bench_backtest", _SCRIPT)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


@pytest.mark.timeout(600)  # numba's JIT of the peer strategy takes seconds (minutes on a busy box)
@pytest.mark.parametrize("queue", ["risk_averse", ("power", 3.0)])
def test_closed_loop_fills_equal_hftbacktests_elapse_loop(queue):
    events, snapshot, _ = synth_stream(StreamSpec(n_events=30_000, seed=13))
    config = dict(bench.CONFIG, queue_model=queue)
    for interval in (1_000_000, 20_000_000):
        peer, _ = bench.run_peer(events, snapshot, config, interval, warm=False)
        ours, _, bt = bench.run_ours(events, snapshot, config, interval)
        assert len(ours) > 40  # the strategy really traded, and its position moved
        assert ours == peer
    assert bt.position == sum(f.side * f.qty for f in bt.fills)
