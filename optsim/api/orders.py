"""Order entry and lifecycle: POST /orders, POST /orders/multi, GET /orders, GET/DELETE/PATCH /orders/<id>."""
from __future__ import annotations

import codecs
import functools
import json
import re
import time

import orjson
from flask import Blueprint, Flask, Response, current_app, jsonify, request
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Request

from ..trading.desk import DeskError
from ..errors import ApiError, detail, payload_too_large, unknown_names, validation_failed
from ..domain.models import parse_order, parse_replace
from ..domain.occ import OccError, parse_symbol
from ..trading.risk import http_status
from . import desk
from .auth import not_yours, order_caller
from .params import bounded_int

bp = Blueprint("orders", __name__)

BEFORE_PATTERN = "^((ORD-)?[0-9]{1,12})?$"  # empty: from the newest
_BEFORE = re.compile(BEFORE_PATTERN)
_LONG_NUMBER = re.compile(rb"\d{19}")
STATUSES = ("working", "partially_filled", "filled", "cancelled", "rejected", "expired")



def resolved() -> tuple[Request, Flask]:
    """The request and the app behind Flask's proxies. Each attribute read through a proxy costs a failed
    lookup and a Python call: the eight an order made were ~3.5 % of its instructions (callgrind)."""
    return request._get_current_object(), current_app._get_current_object()


def json_body(req: Request, raw: bytes):
    """``raw``, the body of ``req``, decoded as JSON, or 415/400 in the common error shape."""
    mimetype = req.mimetype or ""
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(415, "unsupported_media_type", "send the order as JSON with Content-Type: application/json",
                       [detail("Content-Type", "UNSUPPORTED_MEDIA_TYPE", f"got {mimetype or 'none'!r}")])
    if raw.startswith(codecs.BOM_UTF8):  # some Windows tools put a byte-order mark before the JSON
        raw = raw[len(codecs.BOM_UTF8):]
    if not _LONG_NUMBER.search(raw) and b"\\u" not in raw:  # orjson: no big ints (read as floats), no \\u (_no_key_dropped)
        try:
            body = orjson.loads(raw)  # the order path's parse: several times faster than json
        except orjson.JSONDecodeError:
            body = None  # not plain JSON to orjson: let json decide, so edge cases keep their answers (1e400 is a 422)
        else:
            if _no_key_dropped(raw, body):
                return body
            # orjson keeps the last of a duplicated key: json below names the key in a 400
    try:
        return json.loads(raw, parse_constant=_no_constants, object_pairs_hook=_unique_keys)
    except DuplicateKey as exc:
        raise ApiError(400, "malformed_json", str(exc), [detail(exc.key, "DUPLICATE_KEY", str(exc))]) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "malformed_json", "the body is not valid JSON",
                       [detail("", "MALFORMED_JSON", str(exc))]) from None
    except RecursionError:  # deeply nested arrays/objects exhaust the decoder's stack
        raise ApiError(400, "malformed_json", "the body is nested too deeply",
                       [detail("", "MALFORMED_JSON", "JSON nesting is too deep")]) from None


def _raw_body(req: Request, app: Flask) -> bytes:
    """The body's bytes, or 413. They are read straight from the server's buffer (waitress holds the whole body
    before the request runs, and gives a chunked one its length): werkzeug's stream wrapper cost more than the
    JSON parse, and it cuts a chunked body at the limit without a word, which then reads as malformed JSON."""
    limit = app.config["MAX_CONTENT_LENGTH"]
    length = req.content_length
    if length is not None:
        if length > limit:
            raise payload_too_large(limit)
        return req.environ["wsgi.input"].read(length)
    if not req.environ.get("wsgi.input_terminated"):
        return b""  # no length and no end marked: WSGI gives no body to read
    raw = req.environ["wsgi.input"].read(limit + 1)  # a byte past the limit tells an oversized body
    if len(raw) > limit:
        raise payload_too_large(limit)
    return raw


