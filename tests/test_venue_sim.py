"""Orders through the fillsim-backed venues: queue position, prints, partial fills, packages, cancels.

Only CBOE quotes the two AAPL series used here, so every order routes there and the test controls
exactly what that venue displays and prints, snapshot by snapshot.
"""
from __future__ import annotations

import time

import pytest

from tests.conftest import seed_multi, seed_single
from tests.snapshots import write_snapshot

C200, C210 = "AAPL  250117C00200000", "AAPL  250117C00210000"


def quote(bid, bid_size, ask, ask_size, venue="CBOE"):
    venue_quote = {"bid": bid, "bid_size": bid_size, "ask": ask, "ask_size": ask_size}
    return {"bid": bid, "bid_size": bid_size, "bid_venue": venue, "ask": ask, "ask_size": ask_size,
            "ask_venue": venue, "venues": {venue: venue_quote}}


class Market:
    """Writes successive snapshots in which CBOE alone quotes C200 and C210, and prints trades."""

    def __init__(self, config):
        self.config, self.seq, self.trade_seq, self.trades = config, 0, 0, []

    def show(self, c200, c210=(0.45, 30, 0.55, 30), prints=()):
        self.seq += 1
        for price, qty, aggressor in prints:
            self.trade_seq += 1
            self.trades.append({"trade_seq": self.trade_seq, "ts": time.time(), "symbol": C200, "venue": "CBOE",
                                "price": price, "qty": qty, "aggressor": aggressor})
        write_snapshot(self.config, seq=self.seq, trades=self.trades[-50:],
                       overrides={C200: quote(*c200), C210: quote(*c210)})


@pytest.fixture
def market(config, snapshot):
    m = Market(config)
    m.show((1.20, 50, 1.30, 40))
    return m


def poll(client, order_id):
    desk = client.application.extensions["desk"]
    desk.poll()
    return client.get(f"/orders/{order_id}").get_json()


def test_resting_order_joins_the_queue_behind_displayed_size(client, market):
    order = client.post("/orders", json=seed_single(price=1.20)).get_json()
    assert (order["status"], order["venue"], order["queue_ahead"]) == ("working", "CBOE", 50)


def test_prints_at_our_price_eat_the_queue_then_fill_the_excess(client, market):
    # Arrange: 50 ahead of our 10 at 1.20
    order_id = client.post("/orders", json=seed_single(price=1.20)).get_json()["order_id"]
    # Act: 30 trade at our price, then 25 more (20 ahead are exhausted, 5 reach us)
    market.show((1.20, 20, 1.30, 40), prints=[(1.20, 30, "SELL")])
    after_first = poll(client, order_id)
    market.show((1.20, 10, 1.30, 40), prints=[(1.20, 25, "SELL")])
    after_second = poll(client, order_id)
    # Assert
    assert (after_first["status"], after_first["queue_ahead"]) == ("working", 20)
    assert (after_second["status"], after_second["filled_qty"], after_second["leaves_qty"]) == ("partially_filled", 5, 5)
    assert after_second["fills"][0]["liquidity"] == "maker"
    assert after_second["fills"][0]["price"] == 1.20
    assert client.get("/api/summary").get_json()["orders"]["by_status"] == {"partially_filled": 1}


def test_offer_moving_through_our_bid_fills_us_in_full(client, market):
    order_id = client.post("/orders", json=seed_single(price=1.20)).get_json()["order_id"]
    market.show((1.10, 50, 1.19, 40))
    order = poll(client, order_id)
    assert (order["status"], order["filled_qty"], order["avg_price"]) == ("filled", 10, 1.20)


def test_marketable_order_larger_than_displayed_size_fills_what_is_shown_and_rests_the_rest(client, market):
    market.show((1.20, 50, 1.30, 6))
    order = client.post("/orders", json=seed_single(price=1.30, qty=10)).get_json()
    assert (order["status"], order["filled_qty"], order["leaves_qty"]) == ("partially_filled", 6, 4)
    assert order["fills"][0]["liquidity"] == "taker" and order["fills"][0]["price"] == 1.30
    assert order["fills"][0]["local_ts_ns"] > order["fills"][0]["exch_ts_ns"]  # the answer took a response latency


def test_ioc_remainder_expires_instead_of_resting(client, market):
    market.show((1.20, 50, 1.30, 6))
    order = client.post("/orders", json=seed_single(price=1.30, qty=10, time_in_force="IOC")).get_json()
    assert (order["status"], order["filled_qty"], order["leaves_qty"]) == ("expired", 6, 0)


def test_cancel_of_a_resting_order_takes_effect_and_frees_its_exposure(client, market):
    order_id = client.post("/orders", json=seed_single(price=1.20)).get_json()["order_id"]
    cancelled = client.delete(f"/orders/{order_id}")
    assert cancelled.status_code == 200
    assert cancelled.get_json()["status"] == "cancelled"
    assert client.application.extensions["desk"].working_count == 0
    assert client.delete(f"/orders/{order_id}").status_code == 409


def test_vertical_fills_as_a_package_when_the_synthetic_offer_reaches_its_net(client, market):
    # Arrange: synthetic offer = 1.30 - 0.45 = 0.85; the seed's 0.45 debit rests
    order_id = client.post("/orders/multi", json=seed_multi()).get_json()["order_id"]
    assert poll(client, order_id)["status"] == "working"
    # Act: the 200 call offer falls to 0.90, the 210 bid rises to 0.45 -> synthetic offer 0.45
    market.show((0.85, 50, 0.90, 40), c210=(0.45, 30, 0.55, 30))
    order = poll(client, order_id)
    # Assert: both legs, in ratio, at their touches; the package net is the limit
    assert (order["status"], order["filled_qty"]) == ("filled", 10)
    assert sorted((f["leg_no"], f["side"], f["price"], f["qty"]) for f in order["fills"]) == [
        (0, "BUY", 0.90, 10), (1, "SELL", 0.45, 10)]
    assert order["avg_price"] == pytest.approx(0.45)


def test_package_quantity_is_capped_by_the_scarcest_leg(client, market):
    body = seed_multi()
    body["price"] = 0.90
    market.show((1.20, 50, 1.30, 40), c210=(0.45, 4, 0.55, 30))  # only 4 bid on the short leg
    order = client.post("/orders/multi", json=body).get_json()
    assert (order["status"], order["filled_qty"], order["leaves_qty"]) == ("partially_filled", 4, 6)
    assert {f["qty"] for f in order["fills"]} == {4}


def test_health_reports_the_fill_engine_in_use(client):
    import fillsim
    check = client.get("/health").get_json()["checks"]["fillsim:engine"][0]
    assert check["observedValue"] == fillsim.ENGINE


def test_exposure_is_released_exactly_once_when_a_partly_filled_order_expires(client, market):
    desk = client.application.extensions["desk"]
    market.show((1.20, 50, 1.30, 6))
    client.post("/orders", json=seed_single(price=1.30, qty=10, time_in_force="IOC"))
    working = {k: v for k, v in desk.risk.exposure.working.items() if v}
    assert working == {}
    assert desk.risk.exposure.filled[("DEFAULT", C200)] == 6
