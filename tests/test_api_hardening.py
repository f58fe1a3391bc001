"""Hostile clients: no query string or body gets a 5xx, every refusal is a 4xx with a reason, and the
access rules hold (order tokens per account, cancel by the owner or the admin, Host allow-list, file modes)."""
from __future__ import annotations

import json
import os
import stat

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optsim.config import load_config
from options_service import create_app
from tests.conftest import ADMIN_TOKEN, AS_OF, seed_single
from tests.snapshots import write_snapshot


def reasons(response) -> list[tuple[str, str]]:
    return [(d["field"], d["reason"]) for d in response.get_json()["details"]]


# ---------------------------------------------------------------------------------------------- query strings
@pytest.mark.parametrize("query, field", [
    ("limit=%C2%B2", "limit"), ("limit=%E2%91%A0", "limit"), ("limit=-1", "limit"), ("limit=1e3", "limit"),
    ("before=ORD-99999999999999999999", "before"), ("before=" + "9" * 5000, "before"),
    ("before=ORD-" + "9" * 5000, "before"), ("before=ORD-%C2%B2", "before"), ("before=%EF%BC%91", "before"),
])
def test_bad_numbers_in_order_filters_are_422(client, query, field):
    r = client.get(f"/orders?{query}")
    assert r.status_code == 422 and (field, "BAD_FILTER") in reasons(r)


@pytest.mark.parametrize("query", ["limit=%C2%B2", "limit=%E2%91%A0", "limit=" + "9" * 5000, "limit=0"])
def test_bad_incident_limit_is_422(client, query):
    r = client.get(f"/incidents?{query}")
    assert r.status_code == 422 and ("limit", "OUT_OF_RANGE") in reasons(r)


@pytest.mark.parametrize("path", ["/incidents", "/orders"])
def test_an_unknown_filter_is_422_not_ignored(client, path):
    r = client.get(f"{path}?foo=bar&limit=5")
    assert r.status_code == 422 and reasons(r) == [("foo", "UNKNOWN_FILTER")]


# ---------------------------------------------------------------------------------------------- bodies
@pytest.mark.parametrize("body", ["[" * 3000 + "]" * 3000, '{"note": ' + "{\"a\": " * 3000 + "1" + "}" * 3001])
def test_deeply_nested_body_on_an_incident_ack_is_400(client, admin, config, body):
    from incident_logger import IncidentLog
    incident_id = IncidentLog.from_config(config).trigger("k", "feed_stale", "SEV2", "test").incident.incident_id
    r = client.post(f"/incidents/{incident_id}/ack", data=body, content_type="application/json", headers=admin)
    assert r.status_code == 400 and reasons(r) == [("", "MALFORMED_JSON")]


@pytest.mark.parametrize("path, raw, key", [
    ("/orders", '{"strategy_type": "single", "qty": 10, "qty": 1000, "underlying": "AAPL"}', "qty"),
    ("/orders", '{"strategy_type": "vertical", "legs": [{"side": "BUY", "side": "SELL"}]}', "side"),
    ("/admin/kill-switch", '{"state": "REDUCING", "state": "HALTED"}', "state"),
])
def test_duplicate_json_keys_are_400_with_the_key(client, admin, path, raw, key):
    r = client.post(path, data=raw, content_type="application/json", headers=admin)
    assert r.status_code == 400
    assert r.get_json()["error"] == "malformed_json" and (key, "DUPLICATE_KEY") in reasons(r)


@pytest.mark.parametrize("account", ["A\x00B", "A\nB", "ACC1\n", "A\tB", "\u202eLIAME", "A\u200bB", "A\u2066B",
                                     "\ufeffACC", "A\u2028B", " ACC", "ACC ", "A\x7fB", "A\x85B"])
def test_account_with_invisible_or_control_characters_is_422(client, account):
    r = client.post("/orders", json=seed_single(account=account))
    assert r.status_code == 422 and ("account", "string_pattern_mismatch") in reasons(r)


@pytest.mark.parametrize("account", ["ACC1", "desk 7", "ops@mm", "A", "team/alpha", "x" * 32])
def test_plain_accounts_are_accepted(client, account):
    r = client.post("/orders", json=seed_single(account=account))
    assert r.status_code == 201, r.get_json()


