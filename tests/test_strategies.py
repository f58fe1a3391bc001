"""Multi-leg templates, classification and the generic package rules, on LegSpecs built directly."""
import datetime as dt
from decimal import Decimal

import pytest

from optsim.domain import strategies
from optsim.domain.occ import make_symbol
from optsim.domain.spec import LegSpec

JAN, FEB = dt.date(2025, 1, 17), dt.date(2025, 2, 21)


def leg(right, strike, side="BUY", ratio=1, expiry=JAN, root="AAPL"):
    return LegSpec(make_symbol(root, expiry, right, Decimal(strike)), side, ratio, ratio * 10, None)


B, S = "BUY", "SELL"

GOOD = {
    "vertical": [leg("C", 200, B), leg("C", 210, S)],
    "straddle": [leg("C", 200, B), leg("P", 200, B)],
    "strangle": [leg("C", 210, S), leg("P", 190, S)],
    "butterfly": [leg("C", 190, B), leg("C", 200, S, 2), leg("C", 210, B)],
    "iron_butterfly": [leg("P", 190, B), leg("P", 200, S), leg("C", 200, S), leg("C", 210, B)],
    "condor": [leg("C", 190, B), leg("C", 200, S), leg("C", 210, S), leg("C", 220, B)],
    "iron_condor": [leg("P", 180, B), leg("P", 190, S), leg("C", 210, S), leg("C", 220, B)],
    "calendar": [leg("C", 200, S, expiry=JAN), leg("C", 200, B, expiry=FEB)],
    "diagonal": [leg("C", 200, S, expiry=JAN), leg("C", 210, B, expiry=FEB)],
    "ratio": [leg("C", 200, S), leg("C", 210, B, 2)],
}

# (named template, legs that break it, the template they do form)
BAD = [
    ("vertical", [leg("C", 200, B), leg("P", 210, S)], "custom"),
    ("vertical", [leg("C", 200, B), leg("C", 200, S, expiry=FEB)], "calendar"),
    ("vertical", [leg("C", 200, B), leg("C", 210, S, 2)], "ratio"),
    ("vertical", [leg("C", 200, B), leg("C", 210, B)], "custom"),
    ("straddle", [leg("C", 210, B), leg("P", 190, B)], "strangle"),
    ("straddle", [leg("C", 200, B), leg("P", 200, S)], "custom"),
    ("strangle", [leg("C", 190, B), leg("P", 210, B)], "custom"),
    ("strangle", [leg("C", 200, B), leg("P", 200, B)], "straddle"),
    ("butterfly", [leg("C", 190, B), leg("C", 200, S, 2), leg("C", 215, B)], "custom"),
    ("butterfly", [leg("C", 190, B), leg("C", 200, S), leg("C", 210, B)], "custom"),
    ("butterfly", [leg("C", 190, B), leg("P", 200, S, 2), leg("C", 210, B)], "custom"),
    ("iron_butterfly", GOOD["iron_condor"], "iron_condor"),
    ("iron_butterfly", [leg("P", 190, B), leg("P", 200, S), leg("C", 200, S), leg("C", 215, B)], "custom"),
    ("condor", [leg("C", 190, B), leg("C", 200, B), leg("C", 210, S), leg("C", 220, S)], "custom"),
    ("condor", GOOD["iron_condor"], "iron_condor"),
    ("iron_condor", GOOD["iron_butterfly"], "iron_butterfly"),
    ("iron_condor", [leg("P", 180, B), leg("P", 190, S), leg("C", 210, B), leg("C", 220, S)], "custom"),
    ("calendar", GOOD["diagonal"], "diagonal"),
    ("calendar", [leg("C", 200, B, expiry=JAN), leg("C", 200, B, expiry=FEB)], "custom"),
    ("diagonal", GOOD["calendar"], "calendar"),
    ("diagonal", [leg("C", 200, S, expiry=JAN), leg("P", 210, B, expiry=FEB)], "custom"),
    ("ratio", GOOD["vertical"], "vertical"),
    ("ratio", [leg("C", 200, S), leg("C", 200, B, 2)], "custom"),
    ("ratio", [leg("C", 200, S), leg("C", 210, B, 2, expiry=FEB)], "custom"),
]


def flipped(legs):
    return [LegSpec(x.symbol, S if x.side == B else B, x.ratio, x.qty, x.price) for x in legs]


@pytest.mark.parametrize("name", list(GOOD))
def test_each_template_fits_its_example_and_classifies_as_itself(name):
    assert strategies.template_fault(name, GOOD[name]) is None
    assert strategies.classify(GOOD[name]) == name


@pytest.mark.parametrize("name", list(GOOD))
def test_templates_fit_in_either_direction_and_regardless_of_leg_order(name):
    legs = flipped(GOOD[name])[::-1]
    assert strategies.classify(legs) == name


@pytest.mark.parametrize("name, legs, formed", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_a_named_template_the_legs_break_is_a_strategy_mismatch_naming_the_rule(name, legs, formed):
    fault = strategies.template_fault(name, legs)
    assert fault["field"] == "legs" and fault["reason"] == "STRATEGY_MISMATCH"
    assert fault["message"].startswith(f"{name} needs {strategies.TEMPLATES[name].rule}")
    assert fault["message"].endswith(f"these legs form {formed}")
    assert strategies.classify(legs) == formed


def test_every_template_has_a_good_and_a_bad_example():
    assert set(GOOD) == set(strategies.TEMPLATES) == {name for name, _, _ in BAD}
    assert strategies.MULTI_STRATEGIES == (*strategies.TEMPLATES, "custom")


def test_custom_has_no_template_and_a_box_classifies_as_custom():
    box = [leg("C", 200, B), leg("C", 210, S), leg("P", 210, B), leg("P", 200, S)]
    assert strategies.template_fault("custom", box) is None
    assert strategies.classify(box) == "custom"


@pytest.mark.parametrize("qtys, expected", [
    ([10, 10], (10, (1, 1))),
    ([20, 40], (20, (1, 2))),
    ([2, 4, 2], (2, (1, 2, 1))),
    ([3, 7], (1, (3, 7))),
])
def test_package_qty_is_the_gcd_and_ratios_are_in_lowest_terms(qtys, expected):
    assert strategies.package_ratios(qtys) == expected


@pytest.mark.parametrize("n, reason", [(0, "TOO_FEW_LEGS"), (1, "TOO_FEW_LEGS"), (2, None), (16, None),
                                       (17, "TOO_MANY_LEGS")])
def test_leg_count_is_two_to_sixteen(n, reason):
    fault = strategies.leg_count_fault(n)
    assert (fault["reason"] if fault else None) == reason


def test_structure_faults_name_the_offending_leg():
    legs = [leg("C", 200), leg("C", 210, root="MSFT"), leg("C", 200, S)]
    assert [(f["field"], f["reason"]) for f in strategies.structure_faults(legs)] == [
        ("legs.1", "MIXED_UNDERLYINGS"), ("legs.2", "DUPLICATE_LEG")]


@pytest.mark.parametrize("ratios, ok", [((1, 3), True), ((3, 1, 2), True), ((1, 4), False), ((4, 1), False),
                                        ((2, 7), False)])
def test_ratios_between_legs_stay_within_one_to_three(ratios, ok):
    legs = [leg("C", 200 + 10 * i, ratio=r) for i, r in enumerate(ratios)]
    reasons = [f["reason"] for f in strategies.structure_faults(legs)]
    assert reasons == ([] if ok else ["RATIO_OUT_OF_RANGE"])
