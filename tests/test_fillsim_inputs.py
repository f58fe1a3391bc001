"""Input edges both engines hold alike: sizes in lots, snapshot rows (each raises the same error)."""
import numpy as np
import pytest

import fillsim
from fillsim import ACTION_DTYPE, DEPTH_EVENT, DEPTH_SNAPSHOT_EVENT, EXCH_EVENT, SUBMIT, TRADE_EVENT
from tests.fillsim_rows import event_row, events

pytestmark = pytest.mark.timeout(30)
ENGINES = ["cython", "python"]


SNAPSHOT = events(event_row(DEPTH_SNAPSHOT_EVENT, 1, 0, 1.00, 5), event_row(DEPTH_SNAPSHOT_EVENT, -1, 0, 1.02, 5))
BUY_AT_1 = np.array([(50, SUBMIT, 1, 1, 1.00, 1.0, 0, 0)], dtype=ACTION_DTYPE)


def cfg(lot_size=1.0):
    return {"tick_size": 0.01, "lot_size": lot_size, "entry_latency_ns": 10, "response_latency_ns": 10}


# ---- sizes of 2**53 lots or more are refused at the edge (the C engine's lot counts stay in range)

@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("stream, lot_size", [
    (events(event_row(TRADE_EVENT, -1, 100, 1.00, 1e19)), 1e-9),
    (events(event_row(DEPTH_EVENT, 1, 100, 1.00, 1e11)), 1e-300),  # 1e311 lots: not even finite
])
def test_an_event_size_of_2_53_lots_or_more_is_refused(stream, lot_size, engine):
    one_lot = BUY_AT_1.copy()
    one_lot["qty"] = lot_size
    with pytest.raises(ValueError, match=r"event row 0: .*under 2\*\*53 lots"):
        fillsim.replay(stream, one_lot, cfg(lot_size), None, engine=engine)
    bt = fillsim.Backtest([fillsim.Asset(stream, tick_size=0.01, lot_size=lot_size)], engine=engine)
    with pytest.raises(ValueError, match="event row 0"):
        bt.elapse(1_000)


@pytest.mark.parametrize("engine", ENGINES)
def test_sizes_just_under_the_limit_fill_alike(engine):
    lot = 1e-9
    big = (2**53 - 1) * lot
    stream = events(event_row(TRADE_EVENT, -1, 100, 1.00, big), event_row(TRADE_EVENT, -1, 200, 1.00, big))
    fills = fillsim.replay(stream, BUY_AT_1, cfg(lot), SNAPSHOT, engine=engine)
    assert [(int(f["order_id"]), int(f["exch_ts"])) for f in fills] == [(1, 100)]


@pytest.mark.parametrize("engine", ENGINES)
def test_an_order_size_of_2_53_lots_or_more_is_refused(engine):
    acts = BUY_AT_1.copy()
    acts["qty"] = 2.0**53
    with pytest.raises(ValueError, match=r"under 2\*\*53 lots"):
        fillsim.replay(events(), acts, cfg(), SNAPSHOT, engine=engine)
    bt = fillsim.Backtest([fillsim.Asset(events(event_row(DEPTH_EVENT, 1, 0, 1.0, 1)), tick_size=0.01)], engine=engine)
    with pytest.raises(ValueError, match=r"qty .* 2\*\*53 lots"):
        bt.buy(1.0, 2.0**53)
    online = fillsim.OnlineEngine(cfg(), engine=engine)
    with pytest.raises(ValueError, match=r"2\*\*53 lots"):
        online.depth("X", 1, 1.0, 2.0**60, 0)


# ---- snapshot rows get the event rows' check ------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("px, qty", [(1.00, float("nan")), (1.00, -1.0), (1.00, float("inf")),
                                     (float("nan"), 5.0), (1.00, 2.0**53)])
def test_an_unusable_snapshot_row_is_refused_naming_it(px, qty, engine):
    snap = events(event_row(DEPTH_SNAPSHOT_EVENT, -1, 0, 1.02, 5), event_row(DEPTH_SNAPSHOT_EVENT, 1, 0, px, qty))
    stream = events(event_row(TRADE_EVENT, -1, 100, 1.00, 1))
    with pytest.raises(ValueError, match="snapshot row 1"):
        fillsim.replay(stream, BUY_AT_1, cfg(), snap, engine=engine)
    with pytest.raises(ValueError, match="snapshot row 1"):
        fillsim.Backtest([fillsim.Asset(stream, snapshot=snap, tick_size=0.01)], engine=engine)


# ---- a book side spanning more than 2**27 ticks is refused by both engines ------------------

LADDER = 2**27


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("far, refused", [
    (LADDER - 600, False),  # fits the first ladder's slack (511 ticks below the first level)
    (LADDER - 100, True),  # the levels span fewer ticks, but the C ladder would not: refused alike
    (LADDER + 5, True),
])
def test_a_book_side_wider_than_the_ladder_is_refused_alike(far, refused, engine):
    stream = events(event_row(DEPTH_EVENT, -1, 100, 0.0, 1), event_row(DEPTH_EVENT, -1, 200, far * 0.01, 1))
    if refused:
        with pytest.raises(ValueError, match="ticks on one side is too wide for the book"):
            fillsim.replay(stream, BUY_AT_1, cfg(), None, engine=engine)
    else:
        assert fillsim.replay(stream, BUY_AT_1, cfg(), None, engine=engine).tolist() != []


@pytest.mark.parametrize("engine", ENGINES)
def test_a_snapshot_wider_than_the_ladder_is_refused_alike(engine):
    snap = events(event_row(DEPTH_SNAPSHOT_EVENT, 1, 0, 1.00, 5),
                  event_row(DEPTH_SNAPSHOT_EVENT, 1, 0, -(LADDER * 0.01), 5))
    with pytest.raises(ValueError, match="too wide for the book"):
        fillsim.replay(events(), BUY_AT_1, cfg(), snap, engine=engine)


# ---- replay checks time order as Asset does --------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
def test_replay_refuses_exchange_rows_out_of_time_order(engine):
    stream = events(event_row(TRADE_EVENT, -1, 200, 0.99, 1), event_row(TRADE_EVENT, -1, 100, 0.99, 1))
    with pytest.raises(ValueError, match="exch_ts of the exchange rows must not go back in time"):
        fillsim.replay(stream, BUY_AT_1, cfg(), SNAPSHOT, engine=engine)
    feed_only = stream.copy()
    feed_only["ev"][1] &= ~np.uint64(EXCH_EVENT)  # a feed row's exch_ts is not the exchange's clock
    assert len(fillsim.replay(feed_only, BUY_AT_1, cfg(), SNAPSHOT, engine=engine)) == 1


def test_asset_time_order_check_does_not_wrap_across_int64():
    stream = events(event_row(TRADE_EVENT, -1, -(2**63) + 1, 0.99, 1), event_row(TRADE_EVENT, -1, 2**63 - 1, 0.99, 1))
    stream["local_ts"] = stream["exch_ts"]
    fillsim.Asset(stream, tick_size=0.01)  # in order: np.diff wrapped to -2 and refused it
