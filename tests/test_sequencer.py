"""The sequencer: jobs run in order on one thread, committed in groups; a job's failure undoes its own writes."""
from __future__ import annotations

import threading

import pytest

from optsim.domain.models import parse_order
from optsim.trading.sequencer import Sequencer, _Job
from optsim.trading.store import WRITER_AUTOCHECKPOINT_PAGES, Store
from tests.conftest import seed_single

NOTE = "INSERT INTO notes VALUES (?)"


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


def in_one_group(seq: Sequencer, fns: list) -> list:
    """Run ``fns`` as one group, in this order, as the sequencer runs the jobs that queued while it was busy.
    Returns each one's result, or the exception it raised."""
    jobs = [_Job(fn) for fn in fns]
    with seq._turn:
        seq._apply(jobs)
    return [job.error or job.result for job in jobs]


def statements(seq: Sequencer) -> list[str]:
    """Every statement the writer runs from here on (one per row of an ``executemany``)."""
    seen: list[str] = []
    seq._db.set_trace_callback(seen.append)
    return seen


def stored_notes(store: Store) -> list[int]:
    other = Store(store.path)
    try:
        return [r[0] for r in other.conn().execute("SELECT n FROM notes ORDER BY rowid")]
    finally:
        other.close()


def test_held_rows_of_a_group_are_written_together_without_savepoints(store):
    seq = Sequencer(store)
    seen = statements(seq)
    # Act: four jobs that only hold rows, the way an order that rests holds its own
    outcomes = in_one_group(seq, [lambda db, n=n: db.hold(NOTE, (n,)) for n in range(4)])
    seq.close()
    # Assert: one transaction, no savepoint, the rows in order
    assert outcomes == [None] * 4
    assert not [s for s in seen if s.startswith(("SAVEPOINT", "RELEASE"))]
    assert seen[0] == "BEGIN IMMEDIATE" and seen[-1] == "COMMIT" and len(seen) == 6
    assert stored_notes(store) == [0, 1, 2, 3]


def test_a_read_sees_the_rows_held_before_it_in_its_group(store):
    seq = Sequencer(store)
    outcomes = in_one_group(seq, [
        lambda db: db.hold(NOTE, (1,)),
        lambda db: (db.hold(NOTE, (2,)), db.execute("SELECT COUNT(*) FROM notes").fetchone()[0])[1],
    ])
    seq.close()
    assert outcomes == [None, 2]
    assert stored_notes(store) == [1, 2]


def test_a_failing_job_in_a_group_loses_its_held_and_written_rows_and_no_one_elses(store):
    seq = Sequencer(store)

    def holds_then_fails(db):
        db.hold(NOTE, (3,))
        raise ValueError("no")

    def holds_writes_then_fails(db):
        db.hold(NOTE, (5,))
        db.execute(NOTE, (6,))  # writes the earlier jobs' rows, then opens this job's savepoint
        raise ValueError("no")

    outcomes = in_one_group(seq, [
        lambda db: db.hold(NOTE, (1,)),
        lambda db: db.execute(NOTE, (2,)),
        holds_then_fails,
        lambda db: db.hold(NOTE, (4,)),
        holds_writes_then_fails,
        lambda db: db.hold(NOTE, (7,)),
    ])
    seq.close()
    assert [type(o).__name__ for o in outcomes] == ["NoneType", "Cursor", "ValueError", "NoneType", "ValueError",
                                                    "NoneType"]
    assert sorted(stored_notes(store)) == [1, 2, 4, 7]


def test_a_client_order_id_used_earlier_in_the_same_group_is_found(app):
    """The id is held, not yet written, when the retry arrives: the lookup must still see it."""
    desk = app.extensions["desk"]
    body = seed_single(price=1.20, client_order_id="grp-1")
    desk.quotes.pull()  # as desk.submit does before it queues
    first, retry, clash = in_one_group(desk._sequencer, [
        lambda db: desk._submit(db, parse_order(body, "single")),
        lambda db: desk._submit(db, parse_order(body, "single")),
        lambda db: desk._submit(db, parse_order({**body, "qty": 2}, "single")),
    ])
    assert first[0] == 201, first[1]["reject"]
    assert retry == (200, first[1])
    assert clash[0] == 409 and clash[1]["reject"]["reason"] == "DUPLICATE"


def test_client_order_ids_are_known_again_after_a_restart(app, config):
    from options_service import create_app

    desk = app.extensions["desk"]
    body = seed_single(price=1.20, client_order_id="kept-1")
    status, order = desk.submit(parse_order(body, "single"))
    assert status == 201
    desk.close()
    reopened = create_app(config).extensions["desk"]
    try:  # the retry is answered as the order it repeats, not stored twice
        status, again = reopened.submit(parse_order(body, "single"))
        assert (status, again["order_id"]) == (200, order["order_id"])
    finally:
        reopened.close()
