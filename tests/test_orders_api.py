"""POST/GET/DELETE /orders over the Flask test client: the seed bodies, bad input, idempotent retries, lifecycle."""
from __future__ import annotations

import json

import pytest

from optsim.config import load_config
from options_service import create_app
from tests.conftest import ADMIN_TOKEN, AS_OF, seed_multi, seed_single
from tests.snapshots import write_snapshot

AAPL_200C = "AAPL  250117C00200000"
AAPL_210C = "AAPL  250117C00210000"


def raw(body) -> dict:
    """Request kwargs for a JSON text body sent verbatim."""
    return {"data": body if isinstance(body, (str, bytes)) else json.dumps(body), "content_type": "application/json"}


def single(**changes) -> dict:
    body = seed_single()
    for key, value in changes.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    return body


def multi(leg: int | None = None, **changes) -> dict:
    body = seed_multi()
    target = body if leg is None else body["legs"][leg]
    for key, value in changes.items():
        if value is ...:
            target.pop(key)
        else:
            target[key] = value
    return body


def details(response) -> list[tuple[str, str]]:
    return [(d["field"], d["reason"]) for d in response.get_json()["details"]]


@pytest.fixture(scope="module")
def shared_client(tmp_path_factory):
    """One app for the read-only and invalid-input tests (nothing they send is stored)."""
    data_dir = tmp_path_factory.mktemp("shared")
    cfg = load_config(overrides={"service": {"data_dir": str(data_dir), "as_of": AS_OF, "admin_token": ADMIN_TOKEN},
                                 "risk": {"quote_max_age_s": 3600}})
    write_snapshot(cfg)
    app = create_app(cfg)
    yield app.test_client()
    app.extensions["desk"].close()


# ---------------------------------------------------------------------------------------------- seed bodies
def test_seed_single_is_accepted_working_with_occ_symbol_and_venue(client):
    # Act
    r = client.post("/orders", json=seed_single())

    # Assert
    assert r.status_code == 201
    order = r.get_json()
    assert order["status"] == "working"  # 1.25 is far below the 25.65 offer: it rests
    assert order["kind"] == "single" and order["strategy_detected"] == "single"
    assert order["legs"][0]["occ_symbol"] == AAPL_200C
    assert (order["side"], order["qty"], order["price"], order["leaves_qty"]) == ("BUY", 10, 1.25, 10)
    assert order["venue"] == "C2"  # resting order goes to the best maker rebate (-0.41)
    assert r.headers["Location"] == f"/orders/{order['order_id']}"
    assert "Idempotent-Replayed" not in r.headers


def test_seed_multi_is_a_vertical_at_a_net_045_debit(client):
    # Act
    r = client.post("/orders/multi", json=seed_multi())

    # Assert
    assert r.status_code == 201
    order = r.get_json()
    assert order["status"] == "working"
    assert (order["kind"], order["strategy_type"], order["strategy_detected"]) == ("multi", "vertical", "vertical")
    assert order["net_price"] == pytest.approx(0.45) and order["net_type"] == "debit"
    assert [(leg["occ_symbol"], leg["side"], leg["ratio"], leg["qty"]) for leg in order["legs"]] == [
        (AAPL_200C, "BUY", 1, 10), (AAPL_210C, "SELL", 1, 10)]
    assert order["venue"] in {"CBOE", "C2", "ISE", "PHLX", "NOM", "ARCA", "MIAX", "BOX"}


def test_multi_leg_body_is_also_accepted_on_post_orders(client):
    # Act
    r = client.post("/orders", json=seed_multi())

    # Assert
    assert r.status_code == 201
    assert r.get_json()["kind"] == "multi"


def test_accepted_orders_are_listed_and_fetchable_by_id(client):
    # Arrange
    single_id = client.post("/orders", json=seed_single()).get_json()["order_id"]
    multi_id = client.post("/orders/multi", json=seed_multi()).get_json()["order_id"]

    # Act
    listed = client.get("/orders").get_json()
    fetched = client.get(f"/orders/{multi_id}").get_json()

    # Assert
    assert [o["order_id"] for o in listed["orders"]] == [multi_id, single_id]  # newest first
    assert listed["count"] == 2
    assert fetched["order_id"] == multi_id and fetched["net_price"] == pytest.approx(0.45)
    assert fetched["legs"][1]["occ_symbol"] == AAPL_210C