def test_405_says_what_is_allowed(client):
    r = client.put("/orders")
    assert r.status_code == 405
    assert set(r.headers["Allow"].split(", ")) >= {"GET", "POST"}


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_bearer_scheme_is_case_insensitive(client, scheme):
    r = client.get("/admin/kill-switch", headers={"Authorization": f"{scheme} {ADMIN_TOKEN}"})
    assert r.status_code == 200


# ---------------------------------------------------------------------------------------------- property test
ROUTES = ["/orders", "/orders/multi", "/orders/ORD-00000001", "/orders/x", "/health", "/livez", "/readyz",
          "/metrics", "/quotes/status", "/incidents", "/incidents/INC-1", "/incidents/INC-1/ack",
          "/incidents/INC-1/resolve", "/admin/kill-switch", "/admin/venues", "/admin/venues/CBOE",
          "/admin/drills", "/admin/drills/venue_down", "/api/summary", "/openapi.json", "/dashboard", "/runbook"]
PARAMS = ["limit", "before", "status", "symbol", "underlying", "account", "type", "since", "x"]
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                     max_size=4), max_leaves=12)


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    # Quotes written once stay fresh for the whole run: a slow machine must not turn /health's honest 503 for a
    # stale feed into a fuzz failure.
    cfg = load_config(overrides={"service": {"data_dir": str(tmp_path_factory.mktemp("fuzz")), "as_of": AS_OF,
                                             "admin_token": ADMIN_TOKEN},
                                 "monitor": {"feed_stale_after_s": 3600.0, "feed_warn_after_s": 3600.0},
                                 "risk": {"quote_max_age_s": 3600.0}})
    write_snapshot(cfg)
    app = create_app(cfg)
    yield app
    app.extensions["desk"].close()


@settings(max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(ROUTES), method=st.sampled_from(["GET", "POST", "DELETE", "PUT"]),
       query=st.dictionaries(st.sampled_from(PARAMS), st.text(max_size=30) | st.integers().map(str), max_size=3),
       body=st.one_of(st.none(), json_values.map(json.dumps), st.binary(max_size=40)),
       admin=st.booleans())
def test_no_query_string_or_body_gets_a_5xx(fuzz_app, route, method, query, body, admin):
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if admin else {}
    if route == "/admin/drills" and method == "POST":
        route = "/admin/drills/venue_down"  # a latency drill sleeps up to 10 s: not a fuzz target
    with fuzz_app.test_client().open(route, method=method, query_string=query, data=body, headers=headers,
                                     content_type="application/json") as r:  # closed: /dashboard streams a file
        assert r.status_code < 500, (route, method, query, body, r.get_data()[:300])
        if r.status_code >= 400:
            assert r.get_json()["error"]


# ---------------------------------------------------------------------------------------------- order tokens
TOKENS = {"ACC1": "acc1-token-0123456789", "ACC2": "acc2-token-0123456789"}


@pytest.fixture
def guarded(tmp_path):
    cfg = load_config(overrides={"service": {"data_dir": str(tmp_path), "as_of": AS_OF, "admin_token": ADMIN_TOKEN},
                                 "auth": {"order_tokens": "on", "accounts": TOKENS}})
    write_snapshot(cfg)
    app = create_app(cfg)
    yield app.test_client()
    app.extensions["desk"].close()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_order_entry_needs_the_accounts_token_when_tokens_are_on(guarded):
    body = seed_single(account="ACC1")
    assert guarded.post("/orders", json=body).status_code == 401
    assert guarded.post("/orders", json=body, headers=bearer("not-a-token")).status_code == 403
    wrong = guarded.post("/orders", json=body, headers=bearer(TOKENS["ACC2"]))
    assert wrong.status_code == 403 and ("account", "NOT_OWNER") in reasons(wrong)
    assert guarded.post("/orders", json=body, headers=bearer(TOKENS["ACC1"])).status_code == 201
    assert guarded.post("/orders", json=seed_single(account="ACC2", price=1.2),
                        headers=bearer(ADMIN_TOKEN)).status_code == 201


