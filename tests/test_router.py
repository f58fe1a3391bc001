"""Venue choice over HTTP: best price, then lowest take fee; never through the live NBBO; rests at the best
rebate; a package goes to one venue quoting every leg; ROUTE_DOWN when no venue can take the order."""
from __future__ import annotations

import pytest

from tests.conftest import ADMIN_TOKEN
from tests.test_risk import AAPL_200C, AAPL_210C, Clock, make_client, multi, single  # noqa: F401 (fixture)

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def book(**venues: tuple[float, float]) -> dict:
    """A series quoted only by ``venues`` (name=(bid, ask), size 50 each), with the NBBO derived from them."""
    quotes = {name: {"bid": bid, "bid_size": 50, "ask": ask, "ask_size": 50} for name, (bid, ask) in venues.items()}
    best_bid = max(venues, key=lambda n: venues[n][0])
    best_ask = min(venues, key=lambda n: venues[n][1])
    return {"bid": venues[best_bid][0], "bid_size": 50, "bid_venue": best_bid,
            "ask": venues[best_ask][1], "ask_size": 50, "ask_venue": best_ask, "venues": quotes}


def quoted(symbol_books: dict[str, dict], venues_down: list[str] | None = None) -> dict:
    return {"overrides": symbol_books, "venues_down": venues_down or []}


# fees (take / make): CBOE .47/0, C2 .50/-.41, ISE .50/-.25, PHLX .48/-.20, NOM .50/-.35, ARCA .50/-.32,
# MIAX .50/-.25, BOX .45/-.30
@pytest.mark.parametrize("venues, side, price, venue, fill", [
    # best price wins whatever the fee
    ({"CBOE": (1.10, 1.30), "ISE": (1.10, 1.25), "BOX": (1.10, 1.35)}, "BUY", 1.35, "ISE", 1.25),
    ({"CBOE": (1.10, 1.30), "ISE": (1.20, 1.30), "BOX": (1.05, 1.30)}, "SELL", 1.05, "ISE", 1.20),
    # at the same price the lowest take fee wins
    ({"ISE": (1.10, 1.25), "PHLX": (1.10, 1.25), "CBOE": (1.10, 1.30)}, "BUY", 1.30, "PHLX", 1.25),
    ({"ISE": (1.20, 1.30), "BOX": (1.20, 1.30), "CBOE": (1.20, 1.30)}, "SELL", 1.20, "BOX", 1.20),
    # equal price and fee: the faster venue (C2 160us before ISE 200us)
    ({"ISE": (1.10, 1.25), "C2": (1.10, 1.25)}, "BUY", 1.25, "C2", 1.25),
])
def test_marketable_order_goes_to_the_best_price_then_lowest_fee(make_client, venues, side, price, venue, fill):
    # Arrange
    client = make_client(snapshot=quoted({AAPL_200C: book(**venues)}))

    # Act
    r = client.post("/orders", json=single(side=side, price=price))

    # Assert
    order = r.get_json()
    assert r.status_code == 201, order
    assert (order["venue"], order["status"]) == (venue, "filled")
    assert [f["price"] for f in order["fills"]] == [pytest.approx(fill)]


@pytest.mark.parametrize("how", ["admin", "feed"])
def test_venue_down_with_the_best_price_is_skipped_for_the_next_best(make_client, how):
    # Arrange: ISE has the best offer but is down; the live NBBO is CBOE's 1.30
    venues = {"ISE": (1.10, 1.25), "CBOE": (1.10, 1.30), "BOX": (1.10, 1.35)}
    client = make_client(snapshot=quoted({AAPL_200C: book(**venues)}, ["ISE"] if how == "feed" else []))
    if how == "admin":
        assert client.post("/admin/venues/ISE", json={"status": "down"}, headers=ADMIN).status_code == 200

    # Act
    r = client.post("/orders", json=single(price=1.35))

    # Assert: routed to the best live venue, filled at the live NBO, never at BOX's worse 1.35
    order = r.get_json()
    assert order["venue"] == "CBOE"
    assert [f["price"] for f in order["fills"]] == [pytest.approx(1.30)]