def test_marketable_buy_fills_at_the_best_offer(client):
    # Act: 25.65 is the NBO (CBOE), within the collar
    r = client.post("/orders", json=single(price=25.65))

    # Assert
    order = r.get_json()
    assert r.status_code == 201
    assert (order["status"], order["filled_qty"], order["venue"]) == ("filled", 10, "CBOE")
    assert order["avg_price"] == pytest.approx(25.65)
    assert [(f["venue"], f["qty"], f["liquidity"]) for f in order["fills"]] == [("CBOE", 10, "taker")]
    assert order["fills"][0]["price"] == pytest.approx(25.65)


@pytest.mark.parametrize("query, expected", [
    ("underlying=AAPL", 2), ("underlying=aapl", 2), ("underlying=MSFT", 0), (f"symbol={AAPL_210C}", 1),
    ("symbol=AAPL250117C00200000", 2), ("status=working", 2), ("status=filled", 0), ("account=DEFAULT", 2),
    ("account=other", 0), ("limit=1", 1),
])
def test_list_filters_select_the_matching_orders(client, query, expected):
    # Arrange
    client.post("/orders", json=seed_single())
    client.post("/orders/multi", json=seed_multi())

    # Act
    r = client.get(f"/orders?{query}")

    # Assert
    assert r.status_code == 200
    assert r.get_json()["count"] == expected


def test_list_pages_with_before(client):
    # Arrange
    ids = [client.post("/orders", json=single(price=p)).get_json()["order_id"] for p in (1.10, 1.20, 1.30)]

    # Act
    first = client.get("/orders?limit=2").get_json()
    rest = client.get(f"/orders?limit=2&before={first['next_before']}").get_json()

    # Assert
    assert [o["order_id"] for o in first["orders"]] == ids[:0:-1]
    assert [o["order_id"] for o in rest["orders"]] == ids[:1]
    assert rest["next_before"] is None


