"""parse_order: seed bodies, every strategy type, a table of malformed bodies, a fuzz where only ApiError escapes."""
import copy
import datetime as dt
import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optsim.errors import ApiError
from optsim.domain.models import parse_order
from optsim.domain.occ import OccSymbol
from optsim.domain.spec import LegSpec, OrderSpec
from tests.conftest import SEED_MULTI as SEED_VERTICAL
from tests.conftest import SEED_SINGLE

def leg(option_type, strike, side="BUY", qty=10, price=1.0, expiry="2025-01-17", underlying="AAPL"):
    return {"underlying": underlying, "expiry": expiry, "strike": strike, "option_type": option_type, "side": side,
            "qty": qty, "price": price}


def multi(strategy_type, *legs, **top):
    return {"strategy_type": strategy_type, "legs": list(legs), **top}


def changed(body, path, value):
    """A deep copy of ``body`` with the dotted ``path`` set to ``value`` (or removed when value is DELETE)."""
    body = copy.deepcopy(body)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    target = body
    for part in parents:
        target = target[part]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return body


DELETE = object()


def faults(body, endpoint="single"):
    with pytest.raises(ApiError) as info:
        parse_order(body, endpoint=endpoint)
    err = info.value
    assert err.status == 422 and err.error == "validation_failed"
    json.dumps(err.to_dict())  # details are plain JSON, no exception objects
    return [(d["field"], d["reason"]) for d in err.details]


# --- the seed bodies ------------------------------------------------------------------------------------------

def aapl(strike, right="C"):
    return OccSymbol("AAPL", dt.date(2025, 1, 17), right, Decimal(strike))


def test_seed_single_leg_body_parses_to_the_expected_spec():
    spec = parse_order(SEED_SINGLE, endpoint="single")
    assert spec == OrderSpec(kind="single", strategy_type="single", strategy_detected="single",
                             legs=(LegSpec(aapl(200), "BUY", 1, 10, Decimal("1.25")),), qty=10,
                             limit_price=Decimal("1.25"))
    assert spec.legs[0].symbol.padded == "AAPL  250117C00200000"
    assert spec.body == {**SEED_SINGLE, "strike": 200.0, "order_type": "LIMIT", "time_in_force": "DAY",
                         "account": "DEFAULT"}


@pytest.mark.parametrize("endpoint", ["single", "multi"])
def test_seed_vertical_parses_to_net_debit_045_qty_10_ratios_1_1(endpoint):
    spec = parse_order(SEED_VERTICAL, endpoint=endpoint)
    assert spec == OrderSpec(kind="multi", strategy_type="vertical", strategy_detected="vertical",
                             legs=(LegSpec(aapl(200), "BUY", 1, 10, Decimal("1.25")),
                                   LegSpec(aapl(210), "SELL", 1, 10, Decimal("0.80"))),
                             qty=10, limit_price=Decimal("0.45"))
    assert [x.symbol.padded for x in spec.legs] == ["AAPL  250117C00200000", "AAPL  250117C00210000"]
    assert str(spec.limit_price) == "0.45" and spec.side == "BUY"


def test_powershell_key_order_and_whole_numbers_parse_to_the_same_order():
    reordered = {"strategy_type": "single", "price": 1.25, "qty": 10, "side": "BUY", "option_type": "C",
                 "strike": 200.0, "expiry": "2025-01-17", "underlying": "AAPL"}
    assert parse_order(reordered) == parse_order(SEED_SINGLE)
    assert parse_order(reordered).body == parse_order(SEED_SINGLE).body
    assert parse_order(changed(SEED_SINGLE, "price", 1)).limit_price == 1


def test_canonical_body_tells_a_retry_from_a_different_order():
    first = parse_order({**SEED_SINGLE, "client_order_id": "abc-1"})
    retry = parse_order(dict(reversed(list({**SEED_SINGLE, "client_order_id": "abc-1", "account": "DEFAULT"}.items()))))
    other = parse_order({**SEED_SINGLE, "client_order_id": "abc-1", "qty": 11})
    assert first.body == retry.body != other.body


