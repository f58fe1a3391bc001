"""Hand-made cases for every fill rule, run against both engines (Cython and the reference)."""
import numpy as np
import pytest

import fillsim
from fillsim import (
    ACTION_DTYPE,
    BUY,
    BUY_EVENT,
    CANCEL,
    DEPTH_CLEAR_EVENT,
    DEPTH_EVENT,
    DEPTH_SNAPSHOT_EVENT,
    EXCH_EVENT,
    FOK,
    GTX,
    IOC,
    LOCAL_EVENT,
    MARKET,
    MODIFY,
    SELL,
    SUBMIT,
    TRADE_EVENT,
    OrderStatus,
    ReportKind,
)
from tests.fillsim_rows import event_row, events

ENTRY, RESPONSE = 10, 5
CFG = {"tick_size": 0.01, "entry_latency_ns": ENTRY, "response_latency_ns": RESPONSE}


@pytest.fixture(params=["cython", "python"])
def engine(request):
    return request.param


def row(kind, side, px, qty, ts, flags=EXCH_EVENT | LOCAL_EVENT):
    """An event row, price and size first: these cases read as books."""
    return event_row(kind, side, ts, px, qty, flags)


#: bids 1.00 x10, 0.99 x20; asks 1.01 x10, 1.02 x20
BOOK = events(row(DEPTH_SNAPSHOT_EVENT, BUY, 1.00, 10, 0), row(DEPTH_SNAPSHOT_EVENT, BUY, 0.99, 20, 0),
              row(DEPTH_SNAPSHOT_EVENT, SELL, 1.01, 10, 0), row(DEPTH_SNAPSHOT_EVENT, SELL, 1.02, 20, 0))


def submit(ts, oid, side, px, qty, tif=0, ord_type=0):
    return (ts, SUBMIT, oid, side, px, qty, tif, ord_type)


def cancel(ts, oid):
    return (ts, CANCEL, oid, 0, 0.0, 0.0, 0, 0)


def modify(ts, oid, px, qty):
    return (ts, MODIFY, oid, 0, px, qty, 0, 0)


def run(engine, stream, actions, **config):
    acts = np.array(actions, dtype=ACTION_DTYPE)
    fills = fillsim.replay(stream, acts, {**CFG, **config}, BOOK, engine=engine)
    return [(int(f["order_id"]), round(float(f["exec_px"]), 2), float(f["exec_qty"]),
             int(f["exch_ts"]), bool(f["maker"])) for f in fills]


def online(engine, **config):
    eng = fillsim.OnlineEngine({**CFG, **config}, engine=engine)
    for r in BOOK:
        side = BUY if r["ev"] & BUY_EVENT else SELL
        eng.depth("X", side, float(r["px"]), float(r["qty"]), 0)
    return eng


def kinds(reports):
    return [(r.order_id, r.kind.name) for r in reports]


# ---- queue position -----------------------------------------------------------------------------

