"""The feed's market: theo from GBM + skew + Black-Scholes, venue quotes on the tick grid, the NBBO."""
import math
from decimal import Decimal

import orjson
import pytest

from optsim.config import TICK_CLASSES, load_config
from optsim.market.feed import QuoteFeed
import numpy as np

from optsim.market.feed.quoting import Grid, Quotes, best_of, max_widths
from optsim.market.feedctl import FaultSet
from optsim.domain.occ import mpv, on_tick

TS = 1_735_828_200.0
NO_FAULTS = FaultSet()


def small_config(**feed):
    """Three underlyings, one per tick class, three expiries, 13 strikes: 234 series."""
    return load_config(overrides={
        "service": {"as_of": "2025-01-02"},
        "underlyings": {"SPY": {"spot": 575.0, "vol": 0.16, "tick_class": "penny_all", "strike_step": 5.0},
                        "AAPL": {"spot": 225.0, "vol": 0.25, "tick_class": "penny"},
                        "XYZ": {"spot": 40.0, "vol": 0.45, "tick_class": "nickel", "strike_step": 2.5}},
        "chain": {"weeklies": 1, "monthlies": 2, "strikes_per_side": 6},
        "feed": {"seed": 7, **feed}})


def run(market, ticks, faults=NO_FAULTS):
    for i in range(ticks):
        market.step(faults, TS + i)
    return orjson.loads(market.document(ticks, TS + ticks, faults))  # the quotes.json the feed would write


@pytest.fixture(scope="module")
def snap():
    market = QuoteFeed(small_config())
    return market, run(market, 12)


def each_series(doc):
    for symbol, q in doc["quotes"].items():
        yield symbol, q


# -- pricing ---------------------------------------------------------------------------------------
def test_chain_is_the_listed_chain(snap):
    market, doc = snap
    assert len(doc["quotes"]) == len(market) == 3 * 3 * 13 * 2
    assert set(doc["underlyings"]) == {"SPY", "AAPL", "XYZ"}


def test_call_minus_put_is_the_discounted_forward(snap):
    market, _ = snap
    by_key = {(s.contract.underlying, s.contract.expiry, s.strike, s.contract.right): s for s in market.series}
    for (root, expiry, strike, right), call in by_key.items():
        if right != "C":
            continue
        put = by_key[(root, expiry, strike, "P")]
        t = market.clock.years_to(market.clock.expiry_close(expiry))
        parity = market.walks[root].spot - strike * math.exp(-market.rate * t)
        assert call.theo - put.theo == pytest.approx(parity, abs=1e-6)


def test_theo_falls_with_strike_for_calls_and_rises_for_puts(snap):
    market, _ = snap
    for root in ("SPY", "AAPL", "XYZ"):
        for right, sign in (("C", -1), ("P", 1)):
            for expiry in {s.contract.expiry for s in market.series}:
                theos = [s.theo for s in sorted(market.series, key=lambda s: s.strike)
                         if s.contract.underlying == root and s.contract.right == right and s.contract.expiry == expiry]
                assert all(sign * (b - a) >= 0 for a, b in zip(theos, theos[1:]))


