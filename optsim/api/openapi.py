"""GET /openapi.json: an OpenAPI 3.1 description of every route the app serves.

Request bodies of the order endpoints are generated from the pydantic models in ``optsim.domain.models``
(``TypeAdapter(...).json_schema``), so the spec cannot drift from what ``parse_order`` accepts. Paths
come from ``app.url_map``: an operation is described by ``OPERATIONS`` when it is known here; a route
added elsewhere without a description still appears, marked ``x-undescribed`` (tests/test_openapi.py
fails on those, so a new route gets its description in the same change).
"""
from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from pydantic import TypeAdapter

from .. import __version__
from ..domain.models import MultiLegOrder, OrderRequest, ReplaceRequest
from ..ops.incident_types import SEVERITIES
from ..domain.occ import OSI_PATTERN
from .incidents import TYPE_PATTERN as INCIDENT_TYPE_PATTERN
from .orders import BEFORE_PATTERN

bp = Blueprint("openapi", __name__)

REF = "#/components/schemas/{model}"
JSON = "application/json"
_ARG = re.compile(r"<(?:[a-z]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>")


def ref(name: str) -> dict:
    return {"$ref": REF.format(model=name)}


def _obj(props: dict[str, Any], required: list[str] | None = None, extra: bool = True) -> dict:
    out: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    if not extra:
        out["additionalProperties"] = False
    return out


NULLABLE_STR = {"type": ["string", "null"]}
NULLABLE_NUM = {"type": ["number", "null"]}
DETAIL = _obj({"field": {"type": "string"}, "reason": {"type": "string"}, "message": {"type": "string"}},
              ["field", "reason", "message"])
LEG_VIEW = _obj({"leg_no": {"type": "integer"}, "occ_symbol": {"type": "string", "minLength": 21, "maxLength": 21},
                 "underlying": {"type": "string"}, "expiry": {"type": "string", "format": "date"},
                 "strike": {"type": "number"}, "option_type": {"enum": ["C", "P"]}, "side": {"enum": ["BUY", "SELL"]},
                 "ratio": {"type": "integer"}, "qty": {"type": "integer"}, "price": NULLABLE_NUM,
                 "filled_qty": {"type": "integer"}}, ["leg_no", "occ_symbol", "side", "ratio", "qty"])
FILL_VIEW = _obj({"fill_id": {"type": "integer"}, "leg_no": {"type": "integer"}, "occ_symbol": {"type": "string"},
                  "venue": {"type": "string"}, "side": {"enum": ["BUY", "SELL"]}, "price": {"type": "number"},
                  "qty": {"type": "integer"}, "liquidity": {"enum": ["maker", "taker"]}, "fee": {"type": "number"},
                  "exch_ts_ns": {"type": ["integer", "null"]}, "local_ts_ns": {"type": ["integer", "null"]},
                  "ts": {"type": "string"}}, ["fill_id", "leg_no", "venue", "price", "qty"])
ORDER_STATUSES = ["working", "partially_filled", "filled", "cancelled", "rejected", "expired"]