class TestQueue:
    def test_resting_order_fills_only_after_trades_exhaust_the_queue_ahead(self, engine):
        stream = events(row(TRADE_EVENT, SELL, 1.00, 4, 100), row(TRADE_EVENT, SELL, 1.00, 6, 200),
                        row(TRADE_EVENT, SELL, 1.00, 1, 300))
        # queue ahead 10: 4 + 6 only clears it, the third print is ours
        assert run(engine, stream, [submit(50, 1, BUY, 1.00, 2)]) == [(1, 1.00, 2.0, 300, True)]

    def test_depth_drop_caps_the_queue_ahead_under_risk_averse(self, engine):
        stream = events(row(DEPTH_EVENT, BUY, 1.00, 3, 100), row(TRADE_EVENT, SELL, 1.00, 4, 200))
        assert run(engine, stream, [submit(50, 1, BUY, 1.00, 1)]) == [(1, 1.00, 1.0, 200, True)]

    def test_depth_growth_does_not_push_us_back(self, engine):
        stream = events(row(DEPTH_EVENT, BUY, 1.00, 50, 100), row(TRADE_EVENT, SELL, 1.00, 11, 200))
        assert run(engine, stream, [submit(50, 1, BUY, 1.00, 1)]) == [(1, 1.00, 1.0, 200, True)]

    def test_probabilistic_model_splits_a_depth_drop_between_ahead_and_behind(self, engine):
        eng = online(engine, queue_model=("power", 1.0))
        eng.submit(1, "X", BUY, 1.00, 1, 0)  # rests behind 10
        eng.depth("X", BUY, 1.00, 6, 100)  # nobody behind us: the 4 cancelled were all ahead
        eng.depth("X", BUY, 1.00, 16, 200)  # 10 join behind
        eng.depth("X", BUY, 1.00, 11, 300)  # p(behind) = 10/16: ahead 6 - 0.375 * 5 = 4.125
        eng.advance(300)
        assert eng.order(1).queue_ahead == pytest.approx(4.125)
        eng.trade("X", SELL, 1.00, 5, 400)  # 0.875 beyond the queue rounds to a whole lot
        assert kinds(eng.advance(500)) == [(1, "FILL")]

    @pytest.mark.parametrize("model", [("power", 2.0), ("power2", 2.0), ("power3", 3.0), ("log",),
                                       ("log2",)])
    def test_every_probabilistic_model_advances_between_risk_averse_and_front(self, engine, model):
        eng = online(engine, queue_model=model)
        eng.submit(1, "X", BUY, 1.00, 1, 0)
        eng.depth("X", BUY, 1.00, 30, 100)  # 20 behind us
        eng.depth("X", BUY, 1.00, 20, 200)  # 10 cancelled somewhere
        eng.advance(200)
        assert 0.0 <= eng.order(1).queue_ahead < 10.0

    def test_trades_already_counted_are_not_counted_again_by_the_next_depth_row(self, engine):
        eng = online(engine, queue_model=("power", 1.0))
        eng.submit(1, "X", BUY, 1.00, 1, 0)
        eng.depth("X", BUY, 1.00, 30, 100)
        eng.trade("X", SELL, 1.00, 4, 200)  # ahead 10 -> 6
        eng.depth("X", BUY, 1.00, 26, 200)  # the print's own depth row: no cancellation
        eng.advance(300)
        assert eng.order(1).queue_ahead == pytest.approx(6.0)


# ---- fills ----------------------------------------------------------------------------------------

