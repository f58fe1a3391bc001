"""fillsim.Backtest: the closed loop holds to replay, to its pure-Python twin, to its books."""
import math

import numpy as np
import pytest

import fillsim
from fillsim.synth import StreamSpec, synth_stream
from optsim.research.strategies.market_maker import market_maker

ENGINES = ["cython", "python"]
LATENCY = {"entry_latency_ns": 150_000, "response_latency_ns": 250_000}
CONFIGS = {
    "risk_averse": LATENCY,
    "power3_partial": LATENCY | {"queue_model": "power:3", "partial_fills": True},
    "log_jitter": LATENCY | {"queue_model": "log", "jitter": {"kind": "lognormal", "sigma": 0.5, "seed": 3}},
}


def _stream(n=8_000, seed=5, **spec):
    return synth_stream(StreamSpec(n_events=n, seed=seed, **spec))


def _asset(events, snapshot, config=LATENCY, **terms):
    return fillsim.Asset(events, snapshot=snapshot, tick_size=terms.pop("tick_size", 0.01),
                         config=config, **terms)


class Recorder:
    """Stands in for the run half's writer: keeps what it is given and checks the books."""

    def __init__(self):
        self.fills, self.steps = [], 0

    def record_fill(self, fill):
        self.fills.append(fill)

    def record_step(self, bt):
        self.steps += 1
        marks = sum(bt.asset(i).position * bt.asset(i).mid * bt.asset(i).multiplier
                    for i in range(bt.n_assets) if bt.asset(i).position)
        assert bt.equity == pytest.approx(bt.cash + marks, abs=1e-9)


def scripted(bt, log, asset=0, interval=700_000):
    """A strategy whose requests never depend on its fills (only on the clock and the book).

    Every request it sends is logged as an ACTION_DTYPE row, so replay can run the same schedule.
    """
    view = bt.asset(asset)
    tick = view.tick_size
    sent = []  # ids in send order, to cancel and modify by schedule rather than by state
    k = 0
    while bt.elapse(interval):
        k += 1
        if math.isnan(view.best_bid) or math.isnan(view.best_ask):
            continue
        if k % 3 == 0 and sent:
            oid = sent[-4] if len(sent) >= 4 else sent[0]
            if oid in bt.orders:
                bt.cancel(oid)
                log.append((bt.now, fillsim.CANCEL, oid, 0, 0.0, 0.0, 0, 0))
        if k % 5 == 0 and len(sent) >= 2 and sent[-2] in bt.orders:
            oid = sent[-2]
            px, qty = view.best_bid - tick * (k % 2), 2 + k % 3
            bt.modify(oid, px, qty)
            log.append((bt.now, fillsim.MODIFY, oid, 0, px, qty, 0, 0))
        tif = ("GTC", "GTX", "IOC", "FOK")[k % 4]
        for side, touch in ((fillsim.BUY, view.best_bid), (fillsim.SELL, view.best_ask)):
            px = touch - side * tick * (k % 3 - 1)  # behind, at and through the touch
            qty = 1 + k % 4
            if k % 11 == 0:
                oid = (view.buy if side == fillsim.BUY else view.sell)(None, qty, order_type="market")
                px, order_type, tif_code = bt.orders[oid].price, fillsim.MARKET, 0
            else:
                oid = (view.buy if side == fillsim.BUY else view.sell)(px, qty, tif=tif)
                order_type, tif_code = fillsim.LIMIT, {"GTC": 0, "IOC": 1, "FOK": 2, "GTX": 3}[tif]
            log.append((bt.now, fillsim.SUBMIT, oid, side, px, qty, tif_code, order_type))
            sent.append(oid)


def _keys(fills, tick):
    return sorted((int(f[0]), int(f[1]), int(f[2]), round(float(f[3]) / tick), float(f[4]),
                   bool(f[5])) for f in fills)


def _ours(bt, asset=0):
    return [(f.order_id, f.exch_ns, f.local_ns, f.price, f.qty, f.maker) for f in bt.fills
            if f.asset == asset]


def _replayed(events, snapshot, log, config, tick, engine):
    actions = np.array(log, dtype=fillsim.ACTION_DTYPE)
    fills = fillsim.replay(events, actions, dict(config, tick_size=tick), snapshot, engine=engine)
    return [(r["order_id"], r["exch_ts"], r["local_ts"], r["exec_px"], r["exec_qty"], r["maker"])
            for r in fills]


