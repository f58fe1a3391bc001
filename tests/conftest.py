"""Test harness: an app per test on a temp data dir, a quote snapshot, and the seed's sample orders."""
from __future__ import annotations

import copy

import pytest

from optsim.config import load_config
from options_service import create_app
from tests.snapshots import write_snapshot

ADMIN_TOKEN = "test-admin-token"
AS_OF = "2025-01-02"

SEED_SINGLE = {"underlying": "AAPL", "expiry": "2025-01-17", "strike": 200, "option_type": "C", "side": "BUY",
               "qty": 10, "price": 1.25, "strategy_type": "single"}
SEED_MULTI = {"strategy_type": "vertical", "legs": [
    {"underlying": "AAPL", "expiry": "2025-01-17", "strike": 200, "option_type": "C", "side": "BUY", "qty": 10,
     "price": 1.25},
    {"underlying": "AAPL", "expiry": "2025-01-17", "strike": 210, "option_type": "C", "side": "SELL", "qty": 10,
     "price": 0.80}]}


def seed_single(**changes) -> dict:
    body = copy.deepcopy(SEED_SINGLE)
    body.update(changes)
    return body


def seed_multi() -> dict:
    return copy.deepcopy(SEED_MULTI)


@pytest.fixture
def config(tmp_path):
    return load_config(overrides={"service": {"data_dir": str(tmp_path), "as_of": AS_OF, "admin_token": ADMIN_TOKEN}})


@pytest.fixture
def snapshot(config):
    return write_snapshot(config)


@pytest.fixture
def app(config, snapshot):
    app = create_app(config)
    app.config["TESTING"] = True
    yield app
    app.extensions["desk"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def admin():
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
