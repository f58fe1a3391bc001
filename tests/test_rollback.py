"""No phantom orders: when an order's writes roll back, every in-memory effect rolls back with them.

Failures are injected at each step of the order path (the fill step, the group's commit, a full
database) and after each one the desk's memory must equal what the database holds: the working
orders, the exposure risk checks against, the dashboard's status tally, and the duplicate filter.
The commit failure is a real one (a deferred foreign key SQLite only checks at COMMIT), so the
test holds whatever the sequencer does with savepoints.
"""
from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from optsim.trading.execution import Report
from optsim.trading.risk import TradingState
from optsim.domain.spec import OrderSpec
from tests.conftest import seed_multi, seed_single

BOOM = "INSERT INTO temp.boom_child VALUES (1)"  # violates a deferred foreign key: the COMMIT fails


def nonzero(mapping) -> dict:
    return {k: v for k, v in mapping.items() if v}


def assert_memory_matches_db(desk) -> None:
    db = desk.store.conn()
    open_orders = desk.store.open_orders()
    assert set(desk._working) == {o["id"] for o in open_orders}
    working: dict = defaultdict(int)
    for o in open_orders:
        for leg in o["legs"]:
            sign = 1 if leg["side"] == "BUY" else -1
            working[(o["account"], leg["symbol"])] += sign * leg["ratio"] * (o["qty"] - o["filled_qty"])
    assert nonzero(desk.risk.exposure.working) == nonzero(working)
    filled = {(p["account"], p["symbol"]): p["qty"] for p in desk.store.positions()}
    assert nonzero(desk.risk.exposure.filled) == filled
    by_status = Counter({r["status"]: r["n"] for r in db.execute("SELECT status, COUNT(*) AS n FROM orders "
                                                                 "GROUP BY status")})
    assert nonzero(desk.stats.by_current_status) == dict(by_status)
    outcomes = desk.stats.by_status
    assert outcomes["accepted"] == sum(n for s, n in by_status.items() if s != "rejected")
    assert outcomes["rejected"] == by_status["rejected"]
    for order_id in desk._working:  # the venue still works every order the database calls working
        spec = desk._working[order_id]
        if spec.kind == "single":
            assert desk.execution.queue_ahead(order_id) is not None, order_id


@pytest.fixture
def desk(app):
    d = app.extensions["desk"]

    def arm(db):
        db.execute("CREATE TEMP TABLE IF NOT EXISTS boom_parent (id INTEGER PRIMARY KEY)")
        db.execute("CREATE TEMP TABLE IF NOT EXISTS boom_child (p INTEGER REFERENCES boom_parent(id) "
                   "DEFERRABLE INITIALLY DEFERRED)")

    d._sequencer.run(arm)
    return d


def failing_commit(desk, job):
    """Run ``job(db)`` in a group whose COMMIT the database refuses; returns the error the caller saw."""
    def run(db):
        db.execute(BOOM)
        return job(db)

    with pytest.raises(Exception) as caught:
        desk._sequencer.run(run)
    return caught.value


def spec_of(client, body) -> OrderSpec:
    from optsim.domain.models import parse_order
    return parse_order(body, endpoint="single" if "legs" not in body else "multi")


def premium(desk) -> dict:
    return {k: round(v, 6) for k, v in desk.risk.exposure.premium.items() if round(v, 6)}


def test_fill_step_that_raises_leaves_no_working_order(client, desk, monkeypatch):
    real = desk.execution.submit

    def submit_then_fail(order_id, spec, route):
        real(order_id, spec, route)  # the venue has it; then the fill step fails
        raise RuntimeError("venue link dropped")

    monkeypatch.setattr(desk.execution, "submit", submit_then_fail)
    before = premium(desk)
    assert client.post("/orders", json=seed_single()).status_code == 500
    assert desk.working_count == 0 and premium(desk) == before
    assert_memory_matches_db(desk)
    monkeypatch.undo()
    retry = client.post("/orders", json=seed_single())  # not a DUPLICATE of the order that never was
    assert retry.status_code == 201, retry.get_json()
    assert_memory_matches_db(desk)


