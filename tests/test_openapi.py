"""GET /openapi.json describes exactly the routes the app serves, and a bounded schemathesis run finds no 5xx."""
from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from pydantic import TypeAdapter
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import positive_data_acceptance
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                               status_code_conformance)

from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation

from optsim.api.openapi import OPERATIONS, REF, openapi_path
from optsim.config import load_config
from optsim.domain.models import MultiLegOrder, OrderRequest
from options_service import create_app
from tests.conftest import ADMIN_TOKEN, AS_OF, seed_multi, seed_single
from tests.snapshots import write_snapshot

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def api_app(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("openapi")
    cfg = load_config(overrides={"service": {"data_dir": str(data_dir), "as_of": AS_OF, "admin_token": ADMIN_TOKEN},
                                 # the snapshot is written once: keep it fresh for risk and /health alike, so a
                                 # slow run does not turn /readyz into a (correct) 503 that reads as a server error
                                 "risk": {"quote_max_age_s": 3600},
                                 "monitor": {"feed_stale_after_s": 3600, "feed_warn_after_s": 3600}})
    write_snapshot(cfg)
    app = create_app(cfg)
    yield app
    app.extensions["desk"].close()


@pytest.fixture(scope="module")
def spec(api_app):
    r = api_app.test_client().get("/openapi.json")
    assert r.status_code == 200
    return r.get_json()


def served(app) -> set[tuple[str, str]]:
    return {(openapi_path(rule.rule), method.lower()) for rule in app.url_map.iter_rules()
            if rule.endpoint != "static" for method in rule.methods - {"HEAD", "OPTIONS"}}


def described(spec) -> set[tuple[str, str]]:
    return {(path, method) for path, ops in spec["paths"].items() for method in ops if method in METHODS}


def test_spec_is_openapi_3_1_with_the_bearer_scheme(spec):
    # Assert
    assert spec["openapi"].startswith("3.1")
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": spec["components"]["securitySchemes"]["bearerAuth"][
            "description"]}


def test_every_served_route_is_described_and_nothing_else(api_app, spec):
    # Act
    served_ops, described_ops = served(api_app), described(spec)

    # Assert
    assert served_ops - described_ops == set(), "routes missing from /openapi.json"
    assert described_ops - served_ops == set(), "described routes the app does not serve"


def test_no_route_falls_back_to_an_undescribed_operation(spec):
    # Act
    undescribed = [(path, method) for path, ops in spec["paths"].items() for method, op in ops.items()
                   if op.get("x-undescribed")]

    # Assert: describe a new route in optsim/api/openapi.py OPERATIONS
    assert undescribed == []


@pytest.mark.parametrize("path, method", [
    ("/orders", "post"), ("/orders/multi", "post"), ("/orders", "get"), ("/orders/{order_id}", "get"),
    ("/orders/{order_id}", "delete"), ("/health", "get"), ("/livez", "get"), ("/readyz", "get"),
    ("/metrics", "get"), ("/quotes/status", "get"), ("/admin/kill-switch", "post"), ("/admin/venues/{venue}", "post"),
])
def test_core_routes_are_described(spec, path, method):
    # Assert
    op = spec["paths"][path][method]
    assert op["summary"] and op["responses"]
    assert op["operationId"]


def test_admin_operations_require_the_bearer_token_and_say_401_403(spec):
    # Act
    admin_ops = [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()
                 if path.startswith("/admin/") or path.endswith(("/ack", "/resolve"))]

    # Assert
    assert len(admin_ops) >= 5
    for path, method, op in admin_ops:
        assert op["security"] == [{"bearerAuth": []}], (path, method)
        assert {"401", "403"} <= set(op["responses"]), (path, method)


