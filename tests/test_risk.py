"""Every pre-trade risk check firing over HTTP: reason code, status, field; stored, listed and counted.

Each test builds its own app with small limits (``load_config(overrides=...)``), a snapshot written
by ``tests.snapshots`` and a frozen clock, so quote age, the throttle and the duplicate window are exact.
"""
from __future__ import annotations

import datetime as dt

import pytest
from prometheus_client.parser import text_string_to_metric_families

from optsim.config import load_config
from options_service import create_app
from tests.conftest import ADMIN_TOKEN, AS_OF, seed_multi, seed_single
from tests.snapshots import write_snapshot

NOW = dt.datetime(2025, 1, 2, 15, 0, tzinfo=dt.timezone.utc).timestamp()  # 10:00 in New York
AAPL_200C = "AAPL  250117C00200000"
AAPL_210C = "AAPL  250117C00210000"
ALL_VENUES = ["CBOE", "C2", "ISE", "PHLX", "NOM", "ARCA", "MIAX", "BOX"]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = NOW):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def make_client(tmp_path):
    """make_client(risk={...}, snapshot={...} | None, clock=Clock(), as_of=...) -> Flask test client."""
    apps = []

    def make(risk: dict | None = None, snapshot: dict | None = None, clock: Clock | None = None,
             as_of: str = AS_OF, no_snapshot: bool = False):
        clock = clock or Clock()
        cfg = load_config(overrides={"service": {"data_dir": str(tmp_path / f"app{len(apps)}"), "as_of": as_of,
                                                 "admin_token": ADMIN_TOKEN}, "risk": risk or {}})
        cfg.data_dir.mkdir(parents=True)
        if not no_snapshot:
            write_snapshot(cfg, **({"ts": clock.now} | (snapshot or {})))
        app = create_app(cfg, clock=clock)
        apps.append(app)
        client = app.test_client()
        client.clock = clock
        return client

    yield make
    for app in apps:
        app.extensions["desk"].close()


def single(**changes) -> dict:
    return seed_single(**changes)


def multi(leg: int | None = None, **changes) -> dict:
    body = seed_multi()
    (body if leg is None else body["legs"][leg]).update(changes)
    return body


def by_symbol(body: dict, symbol: str, leg: int | None = None) -> dict:
    """``body`` with a leg's series given as one OCC symbol instead of its four fields."""
    target = body if leg is None else body["legs"][leg]
    for name in ("underlying", "expiry", "strike", "option_type"):
        target.pop(name)
    target["symbol"] = symbol
    return body


def reject_count(client, reason: str) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "optsim_order_rejects_total" and sample.labels.get("reason") == reason:
                return sample.value
    return 0.0


def halt(client):
    assert client.post("/admin/kill-switch", json={"state": "HALTED"}, headers=ADMIN).status_code == 200


def reducing(client):
    assert client.post("/admin/kill-switch", json={"state": "REDUCING"}, headers=ADMIN).status_code == 200


def two_orders(client):
    for price in (1.10, 1.15):
        assert client.post("/orders", json=single(price=price)).status_code == 201


def one_order(client):
    assert client.post("/orders", json=single()).status_code == 201


def crossed(symbol: str) -> dict:
    return {"overrides": {symbol: {"bid": 25.70, "ask": 25.65}}}