# ---- (a) the loop gives replay's fills for the schedule it sent --------------------------------

@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_a_strategy_blind_to_its_fills_gets_exactly_replays_fills(engine, config):
    events, snapshot, _ = _stream(8_000 if engine == "cython" else 3_000)
    cfg = CONFIGS[config]
    bt = fillsim.Backtest(_asset(events, snapshot, cfg), engine=engine)
    log = []
    scripted(bt, log)
    assert len(log) > 100 and len(bt.fills) > 20  # the schedule really traded
    ours = _keys(_ours(bt), 0.01)
    assert ours == _keys(_replayed(events, snapshot, log, cfg, 0.01, engine), 0.01)
    kinds = {row[1] for row in log}
    assert kinds == {fillsim.SUBMIT, fillsim.CANCEL, fillsim.MODIFY}


# ---- the strategy's view is the feed as of its local time --------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
def test_the_book_a_strategy_sees_is_the_feed_as_of_now(engine):
    events, snapshot, touches = _stream(4_000)
    bt = fillsim.Backtest(_asset(events, snapshot), engine=engine)
    local_ts = events["local_ts"]
    checked = 0
    while bt.elapse(333_000):
        row = np.searchsorted(local_ts, bt.now, side="right") - 1
        if row >= 0:
            assert (bt.best_bid_tick, bt.best_ask_tick) == tuple(touches[row])
            assert bt.best_bid == pytest.approx(touches[row][0] * 0.01)
            checked += 1
    assert checked > 100
    assert bt.now >= local_ts[-1]


def test_elapse_starts_at_the_first_row_and_ends_with_the_data():
    events, snapshot, _ = _stream(500)
    bt = fillsim.Backtest(_asset(events, snapshot))
    first = min(events["exch_ts"][0], events["local_ts"][0])
    assert bt.now == first
    assert bt.elapse(1_000) and bt.now == first + 1_000
    while bt.elapse(10_000_000):
        pass
    assert bt.elapse(1) is False and bt.elapse(0) is False


# ---- (c) the C backtester equals its pure-Python twin ------------------------------------------

@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_c_backtester_equals_the_pure_python_twin_on_a_fill_driven_strategy(config):
    events, snapshot, _ = _stream(4_000, seed=9)
    runs = {}
    for engine in ENGINES:
        rec = Recorder()
        bt = fillsim.Backtest(_asset(events, snapshot, CONFIGS[config], multiplier=100,
                                     maker_fee=-0.25, taker_fee=0.65), engine=engine, recorder=rec)
        market_maker(bt, interval_ns=500_000, qty=2, inside=1, skew=0.3, max_position=6)
        runs[engine] = (bt.fills, rec.fills, rec.steps, bt.position, bt.cash, bt.fees, bt.equity,
                        {i: (o.status, o.leaves, o.filled) for i, o in bt.orders.items()})
    assert runs["cython"] == runs["python"]
    assert len(runs["cython"][0]) > 30


# ---- (d) accounting -----------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
def test_accounting_identities_hold_to_the_cent(engine):
    events, snapshot, _ = _stream(6_000 if engine == "cython" else 3_000, seed=2)
    rec = Recorder()
    bt = fillsim.Backtest(_asset(events, snapshot, CONFIGS["power3_partial"], multiplier=100,
                                 maker_fee=-0.20, taker_fee=0.50), recorder=rec, engine=engine)
    log = []
    scripted(bt, log)  # takes and makes liquidity, partial fills on
    fills = bt.fills
    assert rec.fills == fills and rec.steps == bt.decisions
    assert {f.maker for f in fills} == {True, False}
    assert bt.position == sum(f.side * f.qty for f in fills)
    assert bt.volume == sum(f.qty for f in fills)
    for f in fills:
        assert f.fee == f.qty * (-0.20 if f.maker else 0.50)
        assert round(f.price / 0.01) * 0.01 == pytest.approx(f.price, abs=1e-12)
    assert bt.fees == pytest.approx(sum(f.fee for f in fills), abs=1e-9)
    flows = -sum(f.side * f.price * f.qty * 100 for f in fills) - sum(f.fee for f in fills)
    assert abs(bt.cash - flows) < 0.005
    assert abs(bt.equity - (bt.cash + bt.position * bt.mid * 100)) < 0.005
    # an order's own tally agrees with its fills
    for oid, o in bt.orders.items():
        mine = [f for f in fills if f.order_id == oid]
        assert o.filled == sum(f.qty for f in mine)