class TestFills:
    def test_a_print_through_our_price_fills_the_whole_order(self, engine):
        stream = events(row(TRADE_EVENT, SELL, 0.98, 1, 100))
        assert run(engine, stream, [submit(50, 1, BUY, 0.99, 3)]) == [(1, 0.99, 3.0, 100, True)]

    def test_the_opposite_best_moving_onto_our_price_fills_us(self, engine):
        stream = events(row(DEPTH_EVENT, SELL, 1.00, 5, 100), row(DEPTH_EVENT, BUY, 1.01, 5, 200))
        got = run(engine, stream, [submit(50, 1, BUY, 0.99, 1), submit(50, 2, SELL, 1.01, 1),
                                   submit(50, 3, BUY, 1.00, 1)])
        assert got == [(3, 1.00, 1.0, 100, True), (2, 1.01, 1.0, 200, True)]

    def test_a_marketable_limit_takes_whole_at_the_touch_without_partial_fills(self, engine):
        got = run(engine, events(), [submit(50, 1, BUY, 1.05, 50)])
        assert got == [(1, 1.01, 50.0, 50 + ENTRY, False)]

    def test_a_marketable_limit_walks_displayed_levels_with_partial_fills(self, engine):
        eng = online(engine, partial_fills=True)
        eng.submit(1, "X", BUY, 1.02, 35, 0)
        reports = eng.advance(100)
        assert [(r.kind.name, r.exec_px and round(r.exec_px, 2), r.exec_qty, r.leaves_qty)
                for r in reports] == [("ACK", None, 0.0, 35.0), ("FILL", 1.01, 10.0, 25.0),
                                      ("FILL", 1.02, 20.0, 5.0)]
        assert eng.order(1).status == OrderStatus.PARTIALLY_FILLED  # the rest rests at 1.02

    def test_partial_fills_take_exactly_the_excess_and_close_on_an_exact_size(self, engine):
        stream = events(row(TRADE_EVENT, SELL, 1.00, 12, 100), row(TRADE_EVENT, SELL, 1.00, 2, 200),
                        row(TRADE_EVENT, SELL, 1.00, 1, 300), row(TRADE_EVENT, SELL, 1.00, 9, 400))
        got = run(engine, stream, [submit(50, 1, BUY, 1.00, 5)], partial_fills=True)
        assert got == [(1, 1.00, 2.0, 100, True), (1, 1.00, 2.0, 200, True), (1, 1.00, 1.0, 300, True)]

    def test_an_exact_size_fill_closes_the_order_and_nothing_fills_it_again(self, engine):
        eng = online(engine, partial_fills=True)
        eng.submit(1, "X", BUY, 1.00, 3, 0)
        eng.trade("X", SELL, 1.00, 13, 100)
        eng.trade("X", SELL, 1.00, 5, 200)
        eng.trade("X", SELL, 0.99, 5, 300)
        fills = [r for r in eng.advance(1000) if r.kind == ReportKind.FILL]
        assert [(f.exec_qty, f.leaves_qty) for f in fills] == [(3.0, 0.0)]
        assert eng.order(1).status == OrderStatus.FILLED

    def test_partial_fills_then_a_sweep_fill_the_remainder_and_quantities_add_up(self, engine):
        eng = online(engine, partial_fills=True)
        eng.submit(1, "X", BUY, 1.00, 7, 0)
        eng.trade("X", SELL, 1.00, 13, 100)  # 3
        eng.trade("X", SELL, 0.99, 1, 200)  # through us: the other 4
        fills = [r for r in eng.advance(1000) if r.kind == ReportKind.FILL]
        assert [f.exec_qty for f in fills] == [3.0, 4.0]
        assert sum(f.exec_qty for f in fills) == 7.0 and fills[-1].leaves_qty == 0.0

    def test_market_order_takes_at_the_touch_and_expires_on_an_empty_side(self, engine):
        eng = online(engine)
        eng.submit(1, "X", SELL, 0.0, 4, 0, ord_type=MARKET)
        eng.clear("X", 20, side=BUY, px=0.01)
        eng.submit(2, "X", SELL, 0.0, 4, 30, ord_type=MARKET)
        reports = eng.advance(100)
        assert kinds(reports) == [(1, "ACK"), (1, "FILL"), (2, "EXPIRED")]
        assert reports[1].exec_px == pytest.approx(1.00) and not reports[1].maker


# ---- time in force --------------------------------------------------------------------------------