def test_order_options_are_carried_into_the_spec():
    spec = parse_order({**SEED_SINGLE, "client_order_id": "a.B_9:x-1", "time_in_force": "IOC", "account": "ACC1"})
    assert (spec.client_order_id, spec.time_in_force, spec.account, spec.order_type) == (
        "a.B_9:x-1", "IOC", "ACC1", "LIMIT")


def test_single_leg_by_osi_symbol_padded_or_not():
    body = {"symbol": "AAPL250117P00195500", "side": "SELL", "qty": 1, "price": 2, "strategy_type": "single"}
    spec = parse_order(body)
    assert spec.legs[0].symbol.padded == "AAPL  250117P00195500" and spec.side == "SELL"
    assert parse_order({**body, "symbol": "AAPL  250117P00195500"}).legs == spec.legs


def test_single_market_order_has_no_limit_and_strategy_type_defaults_to_single_on_orders():
    body = {k: v for k, v in SEED_SINGLE.items() if k not in ("price", "strategy_type")}
    spec = parse_order({**body, "order_type": "MARKET"})
    assert spec.limit_price is None and spec.strategy_type == "single"


def test_multi_leg_body_on_orders_and_on_orders_multi_is_the_same_order():
    assert parse_order(SEED_VERTICAL, "single") == parse_order(SEED_VERTICAL, "multi")


# --- every strategy type, valid -------------------------------------------------------------------------------

VALID = {
    "vertical": [leg("P", 200, "SELL", price=3.1), leg("P", 190, "BUY", price=1.2)],
    "straddle": [leg("C", 200, price=5.0), leg("P", 200, price=4.5)],
    "strangle": [leg("C", 210, "SELL", price=2.0), leg("P", 190, "SELL", price=1.5)],
    "butterfly": [leg("C", 190, qty=5, price=12.0), leg("C", 200, "SELL", qty=10, price=6.0),
                  leg("C", 210, qty=5, price=2.5)],
    "iron_butterfly": [leg("P", 190, price=0.5), leg("P", 200, "SELL", price=2.0), leg("C", 200, "SELL", price=2.2),
                       leg("C", 210, price=0.6)],
    "condor": [leg("C", 190), leg("C", 200, "SELL"), leg("C", 210, "SELL"), leg("C", 220)],
    "iron_condor": [leg("P", 180, price=0.3), leg("P", 190, "SELL", price=0.9), leg("C", 210, "SELL", price=1.0),
                    leg("C", 220, price=0.4)],
    "calendar": [leg("C", 200, "SELL", expiry="2025-01-17"), leg("C", 200, expiry="2025-02-21")],
    "diagonal": [leg("P", 190, "SELL", expiry="2025-01-17"), leg("P", 180, expiry="2025-02-21")],
    "ratio": [leg("C", 200, "SELL", qty=10, price=4.0), leg("C", 210, qty=20, price=1.5)],
    "custom": [leg("C", 200), leg("C", 210, "SELL"), leg("P", 210), leg("P", 200, "SELL")],
}


@pytest.mark.parametrize("strategy_type", list(VALID))
def test_every_strategy_type_accepts_legs_that_fit_it(strategy_type):
    spec = parse_order(multi(strategy_type, *VALID[strategy_type]), endpoint="multi")
    assert spec.kind == "multi" and spec.strategy_type == spec.strategy_detected == strategy_type


def test_net_price_is_signed_per_package_and_ratios_come_from_the_gcd():
    ratio = parse_order(multi("ratio", *VALID["ratio"]))
    assert (ratio.qty, [x.ratio for x in ratio.legs], [x.qty for x in ratio.legs]) == (10, [1, 2], [10, 20])
    assert ratio.limit_price == Decimal("-1.0")  # -4.00 + 2 x 1.50: a credit
    assert ratio.side == "SELL"
    fly = parse_order(multi("butterfly", *VALID["butterfly"]))
    assert (fly.qty, fly.limit_price) == (5, Decimal("2.5"))  # 12.00 - 2 x 6.00 + 2.50
    condor = parse_order(multi("iron_condor", *VALID["iron_condor"]))
    assert condor.limit_price == Decimal("-1.2")