SCHEMAS: dict[str, dict] = {
    "ErrorDetail": DETAIL,
    "Error": _obj({"error": {"type": "string", "description": "machine-readable class, e.g. validation_failed"},
                   "message": {"type": "string"}, "details": {"type": "array", "items": ref("ErrorDetail")}},
                  ["error", "message", "details"]),
    "RiskReject": {"allOf": [ref("Error"), _obj({"reason": {"type": "string", "description": "e.g. PRICE_COLLAR"},
                                                  "order": ref("Order")}, ["reason", "order"])]},
    "Order": _obj({
        "order_id": {"type": "string", "pattern": "^ORD-[0-9]{8,}$"}, "client_order_id": NULLABLE_STR,
        "account": {"type": "string"}, "status": {"enum": ORDER_STATUSES}, "kind": {"enum": ["single", "multi"]},
        "strategy_type": {"type": "string"}, "strategy_detected": {"type": "string"},
        "underlying": {"type": "string"}, "side": {"enum": ["BUY", "SELL"]}, "qty": {"type": "integer"},
        "order_type": {"enum": ["LIMIT", "MARKET"]}, "time_in_force": {"enum": ["DAY", "GTC", "IOC", "FOK"]},
        "price": NULLABLE_NUM, "venue": NULLABLE_STR, "filled_qty": {"type": "integer"},
        "leaves_qty": {"type": "integer"}, "avg_price": NULLABLE_NUM, "queue_ahead": NULLABLE_NUM,
        "legs": {"type": "array", "items": LEG_VIEW}, "fills": {"type": "array", "items": FILL_VIEW},
        "reject": {"anyOf": [{"type": "null"}, DETAIL]},
        "created_at": {"type": "string"}, "updated_at": {"type": "string"},
        "net_price": {"type": "number", "description": "multi-leg: > 0 debit, < 0 credit"},
        "net_type": {"enum": ["debit", "credit", "even"]},
    }, ["order_id", "status", "kind", "legs", "qty", "filled_qty"]),
    "OrderList": _obj({"orders": {"type": "array", "items": ref("Order")}, "count": {"type": "integer"},
                       "next_before": NULLABLE_STR}, ["orders", "count", "next_before"]),
    "Health": _obj({"status": {"enum": ["pass", "warn", "fail"]}, "version": {"type": "string"},
                    "serviceId": {"type": "string"}, "description": {"type": "string"},
                    "checks": {"type": "object", "additionalProperties": {"type": "array", "items": {
                        "type": "object", "required": ["status"],
                        "properties": {"status": {"enum": ["pass", "warn", "fail"]}}}}},
                    "notes": {"type": "array", "items": {"type": "string"}}}, ["status", "checks"]),
    "Status": _obj({"status": {"enum": ["pass", "warn", "fail"]}}, ["status"]),
    "QuotesStatus": _obj({"state": {"enum": ["fresh", "slow", "stale", "absent"]},
                          "snapshot_seq": {"type": ["integer", "null"]}, "snapshot_age_s": NULLABLE_NUM,
                          "series": {"type": "integer"}, "venues_down": {"type": "array", "items": {"type": "string"}},
                          "unusable_series": {"type": "integer"}, "read_errors": {"type": "integer"},
                          "last_error": {"type": ["string", "null"]}},
                         ["state", "series"]),
    "KillSwitch": {"allOf": [ref("KillSwitchState"), _obj({
        "cancelled": {"type": "array", "items": {"type": "string"}},
        "resolved_incidents": {"type": "array", "items": {"type": "string"},
                               "description": "release: the risk_trip incidents it resolved"}}, ["cancelled"])]},
    "KillSwitchState": _obj({"state": {"enum": ["ACTIVE", "REDUCING", "HALTED"]},
                             "set_by": {"type": "string", "description": "who set it (auto for a trip)"},
                             "reason": {"type": "string"}, "source": {"type": "string",
                                                                      "description": "manual, start or trip:<cause>"},
                             "since": NULLABLE_STR, "working_orders": {"type": "integer"}},
                            ["state", "set_by", "reason", "source", "since", "working_orders"]),
    "KillSwitchRequest": _obj({"state": {"enum": ["HALTED", "REDUCING"], "default": "HALTED"},
                               "actor": {"type": "string", "maxLength": 200}, "reason": {"type": "string",
                                                                                       "maxLength": 200}},
                              extra=False),
    "AdminNote": _obj({"actor": {"type": "string", "maxLength": 200}, "reason": {"type": "string", "maxLength": 200}},
                      extra=False),
    "AuditEntry": _obj({"seq": {"type": "integer"}, "ts": {"type": "string"}, "actor": {"type": "string"},
                        "action": {"type": "string", "description": "kill_switch.set, kill_switch.trip, venue.mark, "
                                                                    "drill.inject, drill.clear, incident.ack, ..."},
                        "target": NULLABLE_STR, "remote_addr": NULLABLE_STR, "reason": NULLABLE_STR,
                        "details": {"type": "object"}}, ["seq", "ts", "actor", "action", "details"]),
    "AuditLog": _obj({"entries": {"type": "array", "items": ref("AuditEntry")}, "count": {"type": "integer"},
                      "next_before": {"type": ["integer", "null"]}}, ["entries", "count", "next_before"]),
    "Position": _obj({"account": {"type": "string"}, "occ_symbol": {"type": "string"}, "underlying": {"type": "string"},
                      "expiry": {"type": "string", "format": "date"}, "strike": {"type": "number"},
                      "option_type": {"enum": ["C", "P"]}, "qty": {"type": "integer"},
                      "multiplier": {"type": "integer"}, "avg_price": NULLABLE_NUM, "mark": {"type": "number"},
                      "mark_source": {"enum": ["mid", "bid", "ask", "last_fill"]},
                      "market_value": {"type": "number"}, "realized_pnl": {"type": "number"},
                      "unrealized_pnl": {"type": "number"}, "fees": {"type": "number"}, "net_pnl": {"type": "number"},
                      "delta": {"type": "number", "description": "shares"}, "dollar_delta": {"type": "number"},
                      "gamma": {"type": "number"}, "vega": {"type": "number", "description": "$ per vol point"},
                      "theta": {"type": "number", "description": "$ per day"}},
                     ["account", "occ_symbol", "qty", "mark", "realized_pnl", "unrealized_pnl", "net_pnl"]),
    "PnlTotals": _obj({k: {"type": "number"} for k in ("realized_pnl", "unrealized_pnl", "fees", "net_pnl", "delta",
                                                        "dollar_delta", "gamma", "vega", "theta")}),
    "Positions": _obj({"positions": {"type": "array", "items": ref("Position")}, "count": {"type": "integer"},
                       "accounts": {"type": "array", "items": {"allOf": [
                           ref("PnlTotals"), _obj({"account": {"type": "string"}}, ["account"])]}},
                       "total": ref("PnlTotals")}, ["positions", "count", "accounts", "total"]),
    "LimitUse": _obj({"used": {"type": "number"}, "limit": {"type": "number"}, "utilization": {"type": "number"}},
                     ["used", "limit", "utilization"]),
    "Risk": _obj({"trading_state": {"type": "object"},
                  "utilization": {"type": "object", "additionalProperties": {"type": "number"},
                                  "description": "worst use of each limit, 1 = at the limit"},
                  "pnl": {"type": "object"}, "accounts": {"type": "array", "items": {"type": "object"}},
                  "breaches": {"type": "object", "description": "per exposure limit, the latest order refused for it"},
                  "trips": {"type": "object"}}, ["trading_state", "utilization", "pnl", "accounts", "trips"]),
    "Venue": _obj({"venue": {"type": "string"}, "up": {"type": "boolean"}, "marked_down": {"type": "boolean"}},
                  ["venue", "up", "marked_down"]),
    "VenueList": _obj({"venues": {"type": "array", "items": ref("Venue")}}, ["venues"]),
    "VenueRequest": _obj({"status": {"enum": ["up", "down"]}, "actor": {"type": "string", "maxLength": 200},
                          "reason": {"type": "string", "maxLength": 200}}, ["status"], extra=False),
    "DrillRequest": _obj({"fault": {"enum": ["feed_stall", "feed_freeze", "crossed_market", "wide_spreads",
                                             "venue_dark", "seq_gap", "venue_down", "latency_spike", "reject_storm"]},
                          "venue": {"type": "string"}, "targets": {"type": "array", "items": {"type": "string"}},
                          "underlyings": {"type": "array", "items": {"type": "string"}},
                          "count": {"type": "integer"}, "ms": {"type": "number"}, "jitter_ms": {"type": "number"},
                          "fraction": {"type": "number"},
                          "silence": {"type": "boolean", "description": "silence the incidents this fault is "
                                                                        "expected to open (default true)"}}, ["fault"],
                         extra=False),
    "DrillState": _obj({"feed": {"type": "object"}, "service": {"type": "object"},
                        "injected_at": {"type": "object"}, "faults": {"type": "array", "items": {"type": "string"}}},
                       ["feed", "service", "faults"]),
    "Incident": _obj({"incident_id": {"type": "string"}, "type": {"type": "string"}, "severity": {"type": "string"},
                      "status": {"enum": ["open", "acknowledged", "resolved"]}, "summary": {"type": "string"},
                      "runbook": {"type": "string"}, "events": {"type": "array", "items": {"type": "object"}},
                      "signals": {"type": "array", "items": {"type": "object"},
                                  "description": "grouped signals with first_seen, last_seen, active, cleared_at"},
                      "notifications": {"type": "array", "items": {"type": "object"}},
                      "escalation_level": {"type": "integer"}, "silenced": {"type": "boolean"},
                      "silenced_by": NULLABLE_STR},
                     ["incident_id", "type", "status"]),
    "IncidentList": _obj({"incidents": {"type": "array", "items": ref("Incident")}, "count": {"type": "integer"},
                          "skipped_records": {"type": "integer", "description": "unreadable log lines skipped"}},
                         ["incidents", "count"]),
    "SilenceRequest": _obj({"matchers": _obj({k: {"anyOf": [{"type": "string"}, {"type": "array", "minItems": 1,
                                                                                  "items": {"type": "string"}}]}
                                              for k in ("type", "venue", "underlying")}, extra=False),
                            "starts_at": {"type": ["string", "number"]}, "ends_at": {"type": ["string", "number"]},
                            "duration_s": {"type": "number", "exclusiveMinimum": 0},
                            "created_by": {"type": "string", "minLength": 1, "maxLength": 500},
                            "comment": {"type": "string", "minLength": 1, "maxLength": 500}},
                           ["matchers", "created_by", "comment"], extra=False),
    "Silence": _obj({"silence_id": {"type": "string"}, "matchers": {"type": "object"}, "starts_at": {"type": "string"},
                     "ends_at": {"type": "string"}, "created_by": {"type": "string"}, "comment": {"type": "string"},
                     "created_at": {"type": "string"}, "drill": NULLABLE_STR,
                     "state": {"enum": ["pending", "active", "expired"]}}, ["silence_id", "matchers", "state"]),
    "SilenceList": _obj({"silences": {"type": "array", "items": ref("Silence")}, "count": {"type": "integer"}},
                        ["silences", "count"]),
    "DrillRunRequest": _obj({"drill": {"type": "string"}, "mode": {"enum": ["unattended", "game_day"]},
                             "silence": {"type": "boolean"},
                             **{k: {"type": "number", "minimum": 0, "maximum": 86400}
                                for k in ("detect_within_s", "ack_within_s", "mitigate_within_s",
                                          "resolve_within_s", "ack_after_s", "hold_s")}}, ["drill"], extra=False),
    "DrillRun": _obj({"run_id": {"type": "string"}, "drill": {"type": "string"},
                      "status": {"enum": ["running", "passed", "failed", "aborted", "interrupted"]},
                      "phase": {"type": "string"}, "reason": NULLABLE_STR, "incident_id": NULLABLE_STR,
                      **{k: NULLABLE_NUM for k in ("ttd_s", "tta_s", "ttm_s", "ttr_s")}},
                     ["run_id", "drill", "status"]),
    "DrillScenarios": _obj({"drills": {"type": "array", "items": {"type": "object"}}, "count": {"type": "integer"}},
                           ["drills", "count"]),
    "DrillHistory": _obj({"drills": {"type": "array", "items": _obj({
        "drill": {"type": "string"}, "runs": {"type": "array", "items": ref("DrillRun")},
        "medians": {"type": "object"}, "passed": {"type": "integer"}, "failed": {"type": "integer"}})},
        "count": {"type": "integer"}}, ["drills", "count"]),
    "IncidentChange": _obj({"actor": {"type": "string", "maxLength": 200},
                            "note": {"type": "string", "maxLength": 200}}, extra=False),
    "Summary": {"type": "object", "description": "the dashboard's poll: health, orders, risk, venues, incidents"},
}


