"""optsim.research.results: the running figures a backtest's summary is made of."""
import math
from types import SimpleNamespace

import pytest

from optsim.research.results import TRADING_SECONDS_PER_YEAR, Results

S = 1_000_000_000


class FakeBacktest:
    """Just what Results reads at a decision: the clock, the orders, the cash and one flat asset."""

    def __init__(self):
        self.now, self.cash, self.orders = 0, 0.0, {}
        self._view = SimpleNamespace(position=0.0, mid=100.0)

    def asset(self, k):
        return self._view


def _results_at(steps):
    """Results fed one decision per (time_ns, equity) with no position (equity = cash)."""
    res = Results([("X", 1.0)])
    bt = FakeBacktest()
    res.attach(bt)
    for now, equity in steps:
        bt.now, bt.cash = now, equity
        res.record_step(bt)
    return res


def test_sharpe_weights_each_pnl_change_by_the_seconds_it_spans():
    # decisions at 0, 1, 3 and 4 s: changes 1 over 1 s, 4 over 2 s, 1 over 1 s
    res = _results_at([(0, 0.0), (1 * S, 1.0), (3 * S, 5.0), (4 * S, 6.0)])
    # drift 6 / 4 s = 1.5 a second; variance ((1 - 1.5)^2 / 1 + (4 - 3)^2 / 2 + (1 - 1.5)^2 / 1) / (3 - 1) = 0.5
    assert res.sharpe() == pytest.approx(1.5 / math.sqrt(0.5) * math.sqrt(TRADING_SECONDS_PER_YEAR))


def test_sharpe_of_changes_four_seconds_apart_is_not_annualised_as_one_second():
    # changes 4, 2, 6 over 4 s each: drift 12 / 12 s = 1 a second; variance sum((x - 4)^2 / 4) / 2 = 1 a second
    res = _results_at([(0, 0.0), (4 * S, 4.0), (8 * S, 6.0), (12 * S, 12.0)])
    assert res.sharpe() == pytest.approx(1.0 * math.sqrt(TRADING_SECONDS_PER_YEAR))