CASES = [
    # id, risk overrides, snapshot kwargs (None = no quotes.json), setup, path, body, reason, status, field
    ("halted", {}, {}, halt, "/orders", single(), "HALTED", 403, ""),
    ("halted-multi", {}, {}, halt, "/orders/multi", multi(), "HALTED", 403, ""),
    ("reduce-only-opening", {}, {}, reducing, "/orders", single(), "REDUCE_ONLY", 403, ""),
    ("throttled", {"max_orders_per_s": 2}, {}, two_orders, "/orders", single(price=1.20), "THROTTLED", 429,
     "account"),
    ("restricted", {"restricted": ["TSLA"]}, {}, None, "/orders", single(underlying="TSLA", strike=250, price=30.0),
     "RESTRICTED", 422, "underlying"),
    ("restricted-multi", {"restricted": ["AAPL"]}, {}, None, "/orders/multi", multi(), "RESTRICTED", 422,
     "legs.0.underlying"),
    ("expired", {}, {}, None, "/orders", single(expiry="2024-12-20"), "EXPIRED", 422, "expiry"),
    ("expired-leg", {}, {}, None, "/orders/multi", dict(multi(1, expiry="2024-12-20"), strategy_type="custom"),
     "EXPIRED", 422, "legs.1.expiry"),
    ("not-listed-strike", {}, {}, None, "/orders", single(strike=201), "NOT_LISTED", 422, "strike"),
    ("not-listed-expiry", {}, {}, None, "/orders", single(expiry="2025-01-16"), "NOT_LISTED", 422, "expiry"),
    ("not-listed-underlying", {}, {}, None, "/orders", single(underlying="IBM"), "NOT_LISTED", 422, "underlying"),
    ("not-listed-leg", {}, {}, None, "/orders/multi", multi(1, strike=216), "NOT_LISTED", 422, "legs.1.strike"),
    # a series given as one OCC symbol is named as the symbol, not as a field the order never sent
    ("not-listed-symbol", {}, {}, None, "/orders", by_symbol(single(), "AAPL  250117C00201000"), "NOT_LISTED", 422,
     "symbol"),
    ("not-listed-leg-symbol", {}, {}, None, "/orders/multi", by_symbol(multi(), "AAPL  250117C00216000", leg=1),
     "NOT_LISTED", 422, "legs.1.symbol"),
    ("expired-symbol", {}, {}, None, "/orders", by_symbol(single(), "AAPL  241220C00200000"), "EXPIRED", 422, "symbol"),
    ("restricted-symbol", {"restricted": ["AAPL"]}, {}, None, "/orders", by_symbol(single(), "AAPL  250117C00200000"),
     "RESTRICTED", 422, "symbol"),
    ("bad-tick-single-penny-above-3", {}, {}, None, "/orders", single(price=25.12), "BAD_TICK", 422, "price"),
    ("bad-tick-single-sub-penny", {}, {}, None, "/orders", single(price=1.255), "BAD_TICK", 422, "price"),
    ("bad-tick-complex-net", {}, {}, None, "/orders/multi", multi(price=0.455), "BAD_TICK", 422, "price"),
    ("bad-tick-complex-leg", {}, {}, None, "/orders/multi", multi(0, price=25.12), "BAD_TICK", 422,
     "legs.0.price"),
    ("qty-limit", {"max_contracts": 5}, {}, None, "/orders", single(), "QTY_LIMIT", 422, "qty"),
    ("qty-limit-leg", {"max_contracts": 5}, {}, None, "/orders/multi", multi(), "QTY_LIMIT", 422, "legs.0.qty"),
    ("notional-limit", {"max_notional": 1000}, {}, None, "/orders", single(), "NOTIONAL_LIMIT", 422, "qty"),
    ("notional-limit-multi", {"max_notional": 400}, {}, None, "/orders/multi", multi(), "NOTIONAL_LIMIT", 422,
     "qty"),
    ("no-reference-no-snapshot", {}, None, None, "/orders", single(), "NO_REFERENCE", 422, ""),
    ("no-reference-stale", {"quote_max_age_s": 5}, {"ts": NOW - 60}, None, "/orders", single(), "NO_REFERENCE",
     422, ""),
    ("no-reference-crossed", {}, crossed(AAPL_200C), None, "/orders", single(), "NO_REFERENCE", 422, "strike"),
    ("no-reference-locked-leg", {}, {"overrides": {AAPL_210C: {"bid": 16.0, "ask": 16.0}}}, None, "/orders/multi",
     multi(), "NO_REFERENCE", 422, "legs.1.strike"),
    ("no-reference-unquoted", {}, {"overrides": {AAPL_200C: {"bid": 0, "bid_size": 0, "ask": 0, "ask_size": 0}}},
     None, "/orders", single(), "NO_REFERENCE", 422, "strike"),
    ("collar-buy-single", {}, {}, None, "/orders", single(price=38.50), "PRICE_COLLAR", 422, "price"),
    ("collar-sell-single", {}, {}, None, "/orders", single(side="SELL", price=12.50), "PRICE_COLLAR", 422, "price"),
    ("collar-multi-synthetic", {}, {}, None, "/orders/multi", multi(price=15.10), "PRICE_COLLAR", 422, "price"),
    ("duplicate-within-1s", {}, {}, one_order, "/orders", single(), "DUPLICATE", 422, ""),
    ("credit-limit", {"credit_limit": 2000}, {}, one_order, "/orders", single(price=1.30), "CREDIT_LIMIT", 422,
     "account"),
    ("position-limit", {"position_limit": 15}, {}, one_order, "/orders", single(price=1.30), "POSITION_LIMIT", 422,
     "qty"),
    ("position-limit-one-order", {"position_limit": 5}, {}, None, "/orders", single(), "POSITION_LIMIT", 422, "qty"),
    ("greeks-delta", {"delta_limit": 500}, {}, None, "/orders", single(), "GREEKS_LIMIT", 422, "qty"),
    ("greeks-vega", {"vega_limit": 10}, {}, None, "/orders", single(), "GREEKS_LIMIT", 422, "qty"),
    ("greeks-portfolio-delta", {"portfolio_delta_limit": 10_000}, {}, None, "/orders", single(), "GREEKS_LIMIT",
     422, "qty"),
    ("route-down-all-venues", {}, {"venues_down": ALL_VENUES}, None, "/orders", single(), "ROUTE_DOWN", 422, ""),
    ("route-down-multi", {}, {"venues_down": ALL_VENUES}, None, "/orders/multi", multi(), "ROUTE_DOWN", 422, ""),
]