def _error(description: str, schema: str = "Error") -> dict:
    return {"description": description, "content": {JSON: {"schema": ref(schema)}}}


def _ok(description: str, schema: str | None = None, media: str = JSON) -> dict:
    return {"description": description, "content": {media: {"schema": ref(schema) if schema else {"type": "string"}}}}


def _body(schema: dict, required: bool = True) -> dict:
    return {"required": required, "content": {JSON: {"schema": schema}}}


def _path_param(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description, "schema": {"type": "string"}}


def _csv_pattern(item: str) -> str:
    """A comma-separated list as the server reads it: values stripped, empty ones skipped, at least one."""
    return rf"^(\s*,)*\s*({item})\s*(,\s*(({item})\s*)?)*$"


def _query(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


BAD_BODY = {"400": _error("malformed JSON (malformed_json)"), "413": _error("body over the size limit"),
            "415": _error("not application/json (unsupported_media_type)")}
ADMIN = {"security": [{"bearerAuth": []}], "tags": ["admin"]}
ADMIN_ERRORS = {"401": _error("no bearer token (unauthorized)"), "403": _error("wrong token (forbidden)")}
ORDER_ENTRY = {
    "tags": ["orders"],
    "responses": {"201": _ok("accepted; committed before this answer", "Order"),
                  "200": _ok("idempotent retry of the same client_order_id and body (Idempotent-Replayed: true)",
                             "Order"),
                  **BAD_BODY, "403": _error("HALTED or REDUCE_ONLY", "RiskReject"),
                  "409": _error("client_order_id reused with a different body (DUPLICATE)", "RiskReject"),
                  "422": {"description": "validation_failed (with details) or risk_reject (with reason and order)",
                          "content": {JSON: {"schema": {"anyOf": [ref("RiskReject"), ref("Error")]}}}},
                  "429": _error("THROTTLED", "RiskReject")},
}
ORDER_ID = _path_param("order_id", "e.g. ORD-00000042")
INCIDENT_ID = _path_param("incident_id", "e.g. INC-20250102-0007")
INCIDENT_CHANGE = {**ADMIN, "tags": ["incidents"], "parameters": [INCIDENT_ID],
                   "requestBody": _body(ref("IncidentChange"), required=False),
                   "responses": {"200": _ok("the incident after the change", "Incident"), **ADMIN_ERRORS,
                                 "400": _error("malformed JSON"), "404": _error("unknown incident"),
                                 "409": _error("already resolved"), "422": _error("bad actor or note")}}

OPERATIONS: dict[tuple[str, str], dict] = {
    ("/orders", "post"): {**ORDER_ENTRY, "summary": "Enter an order (single-leg, or multi-leg by strategy_type)",
                          "requestBody": _body(ref("OrderRequest"))},
    ("/orders/multi", "post"): {**ORDER_ENTRY, "summary": "Enter a multi-leg order filled as one package",
                                "requestBody": _body(ref("MultiLegOrder"))},
    ("/orders", "get"): {
        "tags": ["orders"], "summary": "List orders, newest first",
        "parameters": [_query("status", "order status (empty: any)", {"enum": ["", *ORDER_STATUSES]}),
                       _query("underlying", "OCC root", {"type": "string"}),
                       _query("symbol", "OSI symbol, padded or not (empty: any)",
                              {"type": "string", "pattern": f"^$|{OSI_PATTERN}"}),
                       _query("account", "account", {"type": "string"}),
                       _query("limit", "page size", {"type": "integer", "minimum": 1, "maximum": 1000}),
                       _query("before", "order id or seq to page from", {"type": "string", "pattern": BEFORE_PATTERN})],
        "responses": {"200": _ok("orders", "OrderList"), "422": _error("bad filter (validation_failed)")}},
    ("/orders/{order_id}", "get"): {
        "tags": ["orders"], "summary": "One order with its legs and fills", "parameters": [ORDER_ID],
        "responses": {"200": _ok("the order", "Order"), "404": _error("unknown order id")}},
    ("/orders/{order_id}", "patch"): {
        "tags": ["orders"], "summary": "Cancel/replace: new price and/or total qty (keeps the queue place unless "
                                       "the price changes or the size grows)", "parameters": [ORDER_ID],
        "requestBody": _body(ref("ReplaceRequest")),
        "responses": {"200": _ok("the order as replaced, with any fills", "Order"), **BAD_BODY,
                      "403": _error("HALTED or REDUCE_ONLY", "RiskReject"), "404": _error("unknown order id"),
                      "409": _error("closed, or a fill reached the venue first"),
                      "422": _error("bad field, qty not above the filled, or a risk reject (the order is unchanged)")}},
    ("/orders/{order_id}/replace", "post"): {
        "tags": ["orders"], "summary": "Cancel/replace (the same as PATCH /orders/{order_id})", "parameters": [ORDER_ID],
        "requestBody": _body(ref("ReplaceRequest")),
        "responses": {"200": _ok("the order as replaced", "Order"), **BAD_BODY, "404": _error("unknown order id"),
                      "409": _error("closed, or a fill reached the venue first"),
                      "422": _error("bad field or a risk reject")}},
    ("/positions", "get"): {
        "tags": ["risk"], "summary": "Positions and PnL per account and series, marked to the NBBO mid, with Greeks",
        "parameters": [_query("account", "one account", {"type": "string"})],
        "responses": {"200": _ok("positions", "Positions"), "422": _error("unknown filter")}},
    ("/risk", "get"): {
        "tags": ["risk"], "summary": "Greek totals and every limit's use per account, underlying and portfolio",
        "responses": {"200": _ok("risk", "Risk"), "422": _error("unknown filter")}},
    ("/admin/audit", "get"): {
        **ADMIN, "summary": "The audit log, newest first",
        "parameters": [_query("limit", "page size", {"type": "integer", "minimum": 1, "maximum": 1000}),
                       _query("before", "seq to page from", {"type": "integer"}),
                       _query("action", "an action or its prefix (kill_switch)", {"type": "string"})],
        "responses": {"200": _ok("entries", "AuditLog"), **ADMIN_ERRORS, "422": _error("bad filter")}},
    ("/orders/{order_id}", "delete"): {
        "tags": ["orders"], "summary": "Cancel a working order", "parameters": [ORDER_ID],
        "responses": {"200": _ok("the cancelled order", "Order"), "404": _error("unknown order id"),
                      "409": _error("the order is closed (filled, cancelled, rejected, expired)")}},
    ("/health", "get"): {"tags": ["ops"], "summary": "Health (IETF health+json draft)", "responses": {
        "200": _ok("pass or warn", "Health", "application/health+json"),
        "503": _ok("fail: feed stale/absent, all routes down or database gone", "Health", "application/health+json")}},
    ("/livez", "get"): {"tags": ["ops"], "summary": "Liveness (always 200 while the process answers)",
                        "responses": {"200": _ok("alive", "Status", "application/health+json")}},
    ("/readyz", "get"): {"tags": ["ops"], "summary": "Readiness: 503 exactly when /health fails", "responses": {
        "200": _ok("ready", "Status", "application/health+json"),
        "503": _ok("not ready", "Status", "application/health+json")}},
    ("/metrics", "get"): {"tags": ["ops"], "summary": "Prometheus metrics (optsim_ prefix)",
                          "responses": {"200": _ok("text exposition format", media="text/plain")}},
    ("/quotes/status", "get"): {"tags": ["ops"], "summary": "Feed freshness as the service sees it",
                                "responses": {"200": _ok("feed state", "QuotesStatus")}},
    ("/openapi.json", "get"): {"tags": ["ops"], "summary": "This document",
                               "responses": {"200": {"description": "OpenAPI 3.1", "content": {JSON: {}}}}},
    ("/admin/kill-switch", "get"): {**ADMIN, "summary": "Trading state",
                                    "responses": {"200": _ok("state", "KillSwitchState"), **ADMIN_ERRORS}},
    ("/admin/kill-switch", "post"): {
        **ADMIN, "summary": "Engage: HALTED cancels all working orders; REDUCING admits only reducing orders",
        "requestBody": _body(ref("KillSwitchRequest"), required=False),
        "responses": {"200": _ok("new state and cancelled orders", "KillSwitch"), **ADMIN_ERRORS, **BAD_BODY,
                      "422": _error("state is not HALTED or REDUCING, or a field that is not one (UNKNOWN_FIELD)")}},
    ("/admin/kill-switch/release", "post"): {**ADMIN, "summary": "Back to ACTIVE (resolves open risk_trip incidents)",
                                             "requestBody": _body(ref("AdminNote"), required=False),
                                             "responses": {"200": _ok("ACTIVE", "KillSwitch"), **ADMIN_ERRORS,
                                                           **BAD_BODY, "422": _error("bad actor or reason")}},
    ("/admin/venues", "get"): {**ADMIN, "summary": "Venues and whether they take orders",
                               "responses": {"200": _ok("venues", "VenueList"), **ADMIN_ERRORS}},
    ("/admin/venues/{venue}", "post"): {
        **ADMIN, "summary": "Mark a venue up or down (drill)", "parameters": [_path_param("venue", "e.g. CBOE")],
        "requestBody": _body(ref("VenueRequest")),
        "responses": {"200": _ok("the venue", "Venue"), **ADMIN_ERRORS, **BAD_BODY, "404": _error("unknown venue"),
                      "422": _error("status is not up or down")}},
    ("/admin/drills", "get"): {**ADMIN, "tags": ["drills"], "summary": "Injected faults",
                               "responses": {"200": _ok("drill state", "DrillState"), **ADMIN_ERRORS}},
    ("/admin/drills", "post"): {**ADMIN, "tags": ["drills"], "summary": "Inject a fault",
                                "requestBody": _body(ref("DrillRequest")),
                                "responses": {"201": _ok("drill state", "DrillState"), **ADMIN_ERRORS, **BAD_BODY,
                                              "422": _error("unknown fault or bad parameter")}},
    ("/admin/drills", "delete"): {**ADMIN, "tags": ["drills"], "summary": "Clear every fault",
                                  "responses": {"200": _ok("drill state", "DrillState"), **ADMIN_ERRORS}},
    ("/admin/drills/{fault}", "delete"): {
        **ADMIN, "tags": ["drills"], "summary": "Clear one fault", "parameters": [_path_param("fault", "fault name")],
        "responses": {"200": _ok("drill state", "DrillState"), **ADMIN_ERRORS, "404": _error("unknown fault")}},
    ("/incidents", "get"): {
        "tags": ["incidents"], "summary": "Incidents, filtered",
        "parameters": [_query("state", "unresolved (open + acknowledged), open, acknowledged, resolved or all",
                              {"enum": ["unresolved", "open", "acknowledged", "resolved", "all"]}),
                       _query("status", "exactly this status", {"enum": ["open", "acknowledged", "resolved"]}),
                       _query("severity", "comma-separated severities, e.g. SEV1,SEV2",
                              {"type": "string", "pattern": _csv_pattern("|".join(SEVERITIES))}),
                       _query("type", "comma-separated incident types",
                              {"type": "string", "pattern": _csv_pattern(INCIDENT_TYPE_PATTERN.strip("^$"))}),
                       _query("since", "still active at or after (RFC 3339 or epoch s)", {"type": "string"}),
                       _query("until", "opened before (RFC 3339 or epoch s)", {"type": "string"}),
                       _query("limit", "page size", {"type": "integer", "minimum": 1, "maximum": 1000})],
        "responses": {"200": _ok("incidents", "IncidentList"), "422": _error("bad filter")}},
    ("/incidents/{incident_id}", "get"): {
        "tags": ["incidents"], "summary": "One incident with its events", "parameters": [INCIDENT_ID],
        "responses": {"200": _ok("the incident", "Incident"), "404": _error("unknown incident")}},
    ("/incidents/{incident_id}/ack", "post"): {**INCIDENT_CHANGE, "summary": "Acknowledge an incident"},
    ("/incidents/{incident_id}/resolve", "post"): {**INCIDENT_CHANGE, "summary": "Resolve an incident"},
    ("/admin/silences", "post"): {
        **ADMIN, "tags": ["silences"], "summary": "Silence notifications (now, or a future maintenance window)",
        "requestBody": _body(ref("SilenceRequest")),
        "responses": {"201": _ok("the silence", "Silence"), **ADMIN_ERRORS, **BAD_BODY,
                      "422": _error("bad matcher, time or missing who/why")}},
    ("/admin/silences", "get"): {
        **ADMIN, "tags": ["silences"], "summary": "Silences (default: active and pending)",
        "parameters": [_query("state", "current, active, pending, expired or all",
                              {"enum": ["current", "active", "pending", "expired", "all"]})],
        "responses": {"200": _ok("silences", "SilenceList"), **ADMIN_ERRORS, "422": _error("bad state")}},
    ("/admin/silences/{silence_id}", "delete"): {
        **ADMIN, "tags": ["silences"], "summary": "End a silence now",
        "parameters": [_path_param("silence_id", "e.g. SIL-3f2a9c0d1e2b")],
        "responses": {"200": _ok("the silence, expired", "Silence"), **ADMIN_ERRORS, "404": _error("unknown id")}},
    ("/drills", "get"): {"tags": ["drills"], "summary": "Drill scenarios (Chaos Toolkit-shaped files)",
                         "responses": {"200": _ok("scenarios", "DrillScenarios")}},
    ("/drills/runs", "post"): {
        **ADMIN, "tags": ["drills"], "summary": "Start a scored drill run in the background",
        "requestBody": _body(ref("DrillRunRequest")),
        "responses": {"202": _ok("the run, running", "DrillRun"), **ADMIN_ERRORS, **BAD_BODY,
                      "409": _error("a drill is already running"), "422": _error("unknown drill or bad limit")}},
    ("/drills/runs/{run_id}", "get"): {
        "tags": ["drills"], "summary": "One drill run: phase, times, result",
        "parameters": [_path_param("run_id", "e.g. DRL-20250102-143107-a1b2c3")],
        "responses": {"200": _ok("the run", "DrillRun"), "404": _error("unknown run")}},
    ("/drills/history", "get"): {
        "tags": ["drills"], "summary": "Each drill's last runs and median times",
        "parameters": [_query("drill", "only this drill", {"type": "string"}),
                       _query("last", "runs per drill", {"type": "integer", "minimum": 1, "maximum": 100})],
        "responses": {"200": _ok("history", "DrillHistory"), "422": _error("bad last")}},
    ("/", "get"): {"tags": ["dashboard"], "summary": "Redirects to /dashboard",
                   "responses": {"302": {"description": "to /dashboard"}}},
    ("/dashboard", "get"): {"tags": ["dashboard"], "summary": "The ops dashboard page",
                            "responses": {"200": _ok("HTML", media="text/html")}},
    ("/api/summary", "get"): {"tags": ["dashboard"], "summary": "What the dashboard polls",
                              "responses": {"200": _ok("summary", "Summary")}},
    ("/runbook", "get"): {"tags": ["dashboard"], "summary": "The runbook as HTML",
                          "responses": {"200": _ok("HTML", media="text/html")}},
    ("/runbook.md", "get"): {"tags": ["dashboard"], "summary": "The runbook source",
                             "responses": {"200": _ok("Markdown", media="text/markdown")}},
}


def request_schemas() -> dict[str, dict]:
    """OrderRequest (and the models it refers to) and MultiLegOrder, as pydantic generates them."""
    out: dict[str, dict] = {}
    for name, adapter in (("OrderRequest", TypeAdapter(OrderRequest)), ("MultiLegOrder", TypeAdapter(MultiLegOrder)),
                          ("ReplaceRequest", TypeAdapter(ReplaceRequest))):
        schema = adapter.json_schema(ref_template=REF, mode="validation")
        out.update(schema.pop("$defs", {}))
        out.setdefault(name, schema)
    return out


def openapi_path(rule: str) -> str:
    return _ARG.sub(r"{\1}", rule)


def build_spec(app: Flask) -> dict:
    """The OpenAPI document for the routes ``app`` serves (the static folder aside)."""
    paths: dict[str, dict] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = openapi_path(rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            op = OPERATIONS.get((path, method.lower()))
            if op is None:  # served but not described here: say so rather than hide it
                view = app.view_functions[rule.endpoint]
                op = {"summary": (view.__doc__ or rule.endpoint).strip().splitlines()[0], "x-undescribed": True,
                      "responses": {"default": {"description": "see the handler"}}}
                names = _ARG.findall(rule.rule)
                if names:
                    op["parameters"] = [_path_param(n, n) for n in names]
            paths.setdefault(path, {})[method.lower()] = {"operationId": f"{rule.endpoint}.{method.lower()}", **op}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Options Routing Ops Simulator", "version": __version__,
                 "description": "Order entry, risk, routing and operations of the simulated options router. "
                                "Every 4xx has one shape: Error. Multi-leg net prices are > 0 debit, < 0 credit."},
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {"schemas": {**SCHEMAS, **request_schemas()},
                       "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                                          "description": "the admin token (OPTSIM_ADMIN_TOKEN)"}}},
    }


@bp.get("/openapi.json")
def openapi_json():
    """OpenAPI 3.1 description of this service (built once per app)."""
    spec = current_app.extensions.get("openapi")
    if spec is None:
        spec = current_app.extensions["openapi"] = build_spec(current_app)
    return jsonify(spec)