def test_equity_marks_the_position_at_mid_times_the_multiplier():
    events, snapshot, _ = _stream(3_000)
    bt = fillsim.Backtest(_asset(events, snapshot, multiplier=100, taker_fee=1.0))
    bt.elapse(1_000_000)
    oid = bt.buy(bt.best_ask + 0.05, 3, tif="IOC")  # whole at the touch (no partial fills)
    while oid in bt.orders and bt.orders[oid].live:
        bt.elapse(100_000)
    [fill] = bt.fills
    assert (fill.qty, fill.maker, fill.fee) == (3.0, False, 3.0)
    assert bt.cash == pytest.approx(-fill.price * 3 * 100 - 3.0)
    assert bt.equity == pytest.approx(bt.cash + 3 * bt.mid * 100)
    assert bt.orders[oid].avg_price == fill.price


# ---- (e) several assets --------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
def test_several_assets_trade_independently_each_as_replay_says(engine):
    n = 5_000 if engine == "cython" else 2_000
    ev0, snap0, _ = _stream(n, seed=21)
    ev1, snap1, _ = _stream(n, seed=22, tick_size=0.05, feed_latency_ns=80_000)
    cfg1 = {"entry_latency_ns": 400_000, "response_latency_ns": 90_000, "queue_model": "power:2"}
    assets = [_asset(ev0, snap0, LATENCY, multiplier=100, maker_fee=-0.1, name="opt"),
              _asset(ev1, snap1, cfg1, tick_size=0.05, lot_size=1, multiplier=1, taker_fee=0.01,
                     name="und")]
    bt = fillsim.Backtest(assets, engine=engine)
    log0, log1 = [], []

    def both():
        # two scripted strategies interleaved: each decision runs one of them
        view0, view1 = bt.asset(0), bt.asset(1)
        assert (view0.name, view1.name, view1.tick_size) == ("opt", "und", 0.05)
        k = 0
        while bt.elapse(600_000):
            k += 1
            for view, log, tick in ((view0, log0, 0.01), (view1, log1, 0.05)):
                if math.isnan(view.best_bid):
                    continue
                px = view.best_bid + tick * (k % 2)
                oid = view.buy(px, 1, tif="GTC" if k % 3 else "IOC")
                log.append((bt.now, fillsim.SUBMIT, oid, 1, px, 1, 0 if k % 3 else 1, 0))
                oid = bt.sell(view.best_ask - tick * (k % 2), 1, asset=view.index)
                log.append((bt.now, fillsim.SUBMIT, oid, -1, view.best_ask - tick * (k % 2), 1, 0, 0))
                if k % 4 == 0:
                    view.cancel_all()
                    log.extend((bt.now, fillsim.CANCEL, o.id, 0, 0.0, 0.0, 0, 0)
                               for o in view.orders.values() if o.pending == "cancel")

    both()
    for asset, events, snap, log, cfg, tick in ((0, ev0, snap0, log0, LATENCY, 0.01),
                                                (1, ev1, snap1, log1, cfg1, 0.05)):
        ours = _ours(bt, asset)
        assert len(ours) > 20
        assert _keys(ours, tick) == _keys(_replayed(events, snap, log, cfg, tick, engine), tick)
        view = bt.asset(asset)
        mine = [f for f in bt.fills if f.asset == asset]
        assert view.position == sum(f.side * f.qty for f in mine)
    assert bt.cash == pytest.approx(bt.asset(0).cash + bt.asset(1).cash)
    assert bt.equity == pytest.approx(bt.asset(0).equity + bt.asset(1).equity)
    local = [f.local_ns for f in bt.fills]
    assert local == sorted(local)  # fills reach the strategy in local-time order across assets


