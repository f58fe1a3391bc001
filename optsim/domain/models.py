"""Request models for POST /orders and POST /orders/multi, and ``parse_order``: decoded JSON in, ``OrderSpec`` out.

Two passes, each reporting every fault it finds. First pydantic checks shape and types (strict: "10" is not a
quantity; unknown fields are refused; the reason is pydantic's error type). Then the rules that need several
fields at once add UPPER_SNAKE reasons: the OCC series, price against order type, and for multi-leg orders the
generic package rules and the named template (``strategies``). Listing, expiry against today, ticks and collars
are risk checks against the chain, not parsing.

Our reasons: INVALID_SYMBOL (the field at fault, or ``symbol``), SYMBOL_CONFLICT, PRICE_REQUIRED, PRICE_NOT_ALLOWED,
WRONG_ENDPOINT, and from ``strategies``: TOO_FEW_LEGS, TOO_MANY_LEGS, MIXED_UNDERLYINGS, DUPLICATE_LEG,
RATIO_OUT_OF_RANGE, STRATEGY_MISMATCH. A body that is not an object is ``dict_type`` at field "".

Net price convention (multi-leg): per package, sum of side x ratio x leg price with BUY = +1 and SELL = -1, so
> 0 is a debit (paid), < 0 a credit (received). A top-level ``price`` is that signed net and wins over leg prices.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import PydanticKnownError

from . import strategies
from ..errors import detail, validation_failed
from .occ import OccError, OccSymbol, make_symbol, parse_symbol, to_decimal
from .spec import LegSpec, OrderSpec

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date_string(value: Any) -> Any:
    """Only "YYYY-MM-DD" reaches date parsing: no timestamps, no datetimes, no "2025-1-7"."""
    if not isinstance(value, str):
        raise PydanticKnownError("date_type")
    if not _ISO_DATE.fullmatch(value):
        raise PydanticKnownError("date_parsing", {"error": "expected YYYY-MM-DD"})
    return value


Side = Literal["BUY", "SELL"]
Qty = Annotated[int, Field(ge=1, le=1_000_000)]  # bounded so no quantity overflows storage
Premium = Annotated[float, Field(ge=0, allow_inf_nan=False)]  # a multi-leg leg's price may be 0 (the net rules)
LimitPrice = Annotated[float, Field(gt=0, allow_inf_nan=False)]  # single leg: 0 buys nothing and sells for free
NetPrice = Annotated[float, Field(allow_inf_nan=False)]  # signed: > 0 debit, < 0 credit
Strike = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Expiry = Annotated[dt.date, Field(strict=False), BeforeValidator(_iso_date_string)]  # lax only after the format check
ClientOrderId = Annotated[str, Field(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]

# An account shows in logs, the dashboard and the token table, so it is plain printable ASCII: no NUL, control,
# newline, bidi-override or zero-width character can hide in it. One pattern, so /openapi.json states the same rule.
Account = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._:@/-]([A-Za-z0-9 ._:@/-]*[A-Za-z0-9._:@/-])?$")]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class Contract(_Strict):
    """One option series: an OSI ``symbol`` (padded or not), or its four fields, never both."""

    symbol: str | None = None
    underlying: str | None = None
    expiry: Expiry | None = None
    strike: Strike | None = None
    option_type: Literal["C", "P"] | None = None


class Leg(Contract):
    side: Side
    qty: Qty  # absolute contracts; the package ratio is derived
    price: Premium | None = None


class OrderOptions(_Strict):
    client_order_id: ClientOrderId | None = None
    order_type: Literal["LIMIT", "MARKET"] = "LIMIT"
    time_in_force: Literal["DAY", "GTC", "IOC", "FOK", "GTX", "ALO"] = "DAY"  # GTX, ALO: post-only DAY
    post_only: bool | None = None  # add liquidity only: an order that would take is refused, never filled as taker
    account: Account = "DEFAULT"


class SingleLegOrder(Leg, OrderOptions):
    strategy_type: Literal["single"]
    price: LimitPrice | None = None


class MultiLegOrder(OrderOptions):
    strategy_type: Literal[strategies.MULTI_STRATEGIES]
    # the bounds strategies.check_legs enforces (reason TOO_FEW_LEGS / TOO_MANY_LEGS), stated in the schema too
    legs: Annotated[list[Leg], Field(json_schema_extra={"minItems": strategies.MIN_LEGS,
                                                        "maxItems": strategies.MAX_LEGS})]
    price: NetPrice | None = None  # net limit per package; else derived from leg prices


class ReplaceRequest(_Strict):
    """Cancel/replace: a new limit ``price`` (single: premium > 0; multi: signed net) and/or total ``qty``."""

    price: NetPrice | None = None
    qty: Qty | None = None


def parse_replace(body: Any) -> tuple[Decimal | None, int | None]:
    """Validate a PATCH /orders/<id> body; raises ApiError 422 naming each bad field."""
    if not isinstance(body, dict):
        raise validation_failed([detail("", "dict_type", f"the body must be a JSON object, not {_json_type(body)}")])
    try:
        req = ReplaceRequest.model_validate(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise validation_failed([detail(".".join(map(str, e["loc"])), e["type"], e["msg"]) for e in errors]) from None
    if req.price is None and req.qty is None:
        raise validation_failed([detail("", "missing", "give a new price, a new qty, or both")])
    return _decimal(req.price), req.qty


OrderRequest = Annotated[SingleLegOrder | MultiLegOrder, Field(discriminator="strategy_type")]
_REQUEST: TypeAdapter[SingleLegOrder | MultiLegOrder] = TypeAdapter(OrderRequest)
_CONTRACT_FIELDS = ("underlying", "expiry", "strike", "option_type")
_STRATEGY_NAMES = ", ".join(("single", *strategies.MULTI_STRATEGIES))


def parse_order(body: Any, endpoint: Literal["single", "multi"] = "single") -> OrderSpec:
    """Validate a decoded JSON body for POST /orders ("single") or POST /orders/multi ("multi").

    POST /orders takes both shapes, dispatched on ``strategy_type`` (a body with neither ``strategy_type`` nor
    ``legs`` is a single-leg order); POST /orders/multi takes multi-leg shapes only.

    Returns
    -------
    OrderSpec
        Legs with padded OCC symbols and lowest-terms ratios, Decimal prices, the detected template, and
        ``body``: the parsed request with defaults and sorted keys, to tell an idempotent retry from a new order.

    Raises
    ------
    ApiError
        422 ``validation_failed``; ``details`` holds every fault found as ``{"field": "legs.1.strike",
        "reason": ..., "message": ...}`` (field "" is the body itself). Nothing else is raised for any body.
    """
    request = _validate(body, endpoint)
    faults: list[dict] = []
    build = _single if isinstance(request, SingleLegOrder) else _multi
    spec = build(request, faults)  # None exactly when it recorded faults
    if spec is None:
        raise validation_failed(faults)
    return spec


def _validate(body: Any, endpoint: str) -> SingleLegOrder | MultiLegOrder:
    if not isinstance(body, dict):
        raise validation_failed([detail("", "dict_type", f"the body must be a JSON object, not {_json_type(body)}")])
    if endpoint == "multi" and body.get("strategy_type") == "single":
        raise validation_failed([detail("strategy_type", "WRONG_ENDPOINT",
                                        "single-leg orders go to POST /orders; POST /orders/multi takes "
                                        "multi-leg strategies")])
    if endpoint == "single" and "strategy_type" not in body and "legs" not in body:
        body = {**body, "strategy_type": "single"}
    try:
        return _REQUEST.validate_python(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise validation_failed([_pydantic_detail(e) for e in errors]) from None


def _pydantic_detail(error: dict) -> dict:
    """A pydantic error as a detail; the discriminated union's tag is dropped from the path."""
    if error["type"] == "union_tag_not_found":
        return detail("strategy_type", "missing", f"Field required: one of {_STRATEGY_NAMES}")
    if error["type"] == "union_tag_invalid":
        return detail("strategy_type", error["type"], error["msg"])
    return detail(".".join(str(part) for part in error["loc"][1:]), error["type"], error["msg"])