def test_cancel_only_by_the_owner_or_the_admin(guarded):
    ids = [guarded.post("/orders", json=seed_single(account="ACC1", price=p), headers=bearer(TOKENS["ACC1"]))
           .get_json()["order_id"] for p in (1.10, 1.15)]
    assert guarded.delete(f"/orders/{ids[0]}").status_code == 401
    other = guarded.delete(f"/orders/{ids[0]}", headers=bearer(TOKENS["ACC2"]))
    assert other.status_code == 403 and ("order_id", "NOT_OWNER") in reasons(other)
    assert guarded.get(f"/orders/{ids[0]}").get_json()["status"] == "working"
    assert guarded.delete(f"/orders/{ids[0]}", headers=bearer(TOKENS["ACC1"])).get_json()["status"] == "cancelled"
    assert guarded.delete(f"/orders/{ids[1]}", headers=bearer(ADMIN_TOKEN)).get_json()["status"] == "cancelled"


@pytest.mark.parametrize("replace", ["patch", "post"])
def test_replace_only_by_the_owner_or_the_admin(guarded, replace):
    order_id = guarded.post("/orders", json=seed_single(account="ACC1", price=1.10, qty=5),
                            headers=bearer(TOKENS["ACC1"])).get_json()["order_id"]

    def send(body, headers=None):
        if replace == "patch":
            return guarded.patch(f"/orders/{order_id}", json=body, headers=headers or {})
        return guarded.post(f"/orders/{order_id}/replace", json=body, headers=headers or {})

    assert send({"qty": 50}).status_code == 401
    assert send({"qty": 50}, bearer("not-a-token")).status_code == 403
    other = send({"price": 1.15, "qty": 50}, bearer(TOKENS["ACC2"]))
    assert other.status_code == 403 and ("order_id", "NOT_OWNER") in reasons(other)
    unchanged = guarded.get(f"/orders/{order_id}").get_json()
    assert (unchanged["qty"], unchanged["price"]) == (5, 1.10)
    assert send({"qty": 6}, bearer(TOKENS["ACC1"])).get_json()["qty"] == 6
    assert send({"price": 1.15}, bearer(ADMIN_TOKEN)).get_json()["price"] == 1.15


def test_tokens_are_off_on_loopback_but_a_sent_token_is_checked(client):
    order_id = client.post("/orders", json=seed_single()).get_json()["order_id"]
    assert client.post("/orders", json=seed_single(price=1.2), headers=bearer("nope-nope-nope")).status_code == 403
    basic = {"Authorization": "Basic Zm9vOmJhcg=="}  # a credential, but not a bearer token: not ignored
    assert client.post("/orders", json=seed_single(price=1.2), headers=basic).status_code == 401
    assert client.delete(f"/orders/{order_id}", headers=basic).status_code == 401
    assert client.get(f"/orders/{order_id}").get_json()["status"] == "working"


def test_tokens_default_on_when_bound_beyond_loopback(tmp_path):
    from optsim.api.auth import tokens_required
    on = load_config(overrides={"service": {"host": "0.0.0.0"}})
    assert tokens_required(on) and not tokens_required(load_config())
    assert not tokens_required(load_config(overrides={"service": {"host": "0.0.0.0"}, "auth": {"order_tokens": "off"}}))


def test_short_or_shared_account_tokens_are_a_config_error():
    from optsim.config import ConfigError
    with pytest.raises(ConfigError, match="16 characters"):
        load_config(overrides={"auth": {"accounts": {"A": "short"}}})
    with pytest.raises(ConfigError, match="share a token"):
        load_config(overrides={"auth": {"accounts": {"A": "x" * 20, "B": "x" * 20}}})


# ---------------------------------------------------------------------------------------------- Host allow-list
@pytest.mark.parametrize("host, ok", [("localhost", True), ("127.0.0.1:8081", True), ("[::1]:8081", True),
                                      ("localhost:1234", True), ("127.5.5.5", True), ("evil.example", False),
                                      ("evil.example:8081", False), ("10.0.0.1", False), ("sim.desk.local", True)])