# ---- orders, races and memory ---------------------------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
def test_orders_show_status_queue_and_drop_once_seen_finished(engine):
    events, snapshot, _ = _stream(3_000)
    bt = fillsim.Backtest(_asset(events, snapshot), engine=engine)
    bt.elapse(2_000_000)
    oid = bt.buy(bt.best_bid - 0.05, 2, tif="GTX")
    o = bt.orders[oid]
    assert (o.status, o.pending, o.price, o.qty, o.leaves, o.filled) == (
        fillsim.OrderStatus.PENDING, "new", round(bt.best_bid - 0.05, 2), 2.0, 2.0, 0.0)
    assert not o.cancellable and math.isnan(o.avg_price)
    bt.elapse(1_000_000)
    assert o.status == fillsim.OrderStatus.NEW and o.pending is None and o.cancellable
    assert o.queue_ahead > 0
    target = bt.best_bid_tick - 10
    bt.modify(oid, target * 0.01, 3)
    assert o.pending == "modify"
    bt.elapse(1_000_000)
    assert (o.price_tick, o.price, o.qty, o.leaves, o.pending) == (target, target / 100, 3.0, 3.0, None)
    assert bt.cancel_all() == 1 and o.pending == "cancel"
    assert bt.cancel_all() == 0  # a cancel is already on its way
    bt.elapse(1_000_000)
    assert o.status == fillsim.OrderStatus.CANCELED and oid in bt.orders
    bt.elapse(1)
    assert oid not in bt.orders


def test_finished_order_slots_are_reused_so_memory_stays_flat():
    events, snapshot, _ = _stream(4_000)
    bt = fillsim.Backtest(_asset(events, snapshot), engine="python", keep_fills=False,
                          recorder=Recorder())
    market_maker(bt, interval_ns=200_000, max_position=3)
    core = bt._legs[0].core
    assert bt.fills == [] and bt.decisions > 300
    assert len(core.orders) < 20 < bt._next_id  # hundreds of orders went through a few slots
    assert len(bt.orders) < 10  # finished orders leave the strategy's view too


# ---- (f) bad arguments ----------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("call, field", [
    (lambda bt: bt.buy(bt.best_bid + 0.005, 1), "price"),
    (lambda bt: bt.buy(float("nan"), 1), "price"),
    (lambda bt: bt.buy("20.00", 1), "price"),
    (lambda bt: bt.sell(bt.best_ask, 0), "qty"),
    (lambda bt: bt.sell(bt.best_ask, -2), "qty"),
    (lambda bt: bt.sell(bt.best_ask, 1.5), "qty"),
    (lambda bt: bt.buy(bt.best_bid, 1, tif="DAY"), "tif"),
    (lambda bt: bt.buy(bt.best_bid, 1, order_type="stop"), "order_type"),
    (lambda bt: bt.buy(bt.best_bid, 1, asset=1), "asset"),
    (lambda bt: bt.asset(-1), "asset"),
    (lambda bt: bt.cancel(999), "order_id"),
    (lambda bt: bt.modify(12345, 20.0, 1), "order_id"),
    (lambda bt: bt.modify(bt.buy(bt.best_bid, 1), 20.001, 1), "price"),
    (lambda bt: bt.elapse(-5), "ns"),
    (lambda bt: bt.elapse(1.5), "ns"),
    (lambda bt: bt.depth("middle"), "side"),
    (lambda bt: bt.depth("bid", 0), "levels"),
])
def test_bad_arguments_raise_a_value_error_naming_the_argument(engine, call, field):
    events, snapshot, _ = _stream(500)
    bt = fillsim.Backtest(_asset(events, snapshot), engine=engine)
    bt.elapse(1_000_000)
    with pytest.raises(ValueError, match=rf"\b{field}\b"):
        call(bt)


@pytest.mark.parametrize("kwargs, field", [
    ({"multiplier": 0}, "multiplier"),
    ({"maker_fee": float("inf")}, "maker_fee"),
    ({"tick_size": -0.01}, "tick_size"),
    ({"lot_size": 0}, "lot_size"),
])
def test_bad_asset_terms_are_refused(kwargs, field):
    events, snapshot, _ = _stream(200)
    with pytest.raises(ValueError, match=field):
        fillsim.Asset(events, snapshot=snapshot, **({"tick_size": 0.01} | kwargs))


def test_bad_streams_and_recorders_are_refused():
    events, snapshot, _ = _stream(200)
    shuffled = events[::-1].copy()
    with pytest.raises(ValueError, match="exch_ts"):
        fillsim.Asset(shuffled, tick_size=0.01)
    with pytest.raises(ValueError, match="events"):
        fillsim.Asset(np.zeros(3), tick_size=0.01)
    with pytest.raises(ValueError, match="recorder"):
        fillsim.Backtest(fillsim.Asset(events, tick_size=0.01), recorder=object())
    with pytest.raises(ValueError, match="assets"):
        fillsim.Backtest([])
    broken = events.copy()
    broken["px"][100] = np.nan
    bt = fillsim.Backtest(fillsim.Asset(broken, tick_size=0.01))
    with pytest.raises(ValueError, match="event row 100"):
        while bt.elapse(10_000_000):
            pass