def _json_type(value: Any) -> str:
    names = {type(None): "null", bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "an array"}
    return names.get(type(value), type(value).__name__)


def _series(contract: Contract, path: str, faults: list[dict]) -> OccSymbol | None:
    """The leg's OCC series, from ``symbol`` or from its four fields; on a fault, record it and return None."""
    given = [name for name in _CONTRACT_FIELDS if getattr(contract, name) is not None]
    if contract.symbol is not None and given:
        faults.append(detail(f"{path}symbol", "SYMBOL_CONFLICT",
                             f"give symbol or {', '.join(_CONTRACT_FIELDS)}, not both (also got {', '.join(given)})"))
        return None
    try:
        if contract.symbol is not None:
            return parse_symbol(contract.symbol)
        missing = [name for name in _CONTRACT_FIELDS if name not in given]
        if missing:
            faults.extend(detail(f"{path}{name}", "missing", "Field required (or give symbol)") for name in missing)
            return None
        return _field_symbol(contract.underlying, contract.expiry, contract.option_type, contract.strike)
    except OccError as exc:
        faults.append(detail(f"{path}{'symbol' if contract.symbol is not None else exc.field}", exc.code, str(exc)))
        return None


@functools.lru_cache(maxsize=8192, typed=True)  # clients name the same few series again and again
def _field_symbol(root: str, expiry: dt.date, right: str, strike: float) -> OccSymbol:
    """``make_symbol`` for a leg given by its four fields (a refused one raises each time: nothing is cached)."""
    return make_symbol(root, expiry, right, strike)