def _no_key_dropped(raw: bytes, body) -> bool:
    """Every ``:`` in the text is a key's or one inside a string that survived the parse: no duplicate key.

    A duplicate key drops a key (and with it the colons of its value); without ``\\u`` escapes a parsed
    string has no colon the text did not, so the counts match only when nothing was dropped. (orjson
    gives exact ``dict``, ``list`` and ``str``, so types are compared, not ``isinstance``d: this runs on
    every order.)
    """
    keys = colons = 0
    stack = [body]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            keys += len(item)
            for key in item:
                colons += key.count(":")
            values = item.values()
        elif kind is list:
            values = item
        else:
            colons += item.count(":") if kind is str else 0
            continue
        for value in values:
            kind = type(value)
            if kind is str:
                colons += value.count(":")
            elif kind is dict or kind is list:
                stack.append(value)
    return raw.count(b":") == keys + colons


class DuplicateKey(ValueError):
    """A JSON object names a key twice: refused rather than letting the last one silently win."""

    def __init__(self, key: str):
        super().__init__(f"the key {key!r} appears more than once in one object")
        self.key = key


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        raise DuplicateKey(next(k for k, _ in pairs if k in seen or seen.add(k)))
    return obj


def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON number")


def enter(endpoint: str, req: Request, app: Flask) -> Response | OrderAnswer:
    """The order path's HTTP face; every request, good or bad, is timed into the latency histogram."""
    started = time.perf_counter()
    d = app.extensions["desk"]
    try:
        return _answer(d, endpoint, req, app)
    finally:
        elapsed = time.perf_counter() - started
        d.metrics.latency.observe(elapsed)
        d.stats.latency(elapsed)


#: Order entry as the gateway answers it ahead of Flask (``gateway.py``): path -> handler(request, app).
ENTRY = {"/orders": functools.partial(enter, "single"), "/orders/multi": functools.partial(enter, "multi")}


class OrderAnswer:
    """An accepted order's answer as a WSGI app: its status line and headers written as they are, its body once.

    werkzeug's ``Response`` builds a header map, cleans the status, wraps the body in iterators and runs a
    ``Location`` through its IRI-to-URI conversion (``urlsplit`` and re-quoting every part), with nothing to
    convert in ``/orders/ORD-00000042``: 42 k of an order's 560 k instructions in process (callgrind). A Flask
    route returning one gets the same headers (Flask runs it as a WSGI app).
    """

    __slots__ = ("status", "headers", "body")

    def __init__(self, order: dict, status: int):
        self.body = orjson.dumps(order)
        self.status = _STATUS_LINES[status]
        self.headers = [("Content-Type", "application/json"), ("Content-Length", str(len(self.body))),
                        ("Location", f"/orders/{order['order_id']}")]
        if status == 200:
            self.headers.append(("Idempotent-Replayed", "true"))

    def __call__(self, environ: dict, start_response) -> list[bytes]:
        start_response(self.status, self.headers)
        return [self.body]


_STATUS_LINES = {code: f"{code} {HTTP_STATUS_CODES[code].upper()}" for code in (200, 201)}  # as werkzeug writes them


def _answer(d, endpoint: str, req: Request, app: Flask) -> Response | OrderAnswer:
    caller = order_caller(req, app.config["OPTSIM_CONFIG"])
    try:
        spec = parse_order(json_body(req, _raw_body(req, app)), endpoint=endpoint)
    except ApiError:
        d.record_invalid()
        raise
    if not caller.may_act_for(spec.account):
        raise not_yours(caller, spec.account, "account", "an order")
    d.faults.delay()
    status, order = d.submit(spec)
    if order["status"] == "rejected":
        r = order["reject"]
        error = ApiError(status, "risk_reject", r["message"], [detail(r["field"], r["reason"], r["message"])],
                         reason=r["reason"], order=order)
        if status != 200:
            raise error
        # an idempotent retry of a rejected order: the same reject again, marked as a replay
        response = app.json.response(error.to_dict())
        response.status_code = http_status(r["reason"])
        response.headers["Idempotent-Replayed"] = "true"
        return response
    return OrderAnswer(order, status)


@bp.post("/orders")
def post_order():
    """Single-leg order (a multi-leg body is accepted here too, by its strategy_type). The gateway answers it
    ahead of Flask; this route is the reference it is held to (tests/test_gateway.py)."""
    return enter("single", *resolved())


