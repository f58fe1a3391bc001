"""The order gateway answers order entry ahead of Flask: every request gets the answer the Flask route gives.

Twin apps, built alike in two data dirs, get the same requests: one through its gateway (``app.wsgi_app``,
what waitress and the test client call), the other through Flask behind it (``app.wsgi_app.flask``, whose
order views are the reference). Their answers are compared: status, the headers a client reads, and the
body with its timestamps taken out (the twins give the same order ids, as they see the same orders).
"""
from __future__ import annotations

import json
import logging
import sqlite3

import pytest
from werkzeug.test import Client, EnvironBuilder
from werkzeug.wrappers import Response

from optsim.api.gateway import OrderGateway
from optsim.config import load_config
from options_service import create_app
from tests.conftest import ADMIN_TOKEN, AS_OF, seed_multi, seed_single
from tests.snapshots import write_snapshot

TOKENS = {"ACC1": "acc1-token-0123456789", "ACC2": "acc2-token-0123456789"}
READ = ("Content-Type", "Location", "Idempotent-Replayed")


@pytest.fixture
def twins(tmp_path):
    apps = []
    for name in ("gateway", "flask"):
        (tmp_path / name).mkdir()
        cfg = load_config(overrides={"service": {"data_dir": str(tmp_path / name), "as_of": AS_OF,
                                                 "admin_token": ADMIN_TOKEN, "max_body_bytes": 4096},
                                     "auth": {"accounts": TOKENS, "allowed_hosts": ["sim.desk.local"]}})
        write_snapshot(cfg)
        apps.append(create_app(cfg))
    yield apps
    for app in apps:
        app.extensions["desk"].close()


def entries(twins) -> tuple:
    gateway, flask = twins
    assert isinstance(gateway.wsgi_app, OrderGateway)
    return gateway.wsgi_app, flask.wsgi_app.flask


def both(twins, path: str = "/orders", body=None, **kwargs) -> tuple[Response, Response]:
    """The gateway's answer and Flask's to the same POST."""
    if body is not None:
        kwargs["data"] = json.dumps(body) if isinstance(body, dict) else body
        kwargs.setdefault("content_type", "application/json")
    g, f = (Client(entry, Response).post(path, **kwargs) for entry in entries(twins))
    return g, f


def same(gateway: Response, flask: Response) -> dict:
    """Assert the two answers are the same to a client; returns the gateway's body."""
    assert gateway.status_code == flask.status_code, (gateway.get_data(), flask.get_data())
    assert [gateway.headers.get(h) for h in READ] == [flask.headers.get(h) for h in READ]
    g, f = (_untimed(json.loads(r.get_data())) for r in (gateway, flask))
    assert g == f
    return g