# ---------------------------------------------------------------------------------------------- bad input
BAD_BODIES = [
    # (id, path, request kwargs, status, error, [(field, reason), ...] that must be in details)
    ("text-plain", "/orders", {"data": json.dumps(seed_single()), "content_type": "text/plain"},
     415, "unsupported_media_type", [("Content-Type", "UNSUPPORTED_MEDIA_TYPE")]),
    ("no-content-type", "/orders", {"data": json.dumps(seed_single())},
     415, "unsupported_media_type", [("Content-Type", "UNSUPPORTED_MEDIA_TYPE")]),
    ("form-encoded", "/orders", {"data": {"qty": "10"}},
     415, "unsupported_media_type", [("Content-Type", "UNSUPPORTED_MEDIA_TYPE")]),
    ("multi-text-plain", "/orders/multi", {"data": json.dumps(seed_multi()), "content_type": "text/plain"},
     415, "unsupported_media_type", [("Content-Type", "UNSUPPORTED_MEDIA_TYPE")]),
    ("truncated-json", "/orders", raw('{"qty": 10,'), 400, "malformed_json", [("", "MALFORMED_JSON")]),
    ("empty-body", "/orders", raw(""), 400, "malformed_json", [("", "MALFORMED_JSON")]),
    ("nan-literal", "/orders", raw(json.dumps(seed_single()).replace("1.25", "NaN")),
     400, "malformed_json", [("", "MALFORMED_JSON")]),
    ("infinity-literal", "/orders", raw(json.dumps(seed_single()).replace("1.25", "-Infinity")),
     400, "malformed_json", [("", "MALFORMED_JSON")]),
    ("invalid-utf8", "/orders", raw(b'{"account": "\xff"}'), 400, "malformed_json", [("", "MALFORMED_JSON")]),
    ("deeply-nested", "/orders", raw("[" * 20000 + "]" * 20000), 400, "malformed_json", [("", "MALFORMED_JSON")]),
    ("oversized", "/orders", raw({"pad": "x" * 70_000}), 413, "payload_too_large", [("", "PAYLOAD_TOO_LARGE")]),
    ("overflowing-float", "/orders", raw(json.dumps(seed_single()).replace("1.25", "1e400")),
     422, "validation_failed", [("price", "finite_number")]),
    ("array-body", "/orders", {"json": [seed_single()]}, 422, "validation_failed", [("", "dict_type")]),
    ("string-body", "/orders", {"json": "buy AAPL"}, 422, "validation_failed", [("", "dict_type")]),
    ("null-body", "/orders", raw("null"), 422, "validation_failed", [("", "dict_type")]),
    ("qty-as-string", "/orders", {"json": single(qty="10")}, 422, "validation_failed", [("qty", "int_type")]),
    ("qty-fractional", "/orders", {"json": single(qty=10.5)}, 422, "validation_failed", [("qty", "int_type")]),
    ("qty-boolean", "/orders", {"json": single(qty=True)}, 422, "validation_failed", [("qty", "int_type")]),
    ("qty-zero", "/orders", {"json": single(qty=0)}, 422, "validation_failed", [("qty", "greater_than_equal")]),
    ("qty-negative", "/orders", {"json": single(qty=-5)}, 422, "validation_failed", [("qty", "greater_than_equal")]),
    ("price-absurd", "/orders", {"json": single(price=1e300)}, 422, "risk_reject", [("price", "BAD_TICK")]),
    ("multi-net-absurd", "/orders/multi", {"json": multi(price=1e300)}, 422, "risk_reject", [("price", "BAD_TICK")]),
    ("price-as-string", "/orders", {"json": single(price="1.25")}, 422, "validation_failed", [("price", "float_type")]),
    ("price-negative", "/orders", {"json": single(price=-1.25)},
     422, "validation_failed", [("price", "greater_than")]),
    ("side-lower-case", "/orders", {"json": single(side="buy")}, 422, "validation_failed", [("side", "literal_error")]),
    ("side-missing", "/orders", {"json": single(side=...)}, 422, "validation_failed", [("side", "missing")]),
    ("qty-missing", "/orders", {"json": single(qty=...)}, 422, "validation_failed", [("qty", "missing")]),
    ("strike-missing", "/orders", {"json": single(strike=...)}, 422, "validation_failed", [("strike", "missing")]),
    ("unknown-field", "/orders", {"json": single(colour="red")},
     422, "validation_failed", [("colour", "extra_forbidden")]),
    ("impossible-date", "/orders", {"json": single(expiry="2025-13-45")},
     422, "validation_failed", [("expiry", "date_from_datetime_parsing")]),
    ("us-date-format", "/orders", {"json": single(expiry="01/17/2025")},
     422, "validation_failed", [("expiry", "date_parsing")]),
    ("datetime-not-date", "/orders", {"json": single(expiry="2025-01-17T00:00:00")},
     422, "validation_failed", [("expiry", "date_parsing")]),
    ("date-as-number", "/orders", {"json": single(expiry=20250117)},
     422, "validation_failed", [("expiry", "date_type")]),
    ("option-type-x", "/orders", {"json": single(option_type="X")},
     422, "validation_failed", [("option_type", "literal_error")]),
    ("strike-zero", "/orders", {"json": single(strike=0)}, 422, "validation_failed", [("strike", "greater_than")]),
    ("strike-as-string", "/orders", {"json": single(strike="200")},
     422, "validation_failed", [("strike", "float_type")]),
    ("strike-too-fine", "/orders", {"json": single(strike=1e-9)},
     422, "validation_failed", [("strike", "INVALID_SYMBOL")]),
    ("underlying-lower-case", "/orders", {"json": single(underlying="aapl")},
     422, "validation_failed", [("underlying", "INVALID_SYMBOL")]),
    ("underlying-too-long", "/orders", {"json": single(underlying="TOOLONGX")},
     422, "validation_failed", [("underlying", "INVALID_SYMBOL")]),
    ("unknown-strategy", "/orders", {"json": single(strategy_type="butterfly-ish")},
     422, "validation_failed", [("strategy_type", "union_tag_invalid")]),
    ("limit-without-price", "/orders", {"json": single(price=...)},
     422, "validation_failed", [("price", "PRICE_REQUIRED")]),
    ("market-with-price", "/orders", {"json": single(order_type="MARKET")},
     422, "validation_failed", [("price", "PRICE_NOT_ALLOWED")]),
    ("tif-gtd", "/orders", {"json": single(time_in_force="GTD")},
     422, "validation_failed", [("time_in_force", "literal_error")]),
    ("client-id-with-space", "/orders", {"json": single(client_order_id="has space")},
     422, "validation_failed", [("client_order_id", "string_pattern_mismatch")]),
    ("client-id-too-long", "/orders", {"json": single(client_order_id="x" * 65)},
     422, "validation_failed", [("client_order_id", "string_pattern_mismatch")]),
    ("account-empty", "/orders", {"json": single(account="")},
     422, "validation_failed", [("account", "string_too_short")]),
    ("lone-surrogate", "/orders", raw(json.dumps(single(account="\ud800"))),
     422, "validation_failed", [("account", "string_unicode")]),
    ("symbol-and-fields", "/orders", {"json": single(symbol=AAPL_200C)},
     422, "validation_failed", [("symbol", "SYMBOL_CONFLICT")]),
    ("symbol-garbled", "/orders", {"json": {"symbol": "AAPL250117X200", "side": "BUY", "qty": 1, "price": 1.0}},
     422, "validation_failed", [("symbol", "INVALID_SYMBOL")]),
    ("single-on-multi-endpoint", "/orders/multi", {"json": seed_single()},
     422, "validation_failed", [("strategy_type", "WRONG_ENDPOINT")]),
    ("multi-without-strategy", "/orders/multi", {"json": {"legs": seed_multi()["legs"]}},
     422, "validation_failed", [("strategy_type", "missing")]),
    ("multi-one-leg", "/orders/multi", {"json": {"strategy_type": "vertical", "legs": seed_multi()["legs"][:1]}},
     422, "validation_failed", [("legs", "TOO_FEW_LEGS")]),
    ("multi-legs-object", "/orders/multi", {"json": {"strategy_type": "vertical", "legs": {}}},
     422, "validation_failed", [("legs", "list_type")]),
    ("multi-leg-strike-string", "/orders/multi", {"json": multi(1, strike="210")},
     422, "validation_failed", [("legs.1.strike", "float_type")]),
    ("multi-leg-side-hold", "/orders/multi", {"json": multi(0, side="HOLD")},
     422, "validation_failed", [("legs.0.side", "literal_error")]),
    ("multi-leg-unknown-field", "/orders/multi", {"json": multi(0, foo=1)},
     422, "validation_failed", [("legs.0.foo", "extra_forbidden")]),
    ("multi-net-nan", "/orders/multi", raw(json.dumps(multi(price=1.5)).replace("1.5", "NaN")),
     400, "malformed_json", [("", "MALFORMED_JSON")]),
    ("multi-duplicate-series", "/orders/multi", {"json": multi(1, strike=200)},
     422, "validation_failed", [("legs.1", "DUPLICATE_LEG")]),
    ("multi-not-a-vertical", "/orders/multi", {"json": multi(1, option_type="P")},
     422, "validation_failed", [("legs", "STRATEGY_MISMATCH")]),
    ("multi-ratio-4-to-1", "/orders/multi", {"json": multi(1, qty=40)},
     422, "validation_failed", [("legs", "RATIO_OUT_OF_RANGE")]),
    ("multi-mixed-underlyings", "/orders/multi", {"json": multi(1, underlying="MSFT")},
     422, "validation_failed", [("legs.1", "MIXED_UNDERLYINGS")]),
]