class TestTimeInForce:
    def test_post_only_that_would_cross_expires(self, engine):
        eng = online(engine)
        eng.submit(1, "X", BUY, 1.01, 1, 0, tif=GTX)
        eng.submit(2, "X", BUY, 1.00, 1, 0, tif=GTX)
        assert kinds(eng.advance(100)) == [(1, "EXPIRED"), (2, "ACK")]

    def test_ioc_that_cannot_trade_expires_and_its_remainder_expires(self, engine):
        eng = online(engine, partial_fills=True)
        eng.submit(1, "X", BUY, 1.00, 1, 0, tif=IOC)
        eng.submit(2, "X", BUY, 1.01, 15, 0, tif=IOC)
        reports = eng.advance(100)
        assert kinds(reports) == [(1, "EXPIRED"), (2, "ACK"), (2, "FILL"), (2, "EXPIRED")]
        assert reports[2].exec_qty == 10.0 and reports[3].leaves_qty == 5.0

    def test_a_market_fok_also_needs_the_whole_size_displayed(self, engine):
        eng = online(engine, partial_fills=True)
        eng.submit(1, "X", SELL, 0.0, 31, 0, tif=FOK, ord_type=MARKET)  # 30 bid in the book
        eng.submit(2, "X", SELL, 0.0, 25, 0, tif=FOK, ord_type=MARKET)
        assert kinds(eng.advance(100)) == [(1, "EXPIRED"), (2, "ACK"), (2, "FILL"), (2, "FILL")]

    def test_fok_fills_entirely_or_not_at_all(self, engine):
        eng = online(engine, partial_fills=True)
        eng.submit(1, "X", BUY, 1.02, 31, 0, tif=FOK)  # 30 displayed within 1.02
        eng.submit(2, "X", BUY, 1.02, 30, 0, tif=FOK)
        reports = eng.advance(100)
        assert kinds(reports) == [(1, "EXPIRED"), (2, "ACK"), (2, "FILL"), (2, "FILL")]
        assert sum(r.exec_qty for r in reports) == 30.0


# ---- latency and the clock ------------------------------------------------------------------------

class TestClock:
    def test_requests_arrive_after_entry_latency_and_reports_after_response_latency(self, engine):
        eng = online(engine)
        eng.submit(1, "X", BUY, 1.01, 1, 1000)
        assert eng.advance(1000 + ENTRY + RESPONSE - 1) == []
        (_ack, fill) = eng.advance(1000 + ENTRY + RESPONSE)
        assert (fill.exch_ts, fill.local_ts) == (1000 + ENTRY, 1000 + ENTRY + RESPONSE)

    def test_market_data_at_the_arrival_time_is_applied_before_the_order(self, engine):
        # the ask comes down to 1.00 exactly when our bid arrives: we take it
        stream = events(row(DEPTH_EVENT, SELL, 1.00, 5, 50 + ENTRY))
        assert run(engine, stream, [submit(50, 1, BUY, 1.00, 1)]) == [(1, 1.00, 1.0, 60, False)]

    def test_a_print_at_the_arrival_time_does_not_count_for_our_queue(self, engine):
        stream = events(row(TRADE_EVENT, SELL, 1.00, 10, 60), row(TRADE_EVENT, SELL, 1.00, 1, 61),
                        row(TRADE_EVENT, SELL, 1.00, 10, 62))
        assert run(engine, stream, [submit(50, 1, BUY, 1.00, 1)]) == [(1, 1.00, 1.0, 62, True)]

    def test_rows_without_the_exchange_flag_are_ignored(self, engine):
        stream = events(row(TRADE_EVENT, SELL, 0.90, 50, 100, flags=LOCAL_EVENT))
        assert run(engine, stream, [submit(50, 1, BUY, 1.00, 1)]) == []

    def test_depth_clear_empties_a_side_until_it_is_rebuilt(self, engine):
        # without the clear, the 1.02 bid would take the 1.01 offer on arrival
        stream = events(row(DEPTH_CLEAR_EVENT, SELL, 1.05, 0, 100),
                        row(DEPTH_EVENT, SELL, 1.03, 5, 200), row(TRADE_EVENT, SELL, 1.02, 1, 300))
        got = run(engine, stream, [submit(150, 1, BUY, 1.02, 1), submit(150, 2, BUY, 1.03, 1, tif=IOC)])
        assert got == [(1, 1.02, 1.0, 300, True)]
        eng = online(engine)
        eng.clear("X", 100, side=SELL, px=1.05)
        eng.advance(100)
        assert eng.touch("X").ask is None and eng.touch("X").bid == pytest.approx(1.00)

    def test_actions_are_sent_in_local_time_order(self, engine):
        stream = events(row(TRADE_EVENT, SELL, 0.98, 1, 500))
        got = run(engine, stream, [cancel(300, 1), submit(100, 1, BUY, 0.99, 1)])
        assert got == []  # the cancel (sent later) still cancels