@pytest.mark.parametrize("risk, snapshot, setup, path, body, reason, status, field",
                         [pytest.param(*case[1:], id=case[0]) for case in CASES])
def test_risk_check_rejects_with_reason_status_and_field(make_client, risk, snapshot, setup, path, body, reason,
                                                         status, field):
    # Arrange
    client = make_client(risk=risk, snapshot=snapshot, no_snapshot=snapshot is None)
    if setup:
        setup(client)

    # Act
    r = client.post(path, json=body)

    # Assert: the answer
    assert r.status_code == status, r.get_json()
    answer = r.get_json()
    assert (answer["error"], answer["reason"]) == ("risk_reject", reason)
    assert [(d["field"], d["reason"]) for d in answer["details"]] == [(field, reason)]
    assert answer["order"]["status"] == "rejected"
    assert answer["order"]["reject"]["reason"] == reason and answer["order"]["reject"]["field"] == field
    # ... stored and listed with its reason, and counted
    order_id = answer["order"]["order_id"]
    listed = {o["order_id"]: o for o in client.get("/orders?status=rejected").get_json()["orders"]}
    assert listed[order_id]["reject"]["reason"] == reason
    assert client.get(f"/orders/{order_id}").get_json()["status"] == "rejected"
    assert reject_count(client, reason) == 1


@pytest.mark.parametrize("nbbo, side, price, accepted", [
    ({"bid": 0.70, "ask": 0.80}, "BUY", 1.60, True),  # NBO <= $1: up to 100% through
    ({"bid": 0.70, "ask": 0.80}, "BUY", 1.61, False),
    ({}, "BUY", 38.45, True),  # NBO 25.65 > $1: up to 50% through (38.475)
    ({}, "BUY", 38.50, False),
    ({}, "SELL", 12.55, True),  # NBB 25.10: down to 12.55
    ({}, "SELL", 12.50, False),
    ({"bid": 0.02, "ask": 0.03}, "BUY", 0.08, True),  # a $0.05 minimum width on tiny quotes
    ({"bid": 0.02, "ask": 0.03}, "BUY", 0.09, False),
])
def test_single_leg_collar_boundaries(make_client, nbbo, side, price, accepted):
    # Arrange
    client = make_client(snapshot={"overrides": {AAPL_200C: nbbo}} if nbbo else {})

    # Act
    r = client.post("/orders", json=single(side=side, price=price))

    # Assert
    if accepted:
        assert r.status_code == 201, r.get_json()
    else:
        assert r.status_code == 422 and r.get_json()["reason"] == "PRICE_COLLAR"


@pytest.mark.parametrize("net, accepted", [(15.05, True), (15.08, False), (-5.00, True)])
def test_multi_leg_collar_is_against_the_synthetic_offer(make_client, net, accepted):
    # Arrange: synthetic offer of the 200/210 call vertical = 25.65 - 15.60 = 10.05, so the cap is 15.075
    client = make_client()

    # Act
    r = client.post("/orders/multi", json=multi(price=net))

    # Assert
    assert (r.status_code == 201) is accepted, r.get_json()
    if not accepted:
        assert "synthetic offer 10.05" in r.get_json()["message"]