def test_venue_marked_up_again_takes_orders_again(make_client):
    # Arrange
    client = make_client(snapshot=quoted({AAPL_200C: book(ISE=(1.10, 1.25), CBOE=(1.10, 1.30))}))
    client.post("/admin/venues/ISE", json={"status": "down"}, headers=ADMIN)

    # Act
    client.post("/admin/venues/ISE", json={"status": "up"}, headers=ADMIN)
    r = client.post("/orders", json=single(price=1.30))

    # Assert
    assert r.get_json()["venue"] == "ISE"


@pytest.mark.parametrize("venues, down, venue", [
    (None, [], "C2"),  # every venue quotes: C2's -0.41 rebate is the best
    (None, ["C2"], "NOM"),  # C2 down: NOM's -0.35
    ({"CBOE": (1.10, 1.30), "ARCA": (1.10, 1.30), "ISE": (1.10, 1.30)}, [], "ARCA"),  # only venues quoting
])
def test_resting_order_goes_to_the_best_maker_rebate(make_client, venues, down, venue):
    # Arrange
    books = {AAPL_200C: book(**venues)} if venues else {}
    client = make_client(snapshot=quoted(books, down))

    # Act: a bid of 1.00 crosses no venue
    r = client.post("/orders", json=single(price=1.00))

    # Assert
    order = r.get_json()
    assert (order["status"], order["venue"]) == ("working", venue)


def test_multi_leg_goes_to_the_one_venue_quoting_every_leg(make_client):
    # Arrange: leg 0 on CBOE and ISE, leg 1 on ISE and NOM: only ISE quotes both
    client = make_client(snapshot=quoted({AAPL_200C: book(CBOE=(25.10, 25.60), ISE=(25.00, 25.70)),
                                          AAPL_210C: book(ISE=(15.60, 16.00), NOM=(15.70, 16.00))}))

    # Act
    r = client.post("/orders/multi", json=multi(price=10.10))

    # Assert: filled at ISE as one package, net 25.70 - 15.60
    order = r.get_json()
    assert r.status_code == 201, order
    assert (order["venue"], order["status"]) == ("ISE", "filled")
    assert {f["venue"] for f in order["fills"]} == {"ISE"}
    assert order["avg_price"] == pytest.approx(10.10)


def test_multi_leg_takes_the_best_synthetic_price_across_venues(make_client):
    # Arrange: CBOE nets 25.60 - 15.50 = 10.10, ISE nets 25.70 - 15.70 = 10.00
    client = make_client(snapshot=quoted({AAPL_200C: book(CBOE=(25.10, 25.60), ISE=(25.00, 25.70)),
                                          AAPL_210C: book(CBOE=(15.50, 16.00), ISE=(15.70, 16.10))}))

    # Act
    r = client.post("/orders/multi", json=multi(price=10.10))

    # Assert
    order = r.get_json()
    assert order["venue"] == "ISE" and order["avg_price"] == pytest.approx(10.00)


def test_multi_leg_with_no_venue_quoting_every_leg_is_route_down(make_client):
    # Arrange
    client = make_client(snapshot=quoted({AAPL_200C: book(CBOE=(25.10, 25.60)), AAPL_210C: book(ISE=(15.60, 16.0))}))

    # Act
    r = client.post("/orders/multi", json=multi(price=10.00))

    # Assert
    assert r.status_code == 422
    assert r.get_json()["reason"] == "ROUTE_DOWN"
    assert "every leg" in r.get_json()["message"]


def test_every_venue_marked_down_by_admin_is_route_down(make_client):
    # Arrange
    client = make_client()
    for venue in ("CBOE", "C2", "ISE", "PHLX", "NOM", "ARCA", "MIAX", "BOX"):
        client.post(f"/admin/venues/{venue}", json={"status": "down"}, headers=ADMIN)

    # Act
    r = client.post("/orders", json=single())

    # Assert
    assert r.status_code == 422
    assert (r.get_json()["reason"], r.get_json()["details"][0]["field"]) == ("ROUTE_DOWN", "")
    assert "down: " in r.get_json()["message"]


def test_only_quoting_venue_down_is_route_down(make_client):
    # Arrange
    client = make_client(snapshot=quoted({AAPL_200C: book(CBOE=(1.10, 1.30))}, ["CBOE"]))

    # Act
    r = client.post("/orders", json=single(price=1.00))

    # Assert
    assert r.status_code == 422 and r.get_json()["reason"] == "ROUTE_DOWN"