def test_top_level_net_price_wins_and_market_carries_no_limit():
    unpriced = [{k: v for k, v in x.items() if k != "price"} for x in SEED_VERTICAL["legs"]]
    assert parse_order(multi("vertical", *unpriced, price=-0.3)).limit_price == Decimal("-0.3")
    assert parse_order({**SEED_VERTICAL, "price": 0.5}).limit_price == Decimal("0.5")
    assert parse_order({**SEED_VERTICAL, "order_type": "MARKET"}).limit_price is None


def test_custom_reports_the_template_the_legs_actually_form():
    spec = parse_order(multi("custom", *SEED_VERTICAL["legs"]))
    assert (spec.strategy_type, spec.strategy_detected) == ("custom", "vertical")


# --- every strategy type, invalid -----------------------------------------------------------------------------

BROKEN = {
    "vertical": [leg("C", 200), leg("C", 210)],
    "straddle": [leg("C", 200), leg("P", 210)],
    "strangle": [leg("C", 190), leg("P", 210)],
    "butterfly": [leg("C", 190, qty=5), leg("C", 200, "SELL", qty=10), leg("C", 220, qty=5)],
    "iron_butterfly": VALID["iron_condor"],
    "condor": [leg("C", 190), leg("C", 200), leg("C", 210, "SELL"), leg("C", 220, "SELL")],
    "iron_condor": VALID["iron_butterfly"],
    "calendar": [leg("C", 200, "SELL"), leg("C", 210, expiry="2025-02-21")],
    "diagonal": [leg("C", 200, "SELL"), leg("C", 210)],
    "ratio": [leg("C", 200, "SELL", qty=10), leg("C", 210, qty=10)],
}


@pytest.mark.parametrize("strategy_type", list(BROKEN))
def test_every_strategy_type_refuses_legs_that_break_it(strategy_type):
    with pytest.raises(ApiError) as info:
        parse_order(multi(strategy_type, *BROKEN[strategy_type]), endpoint="multi")
    [fault] = info.value.details
    assert (fault["field"], fault["reason"]) == ("legs", "STRATEGY_MISMATCH")
    assert fault["message"].startswith(f"{strategy_type} needs ")


def test_vertical_mismatch_message_says_what_a_vertical_is():
    with pytest.raises(ApiError) as info:
        parse_order(multi("vertical", leg("C", 200), leg("P", 210, "SELL")))
    assert "same type and expiry at different strikes, one bought and one sold" in info.value.details[0]["message"]


# --- malformed bodies -------------------------------------------------------------------------------------------

