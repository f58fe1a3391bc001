"""Depth-clear rows move the book as hftbacktest 2.4.4 moves it (expected values recorded from it).

hftbacktest's HashMapMarketDepth removes bids from the clear price up to the best bid only (asks
from the best ask up to it), then looks for the new best from two ticks past the clear price;
a non-finite price clears the whole side. Orders a clear leaves at or through the opposite best
are only looked at again by rows priced between them and that best.
"""
import math

import numpy as np
import pytest

import fillsim
from fillsim import ACTION_DTYPE, DEPTH_CLEAR_EVENT, DEPTH_EVENT, DEPTH_SNAPSHOT_EVENT, EVENT_DTYPE, SUBMIT, TRADE_EVENT
from tests.fillsim_rows import event_row

pytestmark = pytest.mark.timeout(30)
NO_BID, NO_ASK = -(2**63), 2**63 - 1
CFG = {"tick_size": 1.0, "entry_latency_ns": 10, "response_latency_ns": 10}


def book(bids, asks, qty=5.0):
    return np.array([event_row(DEPTH_SNAPSHOT_EVENT, 1, 0, p, qty) for p in bids]
                    + [event_row(DEPTH_SNAPSHOT_EVENT, -1, 0, p, qty) for p in asks], dtype=EVENT_DTYPE)


def touches(engine, snapshot, rows, times=(1500, 2500, 3500, 9500)):
    """The local book's (best bid tick, best ask tick) at each time (a first print opens the clock)."""
    stream = np.array([event_row(TRADE_EVENT, 1, 1000, 50.0, 1.0), *rows], dtype=EVENT_DTYPE)
    asset = fillsim.Asset(stream, snapshot=snapshot, tick_size=1.0, config=CFG)
    bt = fillsim.Backtest([asset], engine=engine)
    out = []
    for t in times:
        bt.elapse(t - bt.now)
        out.append((bt.best_bid_tick, bt.best_ask_tick))
    return out


#: name: (snapshot, rows after the opening print, hftbacktest's touches at 1500/2500/3500/9500)
CASES = {
    "bid clear at the best skips the next tick": (
        book([100, 99, 98], [102]), [event_row(DEPTH_EVENT, 1, 1000, 90, 1),
                                     event_row(DEPTH_CLEAR_EVENT, 1, 2000, 100)],
        [(100, 102), (98, 102), (98, 102), (98, 102)]),
    "bid clear below the best": (
        book([100, 99, 98, 97, 96], [102]), [event_row(DEPTH_CLEAR_EVENT, 1, 2000, 99)],
        [(100, 102), (97, 102), (97, 102), (97, 102)]),
    "bid clear above the best removes nothing": (
        book([100, 99, 98], [102]), [event_row(DEPTH_CLEAR_EVENT, 1, 2000, 104)],
        [(100, 102), (100, 102), (100, 102), (100, 102)]),
    "ask clear at the best": (
        book([100], [102, 103, 104, 105]), [event_row(DEPTH_CLEAR_EVENT, -1, 2000, 102)],
        [(100, 102), (100, 104), (100, 104), (100, 104)]),
    "ask clear above the best": (
        book([100], [102, 103, 104, 105, 106]), [event_row(DEPTH_CLEAR_EVENT, -1, 2000, 103)],
        [(100, 102), (100, 105), (100, 105), (100, 105)]),
    "crossed book: stale bids above the best stay hidden": (
        book([100, 99, 98, 97, 96], [103]),
        [event_row(DEPTH_EVENT, -1, 1000, 99, 1), event_row(DEPTH_CLEAR_EVENT, 1, 2000, 97),
         event_row(DEPTH_EVENT, 1, 3000, 91, 1), event_row(DEPTH_EVENT, 1, 9000, 92, 1)],
        [(98, 99), (NO_BID, 99), (91, 99), (92, 99)]),
    "crossed book: stale asks below the best stay hidden": (
        book([96], [100, 101, 102, 103, 104]),
        [event_row(DEPTH_EVENT, 1, 1000, 102, 1), event_row(DEPTH_CLEAR_EVENT, -1, 2000, 103),
         event_row(DEPTH_EVENT, -1, 3000, 110, 1), event_row(DEPTH_EVENT, -1, 9000, 111, 1)],
        [(102, 103), (102, NO_ASK), (102, 110), (102, 110)]),
    "nan price clears the whole bid side": (
        book([100, 99, 98], [102]), [event_row(DEPTH_CLEAR_EVENT, 1, 2000, math.nan),
                                     event_row(DEPTH_EVENT, 1, 9000, 91, 1)],
        [(100, 102), (NO_BID, 102), (NO_BID, 102), (91, 102)]),
    "infinite price clears the whole ask side": (
        book([100], [102, 103]), [event_row(DEPTH_CLEAR_EVENT, -1, 2000, math.inf),
                                  event_row(DEPTH_EVENT, -1, 9000, 110, 1)],
        [(100, 102), (100, NO_ASK), (100, NO_ASK), (100, 110)]),
    "no side clears the book": (
        book([100], [102, 103]), [event_row(DEPTH_CLEAR_EVENT, 0, 2000, 0.0), event_row(DEPTH_EVENT, -1, 9000, 110, 1)],
        [(100, 102), (NO_BID, NO_ASK), (NO_BID, NO_ASK), (NO_BID, 110)]),
}