def test_host_header_is_checked_against_the_allow_list(tmp_path, host, ok):
    cfg = load_config(overrides={"service": {"data_dir": str(tmp_path), "as_of": AS_OF},
                                 "auth": {"allowed_hosts": ["sim.desk.local"]}})
    app = create_app(cfg)
    try:
        r = app.test_client().get("/livez", headers={"Host": host})
        assert (r.status_code == 200) is ok
        if not ok:
            assert r.status_code == 400 and reasons(r) == [("Host", "HOST_NOT_ALLOWED")]
    finally:
        app.extensions["desk"].close()


def test_a_request_without_a_host_header_is_served(client):
    """HTTP/1.0 clients may send no Host: not a browser, so not a rebinding attack (was 400 "waitress.invalid")."""
    from werkzeug.test import EnvironBuilder, run_wsgi_app
    for method, path, body in (("GET", "/livez", None), ("POST", "/orders", json.dumps(seed_single()))):
        environ = EnvironBuilder(method=method, path=path, data=body, content_type="application/json").get_environ()
        del environ["HTTP_HOST"]
        environ.update(SERVER_NAME="waitress.invalid", SERVER_PROTOCOL="HTTP/1.0")
        _, status, _ = run_wsgi_app(client.application, environ, buffered=True)
        assert status.split()[0] in ("200", "201"), (path, status)


# ---------------------------------------------------------------------------------------------- file modes
def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_data_files_are_private(tmp_path, admin):
    data = tmp_path / "data"
    cfg = load_config(overrides={"service": {"data_dir": str(data), "as_of": AS_OF, "admin_token": ADMIN_TOKEN}})
    write_snapshot(cfg) if data.exists() else None
    app = create_app(cfg)
    try:
        client = app.test_client()
        client.post("/orders", json=seed_single())
        from incident_logger import IncidentLog
        IncidentLog.from_config(cfg).trigger("k", "feed_stale", "SEV2", "test")
        assert mode(data) == 0o700
        assert mode(data / "orders.db") == 0o600
        assert mode(data / "incidents.jsonl") == 0o600
        for side in ("orders.db-wal", "orders.db-shm"):
            if (data / side).exists():
                assert mode(data / side) & 0o077 == 0, side
    finally:
        app.extensions["desk"].close()


def test_existing_world_readable_store_and_admin_token_are_tightened(tmp_path):
    from run_simulator import admin_token
    (tmp_path / "admin_token").write_text("old-token\n")
    os.chmod(tmp_path / "admin_token", 0o644)
    assert admin_token(tmp_path, "") == "old-token"
    assert mode(tmp_path / "admin_token") == 0o600
    (tmp_path / "orders.db").touch(mode=0o644)
    os.chmod(tmp_path / "orders.db", 0o644)
    from optsim.trading.store import Store
    Store(tmp_path / "orders.db").close()
    assert mode(tmp_path / "orders.db") == 0o600


@pytest.mark.parametrize("method, path, body, status, field, reason", [
    ("GET", "/no-such-route", None, 404, "path", "NOT_FOUND"),
    ("PUT", "/orders", None, 405, "method", "METHOD_NOT_ALLOWED"),
    ("POST", "/admin/kill-switch", b"{" + b" " * 70_000 + b"}", 413, "", "PAYLOAD_TOO_LARGE"),
])
def test_the_frameworks_own_refusals_name_a_reason_and_the_part_at_fault(client, admin, method, path, body, status,
                                                                         field, reason):
    r = client.open(path, method=method, data=body, headers=admin, content_type="application/json")
    assert r.status_code == status
    assert [(d["field"], d["reason"]) for d in r.get_json()["details"]] == [(field, reason)]


def test_an_existing_open_data_dir_of_ours_is_tightened_to_700(tmp_path):
    from optsim.fileio import private_dir
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    private_dir(data)
    assert mode(data) == 0o700


def test_an_open_data_dir_of_someone_elses_is_refused(tmp_path, monkeypatch):
    from optsim.fileio import private_dir
    os.chmod(tmp_path, 0o755)
    monkeypatch.setattr(os, "getuid", lambda: tmp_path.stat().st_uid + 1)  # as if another user ran us
    with pytest.raises(PermissionError, match="not ours to fix"):
        private_dir(tmp_path)