V = SEED_VERTICAL
MALFORMED = [
    # not an object
    ("array", [], "", "dict_type"),
    ("null", None, "", "dict_type"),
    ("string", "AAPL", "", "dict_type"),
    ("number", 42, "", "dict_type"),
    ("boolean", True, "", "dict_type"),
    # types
    ("qty as string", changed(SEED_SINGLE, "qty", "10"), "qty", "int_type"),
    ("qty float", changed(SEED_SINGLE, "qty", 1.5), "qty", "int_type"),
    ("qty bool", changed(SEED_SINGLE, "qty", True), "qty", "int_type"),
    ("qty zero", changed(SEED_SINGLE, "qty", 0), "qty", "greater_than_equal"),
    ("qty negative", changed(SEED_SINGLE, "qty", -5), "qty", "greater_than_equal"),
    ("strike zero", changed(SEED_SINGLE, "strike", 0), "strike", "greater_than"),
    ("strike negative", changed(SEED_SINGLE, "strike", -200), "strike", "greater_than"),
    ("strike string", changed(SEED_SINGLE, "strike", "200"), "strike", "float_type"),
    ("strike 4 decimals", changed(SEED_SINGLE, "strike", 200.0001), "strike", "INVALID_SYMBOL"),
    ("strike over 8 digits", changed(SEED_SINGLE, "strike", 123456.789), "strike", "INVALID_SYMBOL"),
    ("price string", changed(SEED_SINGLE, "price", "1.25"), "price", "float_type"),
    ("price negative", changed(SEED_SINGLE, "price", -0.5), "price", "greater_than"),
    ("price zero", changed(SEED_SINGLE, "price", 0), "price", "greater_than"),
    ("price NaN", changed(SEED_SINGLE, "price", float("nan")), "price", "finite_number"),
    ("price infinite", changed(SEED_SINGLE, "price", float("inf")), "price", "finite_number"),
    # dates
    ("Feb 30", changed(SEED_SINGLE, "expiry", "2025-02-30"), "expiry", "date_from_datetime_parsing"),
    ("month 13", changed(SEED_SINGLE, "expiry", "2025-13-01"), "expiry", "date_from_datetime_parsing"),
    ("unpadded date", changed(SEED_SINGLE, "expiry", "2025-1-17"), "expiry", "date_parsing"),
    ("datetime", changed(SEED_SINGLE, "expiry", "2025-01-17T00:00:00"), "expiry", "date_parsing"),
    ("date as number", changed(SEED_SINGLE, "expiry", 20250117), "expiry", "date_type"),
    ("year 1999", changed(SEED_SINGLE, "expiry", "1999-01-15"), "expiry", "INVALID_SYMBOL"),
    # enums
    ("option_type lowercase", changed(SEED_SINGLE, "option_type", "c"), "option_type", "literal_error"),
    ("option_type word", changed(SEED_SINGLE, "option_type", "CALL"), "option_type", "literal_error"),
    ("side lowercase", changed(SEED_SINGLE, "side", "buy"), "side", "literal_error"),
    ("order_type STOP", {**SEED_SINGLE, "order_type": "STOP"}, "order_type", "literal_error"),
    ("time_in_force GTD", {**SEED_SINGLE, "time_in_force": "GTD"}, "time_in_force", "literal_error"),
    ("strategy_type unknown", changed(SEED_SINGLE, "strategy_type", "spread"), "strategy_type", "union_tag_invalid"),
    ("strategy_type number", changed(SEED_SINGLE, "strategy_type", 5), "strategy_type", "union_tag_invalid"),
    # missing and extra
    ("side missing", changed(SEED_SINGLE, "side", DELETE), "side", "missing"),
    ("qty missing", changed(SEED_SINGLE, "qty", DELETE), "qty", "missing"),
    ("underlying missing", changed(SEED_SINGLE, "underlying", DELETE), "underlying", "missing"),
    ("expiry missing", changed(SEED_SINGLE, "expiry", DELETE), "expiry", "missing"),
    ("extra field", {**SEED_SINGLE, "foo": 1}, "foo", "extra_forbidden"),
    ("legs on a single", {**SEED_SINGLE, "legs": []}, "legs", "extra_forbidden"),
    # underlying and symbol
    ("underlying lowercase", changed(SEED_SINGLE, "underlying", "aapl"), "underlying", "INVALID_SYMBOL"),
    ("underlying too long", changed(SEED_SINGLE, "underlying", "AAPLXYZ"), "underlying", "INVALID_SYMBOL"),
    ("symbol and fields", {**SEED_SINGLE, "symbol": "AAPL  250117C00200000"}, "symbol", "SYMBOL_CONFLICT"),
    ("bad OSI type", {"symbol": "AAPL250117X00200000", "side": "BUY", "qty": 1, "price": 1.0,
                      "strategy_type": "single"}, "symbol", "INVALID_SYMBOL"),
    ("OSI Feb 30", {"symbol": "AAPL  250230C00200000", "side": "BUY", "qty": 1, "price": 1.0,
                    "strategy_type": "single"}, "symbol", "INVALID_SYMBOL"),
    ("symbol number", {"symbol": 123, "side": "BUY", "qty": 1, "price": 1.0}, "symbol", "string_type"),
    # price against order type
    ("LIMIT without price", changed(SEED_SINGLE, "price", DELETE), "price", "PRICE_REQUIRED"),
    ("MARKET with price", {**SEED_SINGLE, "order_type": "MARKET"}, "price", "PRICE_NOT_ALLOWED"),
    # optional fields
    ("client id with space", {**SEED_SINGLE, "client_order_id": "a b"}, "client_order_id", "string_pattern_mismatch"),
    ("client id 65 chars", {**SEED_SINGLE, "client_order_id": "x" * 65}, "client_order_id",
     "string_pattern_mismatch"),
    ("client id number", {**SEED_SINGLE, "client_order_id": 7}, "client_order_id", "string_type"),
    ("account empty", {**SEED_SINGLE, "account": ""}, "account", "string_too_short"),
    ("account 33 chars", {**SEED_SINGLE, "account": "A" * 33}, "account", "string_too_long"),
    ("account null", {**SEED_SINGLE, "account": None}, "account", "string_type"),
    # multi-leg shape
    ("legs missing", changed(V, "legs", DELETE), "legs", "missing"),
    ("legs an object", changed(V, "legs", {"0": {}}), "legs", "list_type"),
    ("legs empty", changed(V, "legs", []), "legs", "TOO_FEW_LEGS"),
    ("one leg", multi("custom", leg("C", 200)), "legs", "TOO_FEW_LEGS"),
    ("17 legs", multi("custom", *[leg("C", 100 + 5 * i) for i in range(17)]), "legs", "TOO_MANY_LEGS"),
    ("leg not an object", changed(V, "legs.1", "AAPL"), "legs.1", "model_type"),
    ("nested garbage", changed(V, "legs.0.strike", {"value": [200]}), "legs.0.strike", "float_type"),
    ("leg with legs", changed(V, "legs.1.legs", [V["legs"][0]]), "legs.1.legs", "extra_forbidden"),
    ("leg qty string", changed(V, "legs.0.qty", "10"), "legs.0.qty", "int_type"),
    ("leg strike 4 decimals", changed(V, "legs.1.strike", 210.0005), "legs.1.strike", "INVALID_SYMBOL"),
    ("leg expiry Feb 30", changed(V, "legs.1.expiry", "2025-02-30"), "legs.1.expiry", "date_from_datetime_parsing"),
    ("leg side lowercase", changed(V, "legs.1.side", "sell"), "legs.1.side", "literal_error"),
    ("leg symbol and fields", changed(V, "legs.0.symbol", "AAPL250117C00200000"), "legs.0.symbol",
     "SYMBOL_CONFLICT"),
    ("leg option_type missing", changed(V, "legs.1.option_type", DELETE), "legs.1.option_type", "missing"),
    ("mixed underlyings", changed(V, "legs.1.underlying", "MSFT"), "legs.1", "MIXED_UNDERLYINGS"),
    ("duplicate legs", multi("custom", leg("C", 200), leg("C", 200, "SELL")), "legs.1", "DUPLICATE_LEG"),
    ("ratio 4:1", multi("custom", leg("C", 200, qty=40), leg("C", 210, "SELL", qty=10)), "legs",
     "RATIO_OUT_OF_RANGE"),
    ("multi qty field", {**V, "qty": 10}, "qty", "extra_forbidden"),
    ("net price string", {**V, "price": "0.45"}, "price", "float_type"),
    ("multi LIMIT unpriced leg", changed(V, "legs.1.price", DELETE), "price", "PRICE_REQUIRED"),
    ("multi MARKET with net", {**V, "order_type": "MARKET", "price": 0.45}, "price", "PRICE_NOT_ALLOWED"),
    ("multi without strategy_type", changed(V, "strategy_type", DELETE), "strategy_type", "missing"),
    ("vertical template", changed(V, "legs.1.side", "BUY"), "legs", "STRATEGY_MISMATCH"),
]


