"""Multi-leg structure (DOMAIN §3): the generic package rules, the named templates, and classification.

Legs carry absolute quantities; the package quantity is their gcd and each leg's ratio is qty / gcd, so ratios
are always in lowest terms. With ratios reduced, each template reads like the DOMAIN table row it comes from.
Every template accepts both directions: a vertical, condor or iron condor bought or sold is the same structure.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..errors import detail
from .spec import LegSpec

MIN_LEGS = 2
MAX_LEGS = 16  # Cboe C1/C2/EDGX since Aug 2021
MAX_RATIO = 3  # 1:3 .. 3:1 between option legs

Legs = Sequence[LegSpec]


def package_ratios(qtys: Sequence[int]) -> tuple[int, tuple[int, ...]]:
    """Package quantity (gcd of the leg quantities) and each leg's ratio in lowest terms."""
    qty = math.gcd(*qtys)
    return qty, tuple(q // qty for q in qtys)


# --- generic rules, for every multi-leg order ("custom" included) -------------------------------------------

def leg_count_fault(n: int) -> dict | None:
    if n < MIN_LEGS:
        return detail("legs", "TOO_FEW_LEGS", f"a multi-leg order needs at least {MIN_LEGS} legs, got {n}")
    if n > MAX_LEGS:
        return detail("legs", "TOO_MANY_LEGS", f"a multi-leg order has at most {MAX_LEGS} legs, got {n}")
    return None


def structure_faults(legs: Legs) -> list[dict]:
    """One underlying, no series twice, ratios within 1:3..3:1 (DOMAIN §3)."""
    faults = []
    root = legs[0].symbol.root
    first_seen: dict = {}
    for i, leg in enumerate(legs):
        if leg.symbol.root != root:
            faults.append(detail(f"legs.{i}", "MIXED_UNDERLYINGS",
                                 f"every leg must be on {root} (legs.0), this one is on {leg.symbol.root}"))
        if leg.symbol in first_seen:
            faults.append(detail(f"legs.{i}", "DUPLICATE_LEG",
                                 f"{leg.symbol.padded} is already legs.{first_seen[leg.symbol]}"))
        first_seen.setdefault(leg.symbol, i)
    ratios = [leg.ratio for leg in legs]
    if max(ratios) > MAX_RATIO * min(ratios):
        faults.append(detail("legs", "RATIO_OUT_OF_RANGE",
                             f"leg ratios {':'.join(map(str, ratios))} exceed {MAX_RATIO}:1 between legs"))
    return faults


# --- predicates the templates are built from -------------------------------------------------------------------

def _one(values) -> bool:
    return len(set(values)) == 1


def _distinct(values) -> bool:
    values = list(values)
    return len(set(values)) == len(values)


def _rights(legs: Legs) -> list[str]:
    return sorted(leg.symbol.right for leg in legs)


def _one_type(legs: Legs) -> bool:
    return _one(leg.symbol.right for leg in legs)


def _one_expiry(legs: Legs) -> bool:
    return _one(leg.symbol.expiry for leg in legs)


def _one_side(legs: Legs) -> bool:
    return _one(leg.side for leg in legs)


def _strikes(legs: Legs) -> list:
    return [leg.symbol.strike for leg in legs]


def _unit(legs: Legs) -> bool:
    return all(leg.ratio == 1 for leg in legs)


def _by_strike(legs: Legs) -> list[LegSpec]:
    return sorted(legs, key=lambda leg: leg.symbol.strike)


def _spread(legs: Legs) -> bool:
    """Two legs of one option type, one bought and one sold."""
    return len(legs) == 2 and _one_type(legs) and not _one_side(legs)


# --- the templates (DOMAIN §3 table) ----------------------------------------------------------------------------

def _vertical(legs: Legs) -> bool:
    return _spread(legs) and _one_expiry(legs) and _distinct(_strikes(legs)) and _unit(legs)


def _straddle(legs: Legs) -> bool:
    return (len(legs) == 2 and _rights(legs) == ["C", "P"] and _one_expiry(legs) and _one(_strikes(legs))
            and _one_side(legs) and _unit(legs))


def _strangle(legs: Legs) -> bool:
    if not (len(legs) == 2 and _rights(legs) == ["C", "P"] and _one_expiry(legs) and _one_side(legs)
            and _unit(legs)):
        return False
    call, put = sorted(legs, key=lambda leg: leg.symbol.right)
    return call.symbol.strike > put.symbol.strike


def _butterfly(legs: Legs) -> bool:
    if not (len(legs) == 3 and _one_type(legs) and _one_expiry(legs)):
        return False
    low, body, high = _by_strike(legs)
    k1, k2, k3 = _strikes((low, body, high))
    return (k1 < k2 < k3 and k2 - k1 == k3 - k2 and (low.ratio, body.ratio, high.ratio) == (1, 2, 1)
            and low.side == high.side != body.side)


def _iron(legs: Legs) -> tuple[LegSpec, ...] | None:
    """(put wing, put body, call body, call wing): puts below calls, wings on one side, body on the other, 1:1:1:1."""
    if not (len(legs) == 4 and _rights(legs) == ["C", "C", "P", "P"] and _one_expiry(legs) and _unit(legs)):
        return None
    put_wing, put_body = _by_strike([leg for leg in legs if leg.symbol.right == "P"])
    call_body, call_wing = _by_strike([leg for leg in legs if leg.symbol.right == "C"])
    if not (put_wing.side == call_wing.side != put_body.side == call_body.side):
        return None
    if not (put_wing.symbol.strike < put_body.symbol.strike and call_body.symbol.strike < call_wing.symbol.strike):
        return None
    return put_wing, put_body, call_body, call_wing


def _iron_butterfly(legs: Legs) -> bool:
    iron = _iron(legs)
    if iron is None:
        return False
    k1, k2, k2c, k3 = _strikes(iron)
    return k2 == k2c and k2 - k1 == k3 - k2


def _condor(legs: Legs) -> bool:
    if not (len(legs) == 4 and _one_type(legs) and _one_expiry(legs) and _unit(legs)):
        return False
    ordered = _by_strike(legs)
    k1, k2, k3, k4 = _strikes(ordered)
    s1, s2, s3, s4 = (leg.side for leg in ordered)
    return k1 < k2 < k3 < k4 and s1 == s4 != s2 == s3


def _iron_condor(legs: Legs) -> bool:
    iron = _iron(legs)
    return iron is not None and iron[1].symbol.strike < iron[2].symbol.strike


def _calendar(legs: Legs) -> bool:
    return _spread(legs) and _one(_strikes(legs)) and not _one_expiry(legs) and _unit(legs)


def _diagonal(legs: Legs) -> bool:
    return _spread(legs) and _distinct(_strikes(legs)) and not _one_expiry(legs) and _unit(legs)


def _ratio(legs: Legs) -> bool:
    return (_spread(legs) and _one_expiry(legs) and _distinct(_strikes(legs))
            and sorted(leg.ratio for leg in legs) in ([1, 2], [1, 3]))


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    rule: str  # the structure in words, for the 422 message
    fits: Callable[[Legs], bool]


TEMPLATES: dict[str, Template] = {t.name: t for t in (
    Template("vertical", "two legs of the same type and expiry at different strikes, one bought and one sold, 1:1",
             _vertical),
    Template("straddle", "a call and a put at the same strike and expiry, both bought or both sold, 1:1", _straddle),
    Template("strangle", "a call and a put at the same expiry, both bought or both sold, the call strike above "
                         "the put strike, 1:1", _strangle),
    Template("butterfly", "three legs of one type and expiry at equally spaced strikes K1<K2<K3, ratios 1:2:1, "
                          "the middle strike on the other side from the wings", _butterfly),
    Template("iron_butterfly", "four legs at one expiry: put K1, put K2, call K2, call K3 with K2-K1 = K3-K2, "
                               "the K2 body on the other side from the wings, 1:1:1:1", _iron_butterfly),
    Template("condor", "four legs of one type and expiry at strikes K1<K2<K3<K4, the outer two on one side and "
                       "the inner two on the other, 1:1:1:1", _condor),
    Template("iron_condor", "four legs at one expiry: put K1 < put K2 < call K3 < call K4, the outer wings on one "
                            "side and the inner body on the other, 1:1:1:1", _iron_condor),
    Template("calendar", "two legs of the same type and strike at different expiries, one bought and one sold, 1:1",
             _calendar),
    Template("diagonal", "two legs of the same type at different strikes and expiries, one bought and one sold, "
                         "1:1", _diagonal),
    Template("ratio", "two legs of the same type and expiry at different strikes, one bought and one sold, "
                      "ratio 1:2 or 1:3", _ratio),
)}

MULTI_STRATEGIES: tuple[str, ...] = (*TEMPLATES, "custom")


def classify(legs: Legs) -> str:
    """The template these legs form, or "custom" when none fits."""
    return next((t.name for t in TEMPLATES.values() if t.fits(legs)), "custom")


def template_fault(strategy_type: str, legs: Legs) -> dict | None:
    """STRATEGY_MISMATCH when the named template does not fit; "custom" has no template."""
    template = TEMPLATES.get(strategy_type)
    if template is None or template.fits(legs):
        return None
    return detail("legs", "STRATEGY_MISMATCH",
                  f"{strategy_type} needs {template.rule}; these legs form {classify(legs)}")