@pytest.mark.parametrize("path, kwargs, status, error, expected",
                         [pytest.param(*case[1:], id=case[0]) for case in BAD_BODIES])
def test_bad_order_request_gets_a_clear_4xx_naming_the_field(shared_client, path, kwargs, status, error,
                                                              expected):
    # Act
    r = shared_client.post(path, **kwargs)

    # Assert
    assert r.status_code == status, r.get_data(as_text=True)
    body = r.get_json()
    assert body["error"] == error
    assert body["message"]
    for fault in expected:
        assert fault in details(r)


def test_bad_input_is_not_stored_but_counted(client):
    # Arrange
    for _, path, kwargs, *_ in BAD_BODIES[:10]:
        client.post(path, **kwargs)

    # Act
    orders = client.get("/orders").get_json()
    metrics = client.get("/metrics").get_data(as_text=True)

    # Assert
    assert orders["count"] == 0
    assert 'optsim_order_rejects_total{reason="VALIDATION"}' in metrics


def test_absurd_quantity_is_a_4xx_not_a_500(client):
    # Act
    r = client.post("/orders", json=single(qty=10**20))

    # Assert
    assert r.status_code == 422
    assert r.get_json()["details"][0] == {"field": "qty", "reason": "less_than_equal",
                                          "message": "Input should be less than or equal to 1000000"}