# ---- cancel and modify ----------------------------------------------------------------------------

class TestCancelModify:
    def test_a_fill_before_the_cancel_arrives_wins_and_the_cancel_is_rejected(self, engine):
        eng = online(engine)
        eng.submit(1, "X", BUY, 0.99, 1, 0)
        eng.cancel(1, 100)  # arrives at 110
        eng.trade("X", SELL, 0.98, 1, 105)
        assert kinds(eng.advance(1000)) == [(1, "ACK"), (1, "FILL"), (1, "CANCEL_REJECTED")]

    def test_a_print_at_the_cancel_arrival_time_comes_first(self, engine):
        eng = online(engine)
        eng.submit(1, "X", BUY, 0.99, 1, 0)
        eng.cancel(1, 100)
        eng.trade("X", SELL, 0.98, 1, 100 + ENTRY)
        assert kinds(eng.advance(1000))[1:] == [(1, "FILL"), (1, "CANCEL_REJECTED")]

    def test_a_cancel_that_arrives_first_prevents_the_fill(self, engine):
        eng = online(engine)
        eng.submit(1, "X", BUY, 0.99, 3, 0)
        eng.cancel(1, 100)
        eng.trade("X", SELL, 0.98, 1, 100 + ENTRY + 1)
        reports = eng.advance(1000)
        assert kinds(reports) == [(1, "ACK"), (1, "CANCELED")] and reports[1].leaves_qty == 3.0

    def test_cancel_of_an_unknown_order_is_rejected(self, engine):
        eng = online(engine)
        eng.cancel(99, 0)
        (rej,) = eng.advance(100)
        assert rej.kind == ReportKind.CANCEL_REJECTED and rej.instrument is None

    def test_modify_down_keeps_the_queue_place_but_a_new_price_or_more_size_loses_it(self, engine):
        eng = online(engine)
        for oid in (1, 2, 3):
            eng.submit(oid, "X", BUY, 1.00, 5, 0)
        eng.depth("X", BUY, 1.00, 4, 20)  # everybody's queue ahead is now 4
        eng.depth("X", BUY, 1.00, 9, 25)  # 5 join behind us
        eng.modify(1, 1.00, 2, 30)
        eng.modify(2, 1.00, 6, 30)
        eng.modify(3, 0.99, 5, 30)
        eng.advance(100)
        assert [eng.order(i).queue_ahead for i in (1, 2, 3)] == [4.0, 9.0, 20.0]
        assert (eng.order(1).qty, eng.order(3).px) == (2.0, pytest.approx(0.99))

    def test_modify_to_a_marketable_price_takes(self, engine):
        eng = online(engine)
        eng.submit(1, "X", BUY, 1.00, 2, 0)
        eng.modify(1, 1.01, 2, 20)
        assert kinds(eng.advance(100)) == [(1, "ACK"), (1, "MODIFIED"), (1, "FILL")]

    def test_modify_below_the_executed_quantity_cancels_the_rest(self, engine):
        eng = online(engine, partial_fills=True)
        eng.submit(1, "X", BUY, 1.00, 5, 0)
        eng.trade("X", SELL, 1.00, 12, 20)  # 2 executed
        eng.modify(1, 1.00, 2, 30)
        assert kinds(eng.advance(100))[-1] == (1, "CANCELED")

    def test_a_submit_reusing_a_live_id_is_rejected_by_the_exchange(self, engine):
        acts = [submit(0, 1, BUY, 0.99, 1), submit(10, 1, BUY, 0.98, 1)]
        stream = events(row(TRADE_EVENT, SELL, 0.97, 1, 100))
        assert run(engine, stream, acts) == [(1, 0.99, 1.0, 100, True)]