@pytest.mark.parametrize("body, field, reason", [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_body_is_a_422_at_the_field_with_the_reason(body, field, reason):
    assert (field, reason) in faults(body)


def test_single_leg_body_on_orders_multi_is_sent_to_orders():
    assert faults(SEED_SINGLE, endpoint="multi") == [("strategy_type", "WRONG_ENDPOINT")]
    assert faults(changed(V, "strategy_type", DELETE), endpoint="multi") == [("strategy_type", "missing")]


def test_every_fault_is_reported_at_once():
    body = changed(changed(changed(V, "legs.0.qty", "10"), "legs.1.expiry", "2025-02-30"), "legs.1.side", "sell")
    assert faults({**body, "colour": "red"}) == [
        ("legs.0.qty", "int_type"), ("legs.1.expiry", "date_from_datetime_parsing"),
        ("legs.1.side", "literal_error"), ("colour", "extra_forbidden")]
    rules = multi("vertical", leg("C", 200, underlying="MSFT", price=None), leg("C", 200.0001), leg("C", 200),
                  leg("P", 200, underlying="msft"))
    assert sorted(faults(rules)) == [("legs.1.strike", "INVALID_SYMBOL"), ("legs.3.underlying", "INVALID_SYMBOL"),
                                     ("price", "PRICE_REQUIRED")]
    structure = multi("vertical", leg("C", 200, qty=40), leg("C", 200, "SELL", qty=10, underlying="MSFT"))
    assert faults(structure) == [("legs.1", "MIXED_UNDERLYINGS"), ("legs", "RATIO_OUT_OF_RANGE"),
                                 ("legs", "STRATEGY_MISMATCH")]


def test_the_malformed_table_is_broad():
    assert len({m[0] for m in MALFORMED}) == len(MALFORMED) >= 40


# --- fuzz: whatever the JSON, only ApiError comes out -------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=16)
FIELDS = ["underlying", "expiry", "strike", "option_type", "side", "qty", "price", "symbol", "strategy_type",
          "order_type", "time_in_force", "account", "client_order_id"]
plausible = {"underlying": st.sampled_from(["AAPL", "MSFT", "aapl", "", "TOOLONGX"]),
             "expiry": st.sampled_from(["2025-01-17", "2025-02-21", "2025-02-30", "1999-01-01", "2025-1-1"]),
             "strike": st.one_of(st.integers(-5, 400), st.floats(allow_nan=True), st.sampled_from([200, 210, 0.0005])),
             "option_type": st.sampled_from(["C", "P", "c"]), "side": st.sampled_from(["BUY", "SELL", "buy"]),
             "qty": st.integers(-2, 50), "price": st.one_of(st.none(), st.floats(), st.integers(-3, 30)),
             "symbol": st.sampled_from(["AAPL  250117C00200000", "AAPL250117P00210000", "BAD",
                                        "AAPL  250230C00200000"]),
             "strategy_type": st.sampled_from(["single", "vertical", "ratio", "custom", "butterfly", "iron_condor"]),
             "order_type": st.sampled_from(["LIMIT", "MARKET"])}
leg_dicts = st.fixed_dictionaries({}, optional={k: v | json_values for k, v in plausible.items()})


def mutated(base, edits):
    """``base`` with each edit (which object: the body or a leg, key, new value or DELETE) applied."""
    body = copy.deepcopy(base)
    for pick, key, value in edits:
        targets = [body, *body.get("legs", [])]
        target = targets[pick % len(targets)]
        if value is DELETE:
            target.pop(key, None)
        else:
            target[key] = value
    return body


edit = st.sampled_from(list(plausible)).flatmap(
    lambda key: st.tuples(st.integers(0, 16), st.just(key), plausible[key] | st.just(DELETE) | json_values))
edits = st.lists(edit, min_size=1, max_size=3)
valid_bodies = [SEED_SINGLE, SEED_VERTICAL, *(multi(name, *legs) for name, legs in VALID.items())]
garbage = st.one_of(
    json_values,
    st.dictionaries(st.sampled_from(FIELDS + ["legs"]), json_values, max_size=8),
    st.builds(lambda top, legs: {**top, "legs": legs}, leg_dicts, st.lists(leg_dicts, max_size=5)),
    leg_dicts,
)
near_misses = st.builds(mutated, st.sampled_from(valid_bodies), edits)


def only_api_errors(body, endpoint):
    try:
        spec = parse_order(body, endpoint=endpoint)
    except ApiError as err:
        assert err.status == 422 and err.details
        json.dumps(err.to_dict(), allow_nan=False)
    else:
        assert isinstance(spec, OrderSpec)
        json.dumps(spec.body, allow_nan=False)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=garbage, endpoint=st.sampled_from(["single", "multi"]))
def test_any_json_gives_an_order_spec_or_a_serializable_api_error(body, endpoint):
    only_api_errors(body, endpoint)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=near_misses, endpoint=st.sampled_from(["single", "multi"]))
def test_valid_bodies_with_a_few_fields_changed_give_a_spec_or_a_serializable_api_error(body, endpoint):
    only_api_errors(body, endpoint)