def _untimed(value):
    """``value`` without the times the twins stamp a moment apart."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if not k.endswith("_at") and k not in ("ts", "time")}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


@pytest.mark.parametrize("path, body, status", [
    ("/orders", seed_single(), 201),
    ("/orders", seed_single(price=9.0), 201),  # through the offer: filled
    ("/orders/multi", seed_multi(), 201),
    ("/orders", seed_multi(), 201),  # a multi-leg body on /orders, by its strategy_type
    ("/orders", seed_single(qty=-5, side="HOLD"), 422),
    ("/orders", seed_single(strike=123), 422),  # not listed
    ("/orders", seed_single(qty=10**9), 422),  # over the schema's bound
    ("/orders", seed_single(qty=5000), 422),  # a risk reject
    ("/orders", '{"underlying": "AAPL", "underlying": "SPY"}', 400),  # a duplicate key
    ("/orders", "{not json", 400),
    ("/orders", "[1, 2]", 422),
    ("/orders", "x" * 5000, 413),
])
def test_order_entry_answers_as_the_flask_route_does(twins, path, body, status):
    gateway, flask = both(twins, path, body)
    same(gateway, flask)
    assert gateway.status_code == status


@pytest.mark.parametrize("headers, body, status, error", [
    ({"Content-Type": "text/plain"}, seed_single(), 415, "unsupported_media_type"),
    ({"Host": "evil.example"}, seed_single(), 400, "bad_host"),
    ({"Authorization": "Bearer wrong"}, seed_single(), 403, "forbidden"),
    ({"Authorization": "Basic eA=="}, seed_single(), 401, "unauthorized"),
    ({"Authorization": f"Bearer {TOKENS['ACC1']}"}, seed_single(account="ACC2"), 403, "forbidden"),  # not yours
    ({"Authorization": f"Bearer {TOKENS['ACC1']}"}, seed_single(account="ACC1"), 201, None),
    ({"Host": "sim.desk.local:8081"}, seed_single(), 201, None),
])
def test_the_host_the_media_type_and_the_token_are_checked_as_flask_does(twins, headers, body, status, error):
    kwargs = {"content_type": headers.pop("Content-Type")} if "Content-Type" in headers else {}
    gateway, flask = both(twins, "/orders", body, headers=headers, **kwargs)
    assert same(gateway, flask).get("error") == error and gateway.status_code == status


def test_a_chunked_body_over_the_limit_is_413_on_both(twins):
    answers = []
    for entry in entries(twins):
        builder = EnvironBuilder(path="/orders", method="POST", content_type="application/json",
                                 headers={"Transfer-Encoding": "chunked"}, data=b"[" + b"1," * 4000 + b"1]")
        environ = builder.get_environ()
        environ.pop("CONTENT_LENGTH", None)  # no length: the body is read up to the limit, then refused
        environ["wsgi.input_terminated"] = True
        answers.append(Client(entry, Response).run_wsgi_app(environ, buffered=True))
    (g_iter, g_status, g_headers), (f_iter, f_status, f_headers) = answers
    assert g_status == f_status == "413 REQUEST ENTITY TOO LARGE"
    assert json.loads(b"".join(g_iter)) == json.loads(b"".join(f_iter))


def test_idempotent_replays_of_an_accepted_and_a_rejected_order_match(twins):
    for body in (seed_single(client_order_id="replayed-ok"), seed_single(client_order_id="replayed-no", qty=5000)):
        first = same(*both(twins, "/orders", body))
        gateway, flask = both(twins, "/orders", body)
        assert same(gateway, flask) == first and gateway.headers["Idempotent-Replayed"] == "true"
        assert gateway.status_code == (422 if first.get("error") == "risk_reject" else 200)


@pytest.mark.parametrize("failure, status, error", [
    (sqlite3.OperationalError("database or disk is full"), 507, "storage_full"),
    (sqlite3.OperationalError("disk I/O error"), 503, "storage_unavailable"),
    (KeyError("a bug"), 500, "internal_error"),
])
def test_a_store_failure_or_a_bug_is_answered_and_logged_as_flask_does(twins, monkeypatch, caplog, failure, status,
                                                                      error):
    def fail(spec):
        raise failure
    for app in twins:
        monkeypatch.setattr(app.extensions["desk"], "submit", fail)
    with caplog.at_level(logging.ERROR):
        gateway, flask = both(twins, "/orders", seed_single())
    assert same(gateway, flask)["error"] == error and gateway.status_code == status
    logged = [r for r in caplog.records if r.name == twins[0].logger.name]
    assert len(logged) == 2 and logged[0].getMessage() == logged[1].getMessage()
    assert (logged[0].exc_info is not None) == (status == 500)  # a bug's traceback reaches the log


def test_other_methods_and_paths_go_to_flask(twins):
    client = twins[0].test_client()
    put = client.put("/orders", json=seed_single())
    assert put.status_code == 405 and set(put.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert "POST" in client.options("/orders").headers["Allow"]
    assert client.post("/orders/", json=seed_single()).status_code in (308, 404)  # not the entry path: Flask decides
    assert client.get("/orders").status_code == 200