@pytest.mark.parametrize("engine", ENGINES)
def test_depth_lists_the_local_book_best_first(engine):
    events, snapshot, touches = _stream(2_000)
    bt = fillsim.Backtest(_asset(events, snapshot), engine=engine)
    bt.elapse(3_000_000)
    bids, asks = bt.depth("bid", 3), bt.depth(-1, 3)
    assert len(bids) == 3 and len(asks) == 3
    assert bids[0] == (bt.best_bid, bt.bid_qty) and asks[0] == (bt.best_ask, bt.ask_qty)
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert [p for p, _ in asks] == sorted(p for p, _ in asks)


# ---- the end of data ends the loop, whatever is in flight ----------------------------------------

def touch_quoter(bt, log, interval, limit):
    """Re-quotes the touch every ``interval`` (with an IOC through it every third decision),
    logging each request; fails rather than loop past ``limit`` decisions."""
    k = 0
    while bt.elapse(interval):
        k += 1
        assert k < limit, "elapse kept returning True after the end of data"
        for o in list(bt.orders.values()):
            if o.live and o.pending != "cancel":
                bt.cancel(o.id)
                log.append((bt.now, fillsim.CANCEL, o.id, 0, 0.0, 0.0, 0, 0))
        if math.isnan(bt.best_bid) or math.isnan(bt.best_ask):
            continue
        quotes = [(fillsim.BUY, bt.best_bid, "GTX"), (fillsim.SELL, bt.best_ask, "GTX")]
        if k % 3 == 0:
            quotes.append((fillsim.BUY, bt.best_ask, "IOC"))
        for side, px, tif in quotes:
            oid = (bt.buy if side == fillsim.BUY else bt.sell)(px, 1, tif=tif)
            log.append((bt.now, fillsim.SUBMIT, oid, side, px, 1.0, 3 if tif == "GTX" else 1, 0))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("entry_ns", [1_500_000, 1_000_000_000], ids=["latency>interval", "latency>>span"])
@pytest.mark.parametrize("engine", ENGINES)
def test_elapse_ends_with_the_data_when_requests_outlive_the_decision_interval(engine, entry_ns):
    # a request sent before the data ended is answered; one sent after it never is (and keeps
    # nothing alive), so a strategy quoting every interval cannot keep elapse returning True
    events, snapshot, _ = _stream(6_000 if engine == "cython" else 3_000, seed=7)
    interval, response_ns = 1_000_000, 200_000
    cfg = {"entry_latency_ns": entry_ns, "response_latency_ns": response_ns}
    bt = fillsim.Backtest(_asset(events, snapshot, cfg), engine=engine)
    start = bt.now
    ev = events["ev"]
    last_row = int(max(events["exch_ts"][(ev & fillsim.EXCH_EVENT) != 0].max(),
                       events["local_ts"][(ev & fillsim.LOCAL_EVENT) != 0].max()))
    ended_at = start + -(-(last_row - start) // interval) * interval  # the elapse applying the last rows
    last_arrival = ended_at - interval + entry_ns  # of the requests sent before that elapse
    log = []
    touch_quoter(bt, log, interval, limit=(last_arrival + response_ns - start) // interval + 10)

    # the last answer (to the last request sent before the end) reaches us one response later
    assert bt.decisions == -(-(last_arrival + response_ns - start) // interval)
    assert bt.now - interval < last_arrival + response_ns <= bt.now
    assert bt.elapse(interval) is False and bt.decisions == -(-(last_arrival + response_ns - start) // interval)
    before = [row for row in log if row[0] < ended_at]
    after = [row for row in log if row[0] >= ended_at]
    assert after and len(before) > 100  # it did quote through the stream and past its end
    sent_after = {row[2] for row in after if row[1] == fillsim.SUBMIT}
    assert sent_after and all(bt.orders[i].status == fillsim.OrderStatus.PENDING for i in sent_after)
    # every request sent before the end is answered as replay answers it
    ours = _keys(_ours(bt), 0.01)
    assert ours == _keys(_replayed(events, snapshot, before, cfg, 0.01, engine), 0.01)
    assert bt.position == sum(f.side * f.qty for f in bt.fills)
    if entry_ns < interval * 10:
        assert len(ours) > 10  # the quotes really traded