def _decimal(price: float | None) -> Decimal | None:
    return None if price is None else to_decimal(price)


def _canonical(request: BaseModel) -> dict:
    """The parsed request with its defaults and nulls dropped, in JSON types: equal for an idempotent retry
    (the store keeps it with sorted keys)."""
    return request.model_dump(mode="json", exclude_none=True)


POST_ONLY_TIFS = ("GTX", "ALO")  # the exchanges' names for a post-only (add liquidity only) day order


def _options(request: OrderOptions) -> dict:
    post_only = bool(request.post_only) or request.time_in_force in POST_ONLY_TIFS
    tif = "DAY" if request.time_in_force in POST_ONLY_TIFS else request.time_in_force
    return {"order_type": request.order_type, "time_in_force": tif, "post_only": post_only,
            "account": request.account, "client_order_id": request.client_order_id}


def _option_faults(request: OrderOptions) -> list[dict]:
    """Order type, time in force and post-only that cannot go together."""
    if not (request.post_only or request.time_in_force in POST_ONLY_TIFS):
        return []
    if request.order_type == "MARKET":
        return [detail("post_only", "POST_ONLY_CONFLICT", "a MARKET order takes liquidity; post-only needs a LIMIT")]
    if request.time_in_force in ("IOC", "FOK"):
        return [detail("time_in_force", "POST_ONLY_CONFLICT",
                       f"{request.time_in_force} never rests; post-only goes with DAY or GTC")]
    return []


def _single(request: SingleLegOrder, faults: list[dict]) -> OrderSpec | None:
    symbol = _series(request, "", faults)
    if request.order_type == "LIMIT" and request.price is None:
        faults.append(detail("price", "PRICE_REQUIRED", "a LIMIT order needs a price"))
    if request.order_type == "MARKET" and request.price is not None:
        faults.append(detail("price", "PRICE_NOT_ALLOWED", "a MARKET order must not carry a price"))
    faults.extend(_option_faults(request))
    if faults or symbol is None:
        return None
    price = _decimal(request.price)
    leg = LegSpec(symbol=symbol, side=request.side, ratio=1, qty=request.qty, price=price)
    return OrderSpec(kind="single", strategy_type="single", strategy_detected="single", legs=(leg,),
                     qty=request.qty, limit_price=price, body=_canonical(request), **_options(request))


def _multi(request: MultiLegOrder, faults: list[dict]) -> OrderSpec | None:
    count_fault = strategies.leg_count_fault(len(request.legs))
    if count_fault:
        faults.append(count_fault)
    symbols = [_series(leg, f"legs.{i}.", faults) for i, leg in enumerate(request.legs)]
    unpriced = [str(i) for i, leg in enumerate(request.legs) if leg.price is None]
    if request.order_type == "LIMIT" and request.price is None and unpriced:
        faults.append(detail("price", "PRICE_REQUIRED", "a LIMIT order needs a net price or a price on every leg "
                                                        f"(legs {', '.join(unpriced)} have none)"))
    if request.order_type == "MARKET" and request.price is not None:
        faults.append(detail("price", "PRICE_NOT_ALLOWED", "a MARKET order must not carry a net price"))
    faults.extend(_option_faults(request))
    if not request.legs or None in symbols:
        return None
    qty, ratios = strategies.package_ratios([leg.qty for leg in request.legs])
    legs = tuple(LegSpec(symbol=symbol, side=leg.side, ratio=ratio, qty=leg.qty, price=_decimal(leg.price))
                 for symbol, leg, ratio in zip(symbols, request.legs, ratios))
    faults.extend(strategies.structure_faults(legs))
    mismatch = strategies.template_fault(request.strategy_type, legs)
    if mismatch:
        faults.append(mismatch)
    if faults:
        return None
    return OrderSpec(kind="multi", strategy_type=request.strategy_type, strategy_detected=strategies.classify(legs),
                     legs=legs, qty=qty, limit_price=_net_price(request, legs), body=_canonical(request),
                     **_options(request))


def _net_price(request: MultiLegOrder, legs: tuple[LegSpec, ...]) -> Decimal | None:
    """The top-level net if given, else sum of side x ratio x leg price; None for MARKET."""
    if request.order_type == "MARKET":
        return None
    if request.price is not None:
        return to_decimal(request.price)
    return sum((leg.sign * leg.ratio * leg.price for leg in legs), start=Decimal(0))


__all__ = ["parse_order", "parse_replace", "ReplaceRequest", "SingleLegOrder", "MultiLegOrder", "Leg", "Contract", "OrderOptions", "OrderRequest"]
