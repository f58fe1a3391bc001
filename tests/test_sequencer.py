"""The sequencer: jobs run in order on one thread, each in a savepoint, committed in groups."""
from __future__ import annotations

import threading

import pytest

from optsim.domain.models import parse_order
from optsim.trading.sequencer import Sequencer
from optsim.trading.store import WRITER_AUTOCHECKPOINT_PAGES, Store
from tests.conftest import seed_single


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "orders.db")
    s.conn().execute("CREATE TABLE notes (n INTEGER)")
    yield s
    s.close()


def test_a_failing_job_undoes_only_its_own_writes_and_raises_in_its_caller(store):
    seq = Sequencer(store)

    def bad(db):
        db.execute("INSERT INTO notes VALUES (2)")
        raise ValueError("no")

    seq.run(lambda db: db.execute("INSERT INTO notes VALUES (1)"))
    with pytest.raises(ValueError, match="no"):
        seq.run(bad)
    seq.run(lambda db: db.execute("INSERT INTO notes VALUES (3)"))
    seq.close()
    # Assert: committed and visible to another connection
    other = Store(store.path)
    assert [r[0] for r in other.conn().execute("SELECT n FROM notes ORDER BY n")] == [1, 3]
    other.close()


def test_a_job_calling_back_into_the_sequencer_runs_inline(store):
    seq = Sequencer(store)
    assert seq.run(lambda db: seq.run(lambda db2: db2 is db)) is True
    seq.close()


def test_many_threads_get_every_job_done_in_one_order(store):
    seq, done = Sequencer(store), []

    def worker(k):
        for i in range(50):
            seq.run(lambda db, v=k * 100 + i: (db.execute("INSERT INTO notes VALUES (?)", (v,)), done.append(v)))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    seq.close()
    other = Store(store.path)
    stored = [r[0] for r in other.conn().execute("SELECT n FROM notes ORDER BY rowid")]
    other.close()
    assert stored == done and len(stored) == 400


def test_concurrent_orders_get_unique_gapless_ids_and_are_all_stored(app):
    desk = app.extensions["desk"]
    answers = []

    def post(k):
        for i in range(15):
            body = seed_single(strike=250, price=0.01, qty=1 + i, account=f"T{k}", client_order_id=f"t{k}-{i}")
            answers.append(desk.submit(parse_order(body, "single")))

    threads = [threading.Thread(target=post, args=(k,)) for k in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    ids = sorted(order["order_id"] for _, order in answers)
    assert ids == [f"ORD-{n:08d}" for n in range(1, 121)]
    assert all(desk.store.get_order(i) is not None for i in ids)


def test_orders_commit_without_checkpointing_and_the_background_checkpoint_copies_them(store):
    # Arrange: the writer leaves checkpoints to the background thread, far past SQLite's default 1,000 pages
    seq = Sequencer(store)
    assert seq.run(lambda db: db.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == WRITER_AUTOCHECKPOINT_PAGES
    for i in range(1500):  # one log frame per commit at least: past the default threshold
        seq.run(lambda db, i=i: db.execute("INSERT INTO notes VALUES (?)", (i,)))
    # Act
    frames, copied = store.checkpoint()
    # Assert: no order's commit checkpointed on the way (the log kept every frame), and now it is all copied
    assert frames >= 1500 and copied == frames
    seq.close()