@pytest.mark.parametrize("query, field, reason", [
    ("status=bogus", "status", "BAD_FILTER"),
    ("limit=0", "limit", "BAD_FILTER"),
    ("limit=abc", "limit", "BAD_FILTER"),
    ("limit=", "limit", "BAD_FILTER"),  # empty is not an integer either (the schema says integer)
    ("limit=1001", "limit", "BAD_FILTER"),
    ("before=-1", "before", "BAD_FILTER"),
    ("before=ORD-xyz", "before", "BAD_FILTER"),
    ("symbol=XYZ", "symbol", "INVALID_SYMBOL"),
    ("colour=red", "colour", "UNKNOWN_FILTER"),
])
def test_bad_list_filter_is_422_with_the_filter_named(shared_client, query, field, reason):
    # Act
    r = shared_client.get(f"/orders?{query}")

    # Assert
    assert r.status_code == 422
    assert r.get_json()["error"] == "validation_failed"
    assert (field, reason) in details(r)


@pytest.mark.parametrize("method", ["get", "delete"])
def test_unknown_order_id_is_404(shared_client, method):
    # Act
    r = getattr(shared_client, method)("/orders/ORD-99999999")

    # Assert
    assert r.status_code == 404
    assert r.get_json()["error"] == "not_found"
    assert ("order_id", "NOT_FOUND") in details(r)


# ---------------------------------------------------------------------------------------------- lifecycle
def test_cancel_of_a_working_order_frees_it(client):
    # Arrange
    order_id = client.post("/orders", json=seed_single()).get_json()["order_id"]

    # Act
    r = client.delete(f"/orders/{order_id}")

    # Assert
    assert r.status_code == 200
    assert r.get_json()["status"] == "cancelled" and r.get_json()["leaves_qty"] == 0
    assert client.get(f"/orders/{order_id}").get_json()["status"] == "cancelled"


@pytest.mark.parametrize("first_status, body", [
    ("filled", single(price=25.65)),
    ("cancelled", seed_single()),
])
def test_cancel_of_a_closed_order_is_409(client, first_status, body):
    # Arrange
    order_id = client.post("/orders", json=body).get_json()["order_id"]
    if first_status == "cancelled":
        client.delete(f"/orders/{order_id}")

    # Act
    r = client.delete(f"/orders/{order_id}")

    # Assert
    assert r.status_code == 409
    assert r.get_json()["error"] == "conflict"
    assert r.get_json()["order"]["status"] == first_status


def test_ioc_that_cannot_trade_expires_at_once(client):
    # Act
    r = client.post("/orders", json=single(time_in_force="IOC"))

    # Assert
    assert r.status_code == 201
    assert r.get_json()["status"] == "expired"