def test_duplicate_window_closes_after_one_second(make_client):
    # Arrange
    client = make_client()
    first = client.post("/orders", json=single())

    # Act
    client.clock.now += 1.0
    again = client.post("/orders", json=single())

    # Assert
    assert first.status_code == 201 and again.status_code == 201


def test_throttle_window_rolls_after_one_second(make_client):
    # Arrange
    client = make_client(risk={"max_orders_per_s": 2})
    two_orders(client)

    # Act
    client.clock.now += 1.0
    r = client.post("/orders", json=single(price=1.20))

    # Assert
    assert r.status_code == 201


def test_throttle_is_per_account(make_client):
    # Arrange
    client = make_client(risk={"max_orders_per_s": 2})
    two_orders(client)

    # Act
    r = client.post("/orders", json=single(price=1.20, account="OTHER"))

    # Assert
    assert r.status_code == 201


def test_cancel_releases_credit(make_client):
    # Arrange
    client = make_client(risk={"credit_limit": 2000})
    first = client.post("/orders", json=single()).get_json()
    assert client.post("/orders", json=single(price=1.30)).status_code == 422

    # Act
    client.delete(f"/orders/{first['order_id']}")
    r = client.post("/orders", json=single(price=1.35))

    # Assert
    assert r.status_code == 201


def test_a_sell_that_offsets_a_long_stays_within_the_position_limit(make_client):
    # Arrange: long 10 calls (filled), limit 15 contracts same side
    client = make_client(risk={"position_limit": 15})
    assert client.post("/orders", json=single(price=25.65)).get_json()["status"] == "filled"

    # Act: selling 10 of them brings the position to 0
    r = client.post("/orders", json=single(side="SELL", price=25.10))

    # Assert
    assert r.status_code == 201 and r.get_json()["status"] == "filled"


def test_feed_that_goes_stale_turns_orders_away_until_it_is_fresh(make_client):
    # Arrange
    client = make_client(risk={"quote_max_age_s": 5})
    assert client.post("/orders", json=single(price=1.10)).status_code == 201

    # Act
    client.clock.now += 6
    stale = client.post("/orders", json=single(price=1.15))

    # Assert
    assert stale.status_code == 422 and stale.get_json()["reason"] == "NO_REFERENCE"
    assert "stale" in stale.get_json()["message"]


def test_expiring_series_is_expired_after_the_close_on_its_last_day(make_client):
    # Arrange: trading date 2025-01-03 (a listed Friday expiry), 16:30 in New York
    clock = Clock(dt.datetime(2025, 1, 3, 21, 30, tzinfo=dt.timezone.utc).timestamp())
    client = make_client(clock=clock, as_of="2025-01-03")

    # Act
    r = client.post("/orders", json=single(expiry="2025-01-03", price=1.25))

    # Assert
    assert r.status_code == 422
    assert (r.get_json()["reason"], r.get_json()["details"][0]["field"]) == ("EXPIRED", "expiry")


def test_expiring_series_trades_before_the_close(make_client):
    # Arrange: 10:00 in New York on the expiry day
    clock = Clock(dt.datetime(2025, 1, 3, 15, 0, tzinfo=dt.timezone.utc).timestamp())
    client = make_client(clock=clock, as_of="2025-01-03")

    # Act
    r = client.post("/orders", json=single(expiry="2025-01-03", price=1.25))

    # Assert
    assert r.status_code == 201, r.get_json()


def test_first_failing_check_wins(make_client):
    # Arrange: both restricted and over the quantity limit
    client = make_client(risk={"restricted": ["AAPL"], "max_contracts": 5})

    # Act
    r = client.post("/orders", json=single())

    # Assert: restricted is checked before size
    assert r.get_json()["reason"] == "RESTRICTED"


def test_rejects_are_counted_per_reason_in_orders_total(make_client):
    # Arrange
    client = make_client(risk={"max_contracts": 5})

    # Act
    client.post("/orders", json=single())
    client.post("/orders", json=single(qty=3, price=1.10))
    text = client.get("/metrics").get_data(as_text=True)

    # Assert
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("optsim_orders_total", (("status", "rejected"), ("underlying", "AAPL"), ("venue", "none")))] == 1
    assert samples[("optsim_orders_total", (("status", "accepted"), ("underlying", "AAPL"), ("venue", "C2")))] == 1
    assert samples[("optsim_order_rejects_total", (("reason", "QTY_LIMIT"),))] == 1