@bp.post("/orders/multi")
def post_multi():
    """Multi-leg order: legs with absolute quantities, filled as one package at a net price (as above)."""
    return enter("multi", *resolved())


@bp.get("/orders")
def list_orders():
    args = request.args
    faults = []
    faults += unknown_names(args, ("symbol", "underlying", "status", "account", "limit", "before"), "UNKNOWN_FILTER",
                            "a filter")
    status = args.get("status")
    if status and status not in STATUSES:
        faults.append(detail("status", "BAD_FILTER", f"status must be one of {', '.join(STATUSES)}"))
    symbol = args.get("symbol")
    if symbol:
        try:
            symbol = parse_symbol(symbol).padded
        except OccError as exc:
            faults.append(detail("symbol", exc.code, str(exc)))
    limit = _int_arg("limit", 100, 1, 1000, faults)
    before = _before(args.get("before") or "", faults)
    if faults:
        raise validation_failed(faults)
    orders = desk().store.list_orders(underlying=(args.get("underlying") or "").upper() or None, symbol=symbol,
                                      status=status, account=args.get("account"), limit=limit,
                                      before_seq=before or None)
    views = [desk().view(o) for o in orders]
    return jsonify({"orders": views, "count": len(views),
                    "next_before": views[-1]["order_id"] if len(views) == limit else None})


def _int_arg(name: str, default: int, low: int, high: int, faults: list) -> int:
    raw = request.args.get(name)
    if raw is None:  # an empty value is not a number: a 422 like any other (the schema says integer)
        return default
    value = bounded_int(raw, low, high)
    if value is None:
        faults.append(detail(name, "BAD_FILTER", f"{name} must be an integer {low}..{high}"))
        return default
    return value


def _before(raw: str, faults: list) -> int:
    """The seq to page from: ``ORD-00000042`` or ``42`` (empty or 0: from the newest)."""
    if not raw:
        return 0
    if not _BEFORE.match(raw):
        faults.append(detail("before", "BAD_FILTER", "before must be an order id like ORD-00000042 or its seq"))
        return 0
    return int(raw.removeprefix("ORD-"))


@bp.get("/orders/<order_id>")
def get_order(order_id: str):
    order = desk().store.get_order(order_id)
    if order is None:
        raise ApiError(404, "not_found", f"no order {order_id}", [detail("order_id", "NOT_FOUND", order_id)])
    return jsonify(desk().view(order))


def _owner_only(req, app, order_id: str, what: str) -> None:
    """401/403 unless the caller may act for the order's account (its token, the admin's, or tokens off)."""
    caller = order_caller(req, app.config["OPTSIM_CONFIG"])
    order = desk().store.get_order(order_id)
    if order is not None and not caller.may_act_for(order["account"]):
        raise not_yours(caller, order["account"], "order_id", what)


@bp.delete("/orders/<order_id>")
def cancel_order(order_id: str):
    req, app = resolved()
    _owner_only(req, app, order_id, "cancelling an order")
    try:
        return jsonify(desk().cancel(order_id))
    except DeskError as exc:
        extra = {"order": exc.order} if exc.order else {}
        raise ApiError(exc.status, exc.error, exc.message, [detail(exc.field, exc.reason, exc.message)],
                       **extra) from None


@bp.patch("/orders/<order_id>")
def replace_order(order_id: str):
    """Cancel/replace: new ``price`` and/or total ``qty``; keeps queue place unless the price changes or it grows."""
    req, app = resolved()
    _owner_only(req, app, order_id, "replacing an order")
    price, qty = parse_replace(json_body(req, _raw_body(req, app)))
    try:
        return jsonify(desk().replace(order_id, price, qty))
    except DeskError as exc:
        extra = {"order": exc.order} if exc.order else {}
        if exc.error == "risk_reject":
            extra["reason"] = exc.reason
        raise ApiError(exc.status, exc.error, exc.message, [detail(exc.field, exc.reason, exc.message)],
                       **extra) from None


@bp.post("/orders/<order_id>/replace")
def replace_order_post(order_id: str):
    """The same as PATCH /orders/<id>, for clients that cannot send PATCH."""
    return replace_order(order_id)