def test_vol_skew_puts_more_vol_under_the_money(snap):
    market, _ = snap
    aapl = sorted((s for s in market.series if s.contract.underlying == "AAPL" and s.contract.right == "P"
                   and s.contract.expiry == market.series[0].contract.expiry), key=lambda s: s.strike)
    assert aapl[0].iv > aapl[len(aapl) // 2].iv


def test_underlying_walk_is_small_and_seeded():
    a, b = QuoteFeed(small_config()), QuoteFeed(small_config(seed=8))
    run(a, 40), run(b, 40)
    assert a.spots != b.spots
    assert a.spots["SPY"] == pytest.approx(575.0, rel=0.01)


# -- quotes ----------------------------------------------------------------------------------------
def test_every_price_is_on_its_class_tick(snap):
    market, doc = snap
    classes = {s.symbol: TICK_CLASSES[s.contract.tick_class] for s in market.series}
    for symbol, q in each_series(doc):
        for venue in q["venues"].values():
            for price in (venue["bid"], venue["ask"]):
                p = Decimal(str(price))
                assert on_tick(p, mpv(classes[symbol], p)), (symbol, price)


def test_nickel_class_uses_dimes_above_three_dollars(snap):
    _, doc = snap
    prices = [Decimal(str(v["ask"])) for s, q in each_series(doc) if s.startswith("XYZ")
              for v in q["venues"].values() if v["ask"] >= 3]
    assert prices and all(p % Decimal("0.10") == 0 for p in prices)


def test_bid_below_ask_everywhere_without_the_drill(snap):
    _, doc = snap
    for symbol, q in each_series(doc):
        assert q["bid"] < q["ask"], symbol
        for venue in q["venues"].values():
            assert 0 <= venue["bid"] < venue["ask"]


def test_sizes_are_positive_exactly_where_there_is_a_bid(snap):
    _, doc = snap
    for _, q in each_series(doc):
        for venue in list(q["venues"].values()) + [q]:
            assert (venue["bid"] > 0) == (venue["bid_size"] > 0)
            assert venue["ask_size"] > 0


def test_nbbo_is_the_best_venue_price_with_the_largest_size_there(snap):
    _, doc = snap
    for symbol, q in each_series(doc):
        venues = q["venues"]
        bids = [v for v in venues.values() if v["bid_size"] > 0]
        if bids:
            best = max(v["bid"] for v in bids)
            assert q["bid"] == best
            assert q["bid_size"] == max(v["bid_size"] for v in bids if v["bid"] == best)
            assert venues[q["bid_venue"]]["bid"] == best and venues[q["bid_venue"]]["bid_size"] == q["bid_size"]
        else:
            assert (q["bid"], q["bid_size"], q["bid_venue"]) == (0, 0, None)
        best_ask = min(v["ask"] for v in venues.values())
        assert q["ask"] == best_ask and venues[q["ask_venue"]]["ask"] == best_ask


def test_widths_stay_within_the_classic_maximum(snap):
    _, doc = snap
    for symbol, q in each_series(doc):
        for venue in q["venues"].values():
            width = round((venue["ask"] - venue["bid"]) * 100)
            assert width <= max_widths(round(venue["bid"] * 100)), symbol


def test_far_out_of_the_money_is_nothing_bid_pennies_offered(snap):
    _, doc = snap
    far = [q for s, q in each_series(doc) if s.startswith("AAPL") and q["theo"] < 0.005]
    assert far and all(q["bid"] == 0 and q["ask"] <= 0.05 for q in far)


def test_quotes_straddle_theo(snap):
    _, doc = snap
    for _, q in each_series(doc):
        assert q["bid"] <= q["theo"] + 0.05 and q["ask"] >= q["theo"] - 0.05


def test_some_venues_skip_some_series_the_same_way_every_tick():
    market = QuoteFeed(small_config())
    first = {s: set(q["venues"]) for s, q in run(market, 1)["quotes"].items()}
    later = {s: set(q["venues"]) for s, q in run(market, 25)["quotes"].items()}
    assert first == later
    assert any(len(v) < 8 for v in first.values()) and all(v for v in first.values())


def test_requotes_only_series_whose_theo_moved_half_a_tick():
    market = QuoteFeed(small_config(refresh_s=1000.0, interval_s=5.0))
    run(market, 1)
    assert market.requotes == len(market)
    before = {s.symbol: s.quoted_theo for s in market.series}
    market.step(NO_FAULTS, TS + 1)
    assert 0 < market.requotes < len(market)
    for s in market.series:
        old_theo = before[s.symbol]
        grid = market.grid.rows(np.array([s.row]))
        half_tick = grid.tick(grid.down(np.array([s.theo])))[0] / 200
        moved = abs(s.theo - old_theo) >= half_tick
        refresh_due = (1 + s.refresh_phase) % market.refresh_ticks == 0  # the slow, staggered refresh
        requoted = s.quoted_tick == 1
        assert requoted == (moved or refresh_due), s.symbol
        assert s.quoted_theo == (s.theo if requoted else old_theo), s.symbol


def test_same_seed_same_market():
    a, b = run(QuoteFeed(small_config()), 10), run(QuoteFeed(small_config()), 10)
    c = run(QuoteFeed(small_config(seed=99)), 10)
    assert a == b
    assert a["quotes"] != c["quotes"]


# -- building blocks -------------------------------------------------------------------------------
@pytest.mark.parametrize("tick_class, price, down, up", [
    ("penny", 2.994, 299, 300), ("penny", 3.01, 300, 305), ("penny", 0.004, 0, 1),
    ("nickel", 2.97, 295, 300), ("nickel", 3.04, 300, 310), ("penny_all", 12.345, 1234, 1235),
    ("penny", 1.10, 110, 110),
])
def test_bids_round_down_and_asks_up_to_the_class_tick(tick_class, price, down, up):
    grid = Grid.of([TICK_CLASSES[tick_class]])
    assert (grid.down(np.array([price]))[0], grid.up(np.array([price]))[0]) == (down, up)


@pytest.mark.parametrize("bid, width", [(0, 25), (199, 25), (200, 40), (499, 40), (500, 50), (1000, 80),
                                        (1999, 80), (2000, 100), (50000, 100)])
def test_classic_maximum_widths(bid, width):
    assert max_widths(bid) == width


def test_nbbo_ties_on_price_go_to_the_larger_size_then_the_first_venue():
    # venues CBOE, ISE, BOX, MIAX; MIAX does not quote this series
    quotes = Quotes(bid=np.array([[100, 100, 0, 105]]), bid_size=np.array([[10, 30, 0, 99]]),
                    ask=np.array([[110, 110, 120, 100]]), ask_size=np.array([[50, 50, 9, 99]]),
                    quoted=np.array([[True, True, True, False]]))
    best = [int(side[0]) for side in best_of(quotes)]
    assert best == [100, 30, 1, 110, 50, 0]


def test_a_series_nobody_bids_has_no_bid_venue():
    quotes = Quotes(bid=np.array([[0, 0]]), bid_size=np.array([[0, 0]]), ask=np.array([[5, 4]]),
                    ask_size=np.array([[20, 7]]), quoted=np.array([[True, True]]))
    assert [int(side[0]) for side in best_of(quotes)] == [0, 0, -1, 4, 7, 1]


def test_expiring_series_are_worth_intrinsic_at_the_close():
    # Arrange: the as-of date is a monthly expiry and the clock starts two seconds before the close
    config = load_config(overrides={
        "service": {"as_of": "2025-01-17"}, "underlyings": {"AAPL": {"spot": 225.0}},
        "chain": {"weeklies": 0, "monthlies": 1, "strikes_per_side": 3},
        "feed": {"interval_s": 1.0, "session_open": "15:59:58"}})
    market = QuoteFeed(config)
    # Act
    run(market, 5)
    # Assert: the clock stopped at the close and every theo is intrinsic
    assert market.clock.now == market.clock.session_close
    spot = market.spots["AAPL"]
    for s in market.series:
        intrinsic = max(0.0, spot - s.strike if s.contract.right == "C" else s.strike - spot)
        assert s.theo == pytest.approx(intrinsic)