@pytest.mark.parametrize("engine", ["cython", "python"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_book_after_a_clear_is_hftbacktests(name, engine):
    snapshot, rows, expected = CASES[name]
    assert touches(engine, snapshot, rows) == expected


def _fills(engine, snapshot, rows, actions):
    acts = np.array(actions, dtype=ACTION_DTYPE)
    fills = fillsim.replay(np.array(rows, dtype=EVENT_DTYPE), acts, CFG, snapshot, engine=engine)
    return [(int(f["order_id"]), float(f["exec_px"]), int(f["exch_ts"]), bool(f["maker"])) for f in fills]


@pytest.mark.parametrize("engine", ["cython", "python"])
def test_a_sell_below_the_cleared_bids_rests_as_in_hftbacktest(engine):
    # the clear at 100 leaves the best bid at 98 (not 99): a sell at 99 rests and never fills
    rows = [event_row(DEPTH_EVENT, 1, 1000, 90, 1), event_row(DEPTH_CLEAR_EVENT, 1, 2000, 100),
            event_row(DEPTH_EVENT, 1, 9000, 90, 1)]
    assert _fills(engine, book([100, 99, 98], [102]), rows, [(3000, SUBMIT, 1, -1, 99.0, 1.0, 0, 0)]) == []


@pytest.mark.parametrize("engine", ["cython", "python"])
def test_a_print_only_reaches_orders_below_the_best_ask(engine):
    # the clear re-finds a stale ask at 99 under our resting buy at 100; hftbacktest's print at
    # 100 looks at bids from 100 up to the best ask only, so it does not fill us
    rows = [event_row(TRADE_EVENT, -1, 1000, 106, 24.25), event_row(DEPTH_EVENT, -1, 1220, 99, 17),
            event_row(DEPTH_EVENT, 1, 1220, 106, 9), event_row(DEPTH_CLEAR_EVENT, -1, 1245, 95, 7),
            event_row(TRADE_EVENT, -1, 1255, 100, 19)]
    snapshot = book([99, 98, 97, 96], [101, 102, 103, 104], qty=10.0)
    assert _fills(engine, snapshot, rows, [(1210, SUBMIT, 8, 1, 100.0, 3.0, 0, 0)]) == []


@pytest.mark.parametrize("engine", ["cython", "python"])
def test_a_new_best_ask_only_fills_bids_between_the_old_and_new_best(engine):
    # after the clear the best ask (97) is under our buy at 101; the ask at 96 moves the best
    # from 97 to 96, and hftbacktest fills only bids in [96, 97)
    rows = [event_row(DEPTH_EVENT, -1, 1000, 106, 0.5), event_row(DEPTH_EVENT, -1, 1165, 97, 14.5),
            event_row(DEPTH_SNAPSHOT_EVENT, 1, 1270, 106, 17.5), event_row(DEPTH_CLEAR_EVENT, -1, 1360, 95, 3.25),
            event_row(DEPTH_EVENT, -1, 1395, 96, 17.5)]
    snapshot = book([99, 98, 97, 96], [101, 102, 103, 104], qty=10.0)
    assert _fills(engine, snapshot, rows, [(1300, SUBMIT, 6, 1, 101.0, 1.0, 0, 0)]) == []