@pytest.mark.parametrize("body", [seed_single(), seed_multi()], ids=["single", "multi"])
def test_accept_whose_commit_fails_is_undone(client, desk, body):
    assert client.post("/orders", json=seed_single(price=1.20)).status_code == 201  # one that stays
    before = premium(desk)
    spec = spec_of(client, body)
    failing_commit(desk, lambda db: desk._submit(db, spec))
    assert desk.working_count == 1 and premium(desk) == before
    assert_memory_matches_db(desk)
    retry = client.post("/orders" if "legs" not in body else "/orders/multi", json=body)
    assert retry.status_code == 201, retry.get_json()
    assert_memory_matches_db(desk)


def test_kill_switch_whose_commit_fails_keeps_orders_working(client, desk, admin):
    ids = [client.post("/orders", json=seed_single(price=p)).get_json()["order_id"] for p in (1.10, 1.15, 1.20)]
    ids.append(client.post("/orders/multi", json=seed_multi()).get_json()["order_id"])
    failing_commit(desk, lambda db: desk._set_trading_state(db, TradingState.HALTED))
    assert sorted(desk._working) == sorted(ids)
    assert_memory_matches_db(desk)
    desk.set_trading_state(TradingState.ACTIVE)
    cancelled = client.delete(f"/orders/{ids[0]}")  # the venue still has it, so it can be cancelled
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    halt = client.post("/admin/kill-switch", json={"state": "HALTED"}, headers=admin)
    assert sorted(halt.get_json()["cancelled"]) == sorted(ids[1:])
    assert_memory_matches_db(desk)


def test_fill_whose_commit_fails_is_undone(client, desk):
    order = client.post("/orders", json=seed_single()).get_json()
    fill = Report(order["order_id"], "fill", 0, 1.25, 4, 4, "maker")
    failing_commit(desk, lambda db: desk._apply(db, [fill]))
    assert desk.risk.exposure.filled == {} or not nonzero(desk.risk.exposure.filled)
    assert_memory_matches_db(desk)
    assert client.get(f"/orders/{order['order_id']}").get_json()["leaves_qty"] == 10


def test_cancel_whose_commit_fails_keeps_the_order(client, desk):
    order_id = client.post("/orders", json=seed_single()).get_json()["order_id"]
    failing_commit(desk, lambda db: desk._cancel(db, order_id, "client"))
    assert_memory_matches_db(desk)
    assert client.delete(f"/orders/{order_id}").get_json()["status"] == "cancelled"
    assert_memory_matches_db(desk)


def test_full_database_answers_507_and_leaves_no_phantom(client, desk):
    """SQLite's own page cap stands in for a full disk: the same SQLITE_FULL the OS would cause."""
    assert client.post("/orders", json=seed_single(price=1.05)).status_code == 201
    pages = desk._sequencer.run(lambda db: db.execute("PRAGMA page_count").fetchone()[0])
    desk._sequencer.run(lambda db: db.execute(f"PRAGMA max_page_count = {pages}"))
    answers = Counter()
    for i in range(60):
        r = client.post("/orders", json=seed_single(price=round(0.50 + i * 0.01, 2), account=f"A{i}"))
        answers[r.status_code] += 1
        if r.status_code == 507:
            body = r.get_json()
            assert body["error"] == "storage_full" and body["details"][0]["reason"] == "DISK_FULL"
            break
    assert answers[507] == 1, answers
    assert_memory_matches_db(desk)
    desk._sequencer.run(lambda db: db.execute("PRAGMA max_page_count = 1073741823"))
    assert client.post("/orders", json=seed_single(price=0.49)).status_code == 201
    assert_memory_matches_db(desk)