# ---------------------------------------------------------------------------------------------- idempotency
@pytest.mark.parametrize("path, body", [
    ("/orders", single(client_order_id="retry-1")),
    ("/orders/multi", dict(seed_multi(), client_order_id="retry-1")),
])
def test_retry_with_same_client_id_and_body_replays_the_order(client, path, body):
    # Arrange
    first = client.post(path, json=body)

    # Act
    again = client.post(path, json=body)

    # Assert
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["order_id"] == first.get_json()["order_id"]
    assert client.get("/orders").get_json()["count"] == 1


def test_retry_with_defaults_spelled_out_is_the_same_order(client):
    # Arrange
    first = client.post("/orders", json=single(client_order_id="retry-2"))

    # Act: the defaults written out and keys reordered are the same request
    again = client.post("/orders", json=dict(reversed(list(single(
        client_order_id="retry-2", order_type="LIMIT", time_in_force="DAY", account="DEFAULT").items()))))

    # Assert
    assert again.status_code == 200
    assert again.get_json()["order_id"] == first.get_json()["order_id"]


def test_reused_client_id_with_a_different_body_is_409_duplicate(client):
    # Arrange
    first = client.post("/orders", json=single(client_order_id="retry-3")).get_json()

    # Act
    r = client.post("/orders", json=single(client_order_id="retry-3", qty=11))

    # Assert
    assert r.status_code == 409
    body = r.get_json()
    assert (body["error"], body["reason"]) == ("risk_reject", "DUPLICATE")
    assert ("client_order_id", "DUPLICATE") in details(r)
    assert body["order"]["order_id"] != first["order_id"]
    assert client.get(f"/orders/{first['order_id']}").get_json()["qty"] == 10  # the original is untouched


def test_same_client_id_in_another_account_is_a_new_order(client):
    # Arrange
    first = client.post("/orders", json=single(client_order_id="retry-4")).get_json()

    # Act
    r = client.post("/orders", json=single(client_order_id="retry-4", account="ACCT2"))

    # Assert
    assert r.status_code == 201
    assert r.get_json()["order_id"] != first["order_id"]


def test_retry_of_a_rejected_order_replays_the_reject(client):
    # Arrange: 10 contracts @ 40.00 is through the collar
    body = single(client_order_id="retry-5", price=40.0)
    first = client.post("/orders", json=body)

    # Act
    again = client.post("/orders", json=body)

    # Assert
    assert first.status_code == 422 and first.get_json()["reason"] == "PRICE_COLLAR"
    assert again.status_code == 422
    assert again.get_json()["reason"] == "PRICE_COLLAR"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["order"]["order_id"] == first.get_json()["order"]["order_id"]


def test_orders_survive_an_app_restart_on_the_same_data_dir(config, client):
    # Arrange
    order_id = client.post("/orders/multi", json=dict(seed_multi(), client_order_id="keep-1")).get_json()["order_id"]

    # Act
    app2 = create_app(config)
    try:
        c2 = app2.test_client()
        fetched = c2.get(f"/orders/{order_id}")
        replay = c2.post("/orders/multi", json=dict(seed_multi(), client_order_id="keep-1"))
    finally:
        app2.extensions["desk"].close()

    # Assert
    assert fetched.status_code == 200 and fetched.get_json()["status"] == "working"
    assert replay.status_code == 200 and replay.get_json()["order_id"] == order_id


def test_snapshot_fixture_quotes_the_seed_series(snapshot, config):
    # Arrange / Act
    quote = snapshot["quotes"][AAPL_200C]

    # Assert: the figures the tests above rely on
    assert (quote["bid"], quote["ask"], quote["ask_venue"]) == (25.10, 25.65, "CBOE")
    assert write_snapshot(config, seq=2)["quotes"][AAPL_210C]["bid"] == 15.60


def test_a_utf8_byte_order_mark_before_the_json_is_accepted(client):
    # Arrange: what some Windows tools send
    raw = b"\xef\xbb\xbf" + json.dumps(single()).encode()
    # Act
    r = client.post("/orders", data=raw, content_type="application/json")
    # Assert
    assert r.status_code == 201, r.get_json()