def test_short_puts_add_to_long_calls_on_the_same_side_of_the_market(tmp_path):
    # Arrange: 10 long calls working; 10 short puts are also bullish, 20 > 15
    cfg = load_config(overrides={"service": {"data_dir": str(tmp_path), "as_of": AS_OF},
                                 "risk": {"position_limit": 15}})
    write_snapshot(cfg)
    app = create_app(cfg)
    client = app.test_client()
    assert client.post("/orders", json=single(price=1.25)).status_code == 201
    # Act
    r = client.post("/orders", json=single(option_type="P", side="SELL", price=50.0))
    # Assert
    assert (r.status_code, r.get_json()["reason"]) == (422, "POSITION_LIMIT")
    app.extensions["desk"].close()


def test_a_position_in_a_series_without_a_quote_does_not_break_health_or_metrics(client):
    # Arrange: held contracts in a series the feed does not quote (no Greeks can be computed)
    desk = client.application.extensions["desk"]
    desk.risk.on_fill("DEFAULT", "AAPL  250117C00999000", "BUY", 5)
    # Act / Assert
    assert client.get("/health").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert desk.risk_utilization()["position"] > 0


def test_a_package_whose_bought_leg_has_no_offer_has_no_reference_to_collar_against(config, client):
    # Arrange: the 200 call shows a bid but no offer, so the vertical has no synthetic offer
    write_snapshot(config, seq=2, overrides={"AAPL  250117C00200000": {"ask": 0.0, "ask_size": 0}})
    # Act
    r = client.post("/orders/multi", json=seed_multi())
    # Assert
    body = r.get_json()
    assert (r.status_code, body["reason"], body["details"][0]["field"]) == (422, "NO_REFERENCE", "legs")


def test_limits_use_in_one_pass_matches_the_risk_report_and_reads_a_copy(config, client):
    # Arrange: a seeded mix of long and short, calls and puts, over accounts and underlyings, with premium
    import json
    import random
    from pathlib import Path
    desk = client.application.extensions["desk"]
    desk.quotes.pull()  # the snapshot the Greeks come from
    symbols = sorted(json.loads((Path(config.data_dir) / "quotes.json").read_text())["quotes"])
    rng = random.Random(5)
    for _ in range(300):
        account = f"A{rng.randrange(6)}"
        desk.risk.on_fill(account, rng.choice(symbols), rng.choice(["BUY", "SELL"]), rng.randrange(1, 40))
        desk.risk.on_premium(account, rng.uniform(-5e4, 2e5))
    desk.risk.on_fill("A0", "AAPL  250117C00999000", "BUY", 7)  # no quote: no Greeks, still a position
    report = desk.risk.exposure_report()
    worst = {name: max(row["limits"][name]["utilization"] for row in report) for name in report[0]["limits"]}
    copy = desk.risk.exposure.copy()
    # Act
    use = desk.risk.utilization()
    desk.risk.on_fill("A1", symbols[0], "BUY", 10_000)  # after the copy: the copy does not see it
    # Assert
    assert use == pytest.approx(worst, abs=1e-6) and min(use.values()) > 0
    assert desk.risk.utilization(copy) == use
    assert desk.risk.exposure_report(copy) == report


def test_limits_use_is_kept_only_until_the_books_or_the_quotes_move(config, client):
    # Arrange: a use read once (as /metrics, /health and the trips do within one moment)
    desk = client.application.extensions["desk"]
    desk.quotes.pull()
    desk.risk.on_fill("ACC1", AAPL_200C, "BUY", 100)
    before = desk.risk_utilization()
    # Act: a fill moves the books; then the same books under a snapshot with another implied vol
    desk.risk.on_fill("ACC1", AAPL_200C, "BUY", 100)
    after_fill = desk.risk_utilization()
    write_snapshot(config, seq=2, overrides={AAPL_200C: {"iv": 0.9}})
    desk.quotes.pull()
    after_quotes = desk.risk_utilization()
    # Assert
    assert after_fill["position"] == pytest.approx(2 * before["position"])
    assert after_fill["vega"] == pytest.approx(2 * before["vega"], abs=2e-6)  # each rounded to 6 places
    assert after_quotes["position"] == after_fill["position"] and after_quotes["vega"] != after_fill["vega"]