def test_order_request_schemas_are_the_pydantic_models(spec):
    # Arrange
    schemas = spec["components"]["schemas"]
    expected = TypeAdapter(OrderRequest).json_schema(ref_template=REF)
    multi = TypeAdapter(MultiLegOrder).json_schema(ref_template=REF)

    # Assert
    for name, schema in {**expected.pop("$defs"), **multi.pop("$defs", {})}.items():
        assert schemas[name] == schema, name
    assert schemas["OrderRequest"] == expected
    assert schemas["MultiLegOrder"] == multi
    assert spec["paths"]["/orders"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OrderRequest"}
    assert schemas["SingleLegOrder"]["additionalProperties"] is False


def test_every_reference_resolves(spec):
    # Arrange
    refs = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    # Act
    walk(spec)

    # Assert
    names = set(spec["components"]["schemas"])
    assert refs
    assert {r for r in refs if r.removeprefix("#/components/schemas/") not in names} == set()


def test_errors_share_one_schema(spec):
    # Assert: every 4xx of every operation is an Error (or a RiskReject, which extends it)
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for code, response in op["responses"].items():
                if code.startswith("4"):
                    schema = response["content"]["application/json"]["schema"]
                    text = str(schema)
                    assert "Error" in text or "RiskReject" in text, (path, method, code)


# ---------------------------------------------------------------------------------------------- schemathesis
def negatable(op: dict) -> bool:
    """A body or a query parameter to break (any string is a valid path segment, so those alone are not)."""
    return "requestBody" in op or any(p["in"] == "query" for p in op.get("parameters", ()))


FUZZED = sorted(op for op in OPERATIONS if op != ("/admin/drills", "post"))  # latency drills sleep up to 10 s


@pytest.fixture(scope="module")
def api_schema(api_app):
    return schemathesis.openapi.from_wsgi("/openapi.json", api_app)


@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("path, method, mode", [(path, method, GenerationMode.POSITIVE) for path, method in FUZZED] + [
    (path, method, GenerationMode.NEGATIVE) for path, method in FUZZED if negatable(OPERATIONS[path, method])])
def test_no_request_the_schema_allows_gets_a_5xx(api_app, api_schema, path, method, mode):
    # Arrange (schemathesis.pytest.from_fixture needs pytest < 9, so each operation runs its own hypothesis test)
    if (path, method) not in served(api_app):
        pytest.skip(f"{method.upper()} {path} is not served by this build")
    operation = api_schema[path][method.upper()]
    statuses = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=15, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        # Act / Assert: with the admin token, so the admin paths run too; every check schemathesis has
        # (`--checks all`: no 5xx, conformance, Allow on 405, anything the schema forbids is refused) but
        # positive_data_acceptance, which cannot hold for order entry: a well-formed order is a risk reject
        # (422) by design when it breaks a limit, and an OSI date or RFC 3339 time is not a regular language
        # A case whose headers are the negative part (Authorization dropped or mangled) is sent as generated:
        # the admin token would put back what the case took away, and the refusal it checks for would not come.
        mangled = case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER)
        response = case.call_and_validate(headers={} if mangled else {"Authorization": f"Bearer {ADMIN_TOKEN}"},
                                          excluded_checks=[positive_data_acceptance])
        statuses.append(response.status_code)

    run()
    assert statuses and max(statuses) < 500


@pytest.mark.parametrize("path, body", [("/orders", seed_single()), ("/orders/multi", seed_multi()),
                                        ("/orders", seed_single(client_order_id="oas-1"))])
def test_accepted_orders_conform_to_the_order_schema(app, path, body):
    # Arrange: a fresh app (the fuzz run above may have halted trading on the shared one)
    case = schemathesis.openapi.from_wsgi("/openapi.json", app)[path]["POST"].Case(body=body, media_type="application/json")

    # Act
    response = case.call_and_validate(checks=[not_a_server_error, status_code_conformance,
                                              content_type_conformance, response_schema_conformance])

    # Assert
    assert response.status_code == 201


@pytest.mark.parametrize("account", ["A\u202eB", "A\nB", "A\x00B", "A\u200bB", " A"])
def test_the_schema_refuses_what_the_server_refuses(spec, account):
    # Arrange
    schemas = spec["components"]["schemas"]
    legs = schemas["MultiLegOrder"]["properties"]["legs"]
    pattern = schemas["SingleLegOrder"]["properties"]["account"]["pattern"]
    # Assert: legs: [] (and 1 or 17 legs) is outside the schema, as the server's TOO_FEW/TOO_MANY_LEGS
    assert (legs["minItems"], legs["maxItems"]) == (2, 16)
    # ... and so is an account hiding a control, bidi or zero-width character
    assert re.search(pattern, "DESK 1") and not re.search(pattern, account)
