"""Multi-leg packages: the whole package at a net price against the synthetic NBBO, or nothing."""
import pytest

import fillsim
from fillsim import BUY, SELL, Leg, Touch, fill_package, synthetic_quote


def touch(bid, bid_qty, ask, ask_qty):
    return Touch(bid, bid_qty, ask, ask_qty)


CHAIN = {  # strike -> touch, calls and puts of one expiry
    "C95": touch(7.10, 40, 7.30, 25), "C100": touch(3.40, 20, 3.55, 30),
    "C105": touch(1.20, 30, 1.30, 12), "C110": touch(0.35, 50, 0.45, 60),
    "P90": touch(0.50, 40, 0.60, 22), "P95": touch(1.40, 18, 1.55, 35),
}

BULL_CALL = [Leg("C100", BUY, 1), Leg("C105", SELL, 1)]
BUTTERFLY = [Leg("C95", BUY, 1), Leg("C100", SELL, 2), Leg("C105", BUY, 1)]
IRON_CONDOR = [Leg("P90", BUY, 1), Leg("P95", SELL, 1), Leg("C105", SELL, 1), Leg("C110", BUY, 1)]


class TestVertical:
    def test_synthetic_quote_is_built_from_the_leg_touches(self):
        quote = synthetic_quote(BULL_CALL, CHAIN)
        assert quote.ask == pytest.approx(3.55 - 1.20)  # buy at the offer, sell at the bid
        assert quote.bid == pytest.approx(3.40 - 1.30)
        assert (quote.ask_size, quote.bid_size) == (30, 12)

    def test_fills_at_the_leg_touches_when_the_limit_reaches_the_synthetic_offer(self):
        fill = fill_package(BULL_CALL, limit=2.35, qty=10, touches=CHAIN)
        assert fill.qty == 10 and fill.net_px == pytest.approx(2.35)
        assert [(leg.instrument, leg.side, leg.px, leg.qty) for leg in fill.legs] == [
            ("C100", BUY, 3.55, 10), ("C105", SELL, 1.20, 10)]

    def test_nothing_fills_below_the_synthetic_offer(self):
        assert fill_package(BULL_CALL, limit=2.30, qty=10, touches=CHAIN) is None

    def test_quantity_is_capped_by_the_scarcest_leg_unless_all_or_none(self):
        assert fill_package(BULL_CALL, limit=2.50, qty=45, touches=CHAIN).qty == 30
        assert fill_package(BULL_CALL, limit=2.50, qty=45, touches=CHAIN, all_or_none=True) is None


class TestButterfly:
    def test_legs_fill_in_ratio_and_the_body_caps_the_size(self):
        # 1x C95 at 7.30, -2x C100 at 3.40, 1x C105 at 1.30: net 1.80 debit; body bid 20 / 2 = 10
        fill = fill_package(BUTTERFLY, limit=1.85, qty=25, touches=CHAIN)
        assert fill.net_px == pytest.approx(7.30 - 2 * 3.40 + 1.30)
        assert fill.qty == 10
        assert [leg.qty for leg in fill.legs] == [10, 20, 10]
        assert sum(leg.side * leg.qty for leg in fill.legs) == 0  # long wings, short body: flat

    def test_a_missing_quote_on_any_leg_means_no_fill(self):
        chain = {**CHAIN, "C100": touch(None, 0, 3.55, 30)}
        assert fill_package(BUTTERFLY, limit=5.0, qty=1, touches=chain) is None
        assert synthetic_quote(BUTTERFLY, chain).ask is None


class TestIronCondor:
    def test_a_credit_fills_when_the_synthetic_offer_is_at_least_that_credit(self):
        # sell the 95 put and 105 call at the bid, buy the wings at the offer: credit 1.55
        net = 0.60 - 1.40 - 1.20 + 0.45
        fill = fill_package(IRON_CONDOR, limit=-1.55, qty=5, touches=CHAIN)
        assert fill.net_px == pytest.approx(net) and net < 0
        assert fill_package(IRON_CONDOR, limit=-1.60, qty=5, touches=CHAIN) is None

    def test_the_strategy_bid_mirrors_the_offer(self):
        quote = synthetic_quote(IRON_CONDOR, CHAIN)
        assert quote.bid == pytest.approx(0.50 - 1.55 - 1.30 + 0.35)
        assert quote.bid < quote.ask


def test_packages_price_off_an_online_engine_books():
    eng = fillsim.OnlineEngine({"tick_size": 0.05})
    for inst, t in (("C100", CHAIN["C100"]), ("C105", CHAIN["C105"])):
        eng.depth(inst, BUY, t.bid, t.bid_qty, 0)
        eng.depth(inst, SELL, t.ask, t.ask_qty, 0)
    eng.advance(0)
    touches = {inst: eng.touch(inst) for inst in ("C100", "C105")}
    assert fill_package(BULL_CALL, limit=2.35, qty=3, touches=touches).qty == 3


@pytest.mark.parametrize("legs, message", [
    ([Leg("C100", BUY, 1)], "at least two legs"),
    ([Leg("C100", BUY, 1), Leg("C100", SELL, 1)], "same instrument"),
    ([Leg("C100", BUY, 2), Leg("C105", SELL, 4)], "lowest terms"),
])
def test_malformed_packages_are_refused(legs, message):
    with pytest.raises(ValueError, match=message):
        fill_package(legs, limit=1.0, qty=1, touches=CHAIN)


@pytest.mark.parametrize("side, ratio", [(0, 1), (BUY, 0), (BUY, 1.5)])
def test_malformed_legs_are_refused(side, ratio):
    with pytest.raises(ValueError):
        Leg("C100", side, ratio)
