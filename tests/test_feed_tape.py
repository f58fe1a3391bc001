"""Trade prints and the files on disk: gapless trade_seq, slow readers, atomic snapshots."""
import json
import threading

import numpy as np

from optsim.config import load_config
from optsim.market.feed import Publisher
from optsim.market.feedctl import clear_faults, write_faults
from optsim.market.snapshot import from_json, read_snap


def config(**feed):
    return load_config(overrides={
        "service": {"as_of": "2025-01-02"},
        "underlyings": {"AAPL": {"spot": 225.0}, "TSLA": {"spot": 250.0, "vol": 0.55}},
        "chain": {"weeklies": 1, "monthlies": 2, "strikes_per_side": 6},
        "feed": {"trade_probability": 0.1, "json_interval_s": 0, "json_cpu_share": 0,  # quotes.json with every snapshot
                 **feed}})


def snapshots(tmp_path, n, **feed):
    """Tick ``n`` times and return every quotes.json written."""
    publisher = Publisher(config(**feed), tmp_path)
    out = []
    for _ in range(n):
        publisher.tick()
        out.append(json.loads((tmp_path / "quotes.json").read_text()))
    return publisher, out


class SlowReader:
    """What a consumer does: take every print above the last trade_seq it saw, count what it missed."""

    def __init__(self):
        self.last = 0
        self.taken: list[int] = []
        self.missed = 0

    def read(self, doc):
        fresh = [t for t in doc["trades"] if t["trade_seq"] > self.last]
        if fresh:
            self.missed += fresh[0]["trade_seq"] - self.last - 1
            self.taken += [t["trade_seq"] for t in fresh]
            self.last = fresh[-1]["trade_seq"]


def test_trade_seq_is_gapless_and_the_ring_is_oldest_first(tmp_path):
    publisher, docs = snapshots(tmp_path, 15)
    final = docs[-1]["trades"]
    seqs = [t["trade_seq"] for t in final]
    assert seqs == list(range(1, publisher.market.tape.trade_seq + 1)) and len(seqs) > 50
    assert [t["ts"] for t in final] == sorted(t["ts"] for t in final)


def test_a_reader_polling_every_fourth_snapshot_still_gets_every_print(tmp_path):
    publisher, docs = snapshots(tmp_path, 20)
    reader = SlowReader()
    for doc in docs[3::4]:
        reader.read(doc)
    assert reader.missed == 0
    assert reader.taken == list(range(1, publisher.market.tape.trade_seq + 1))


def test_a_reader_too_slow_for_the_ring_knows_how_many_prints_it_missed(tmp_path):
    publisher, docs = snapshots(tmp_path, 12, trades_kept=10)
    reader = SlowReader()
    for doc in docs[2::3]:
        reader.read(doc)
    assert reader.missed > 0
    assert len(reader.taken) + reader.missed == publisher.market.tape.trade_seq == docs[-1]["trades"][-1]["trade_seq"]


def test_a_reader_of_every_quotes_json_gets_every_print_however_far_apart_they_are(tmp_path):
    # Arrange: a ring of 10 prints, and quotes.json allowed a ten-thousandth of a core: at least two snapshots
    # apart, with ~15 prints a snapshot
    publisher = Publisher(config(trades_kept=10, json_cpu_share=0.0001), tmp_path)
    reader, seqs = SlowReader(), []
    # Act: read every quotes.json the feed writes
    for _ in range(24):
        publisher.tick()
        doc = json.loads((tmp_path / "quotes.json").read_text())
        if doc["seq"] not in seqs:
            seqs.append(doc["seq"])
            reader.read(doc)
    # Assert: documents were skipped, yet no print was lost; the quotes.snap ring stays at 10
    assert len(seqs) < 12 and publisher.market.tape.trade_seq > 30
    assert reader.missed == 0 and reader.taken == list(range(1, reader.last + 1))
    assert len(read_snap(tmp_path / "quotes.snap").trades) == 10


def test_prints_take_the_nbbo_on_the_aggressor_side(tmp_path):
    _, docs = snapshots(tmp_path, 6)
    doc = docs[-1]
    latest = [t for t in doc["trades"] if t["ts"] == doc["ts"]]
    assert latest
    for t in latest:
        q = doc["quotes"][t["symbol"]]
        side = "ask" if t["aggressor"] == "BUY" else "bid"
        assert (t["price"], t["venue"]) == (q[side], q[f"{side}_venue"])
        assert 1 <= t["qty"] <= q[f"{side}_size"]


def test_heartbeat_carries_the_last_trade_seq_written(tmp_path):
    publisher, docs = snapshots(tmp_path, 5)
    hb = json.loads((tmp_path / "feed_heartbeat.json").read_text())
    assert hb["trade_seq"] == docs[-1]["trades"][-1]["trade_seq"] and hb["seq"] == docs[-1]["seq"] == 5


def test_a_reader_hammering_quotes_json_never_sees_half_a_file(tmp_path):
    publisher = Publisher(config(), tmp_path)
    publisher.tick()
    done, reads, errors = threading.Event(), [], []

    def hammer():
        while not done.is_set():
            try:
                reads.append(json.loads((tmp_path / "quotes.json").read_bytes())["seq"])
            except ValueError as exc:  # a torn or empty file
                errors.append(exc)

    reader = threading.Thread(target=hammer)
    reader.start()
    try:
        for _ in range(25):
            publisher.tick()
    finally:
        done.set()
        reader.join()
    assert errors == []
    assert reads == sorted(reads) and len(set(reads)) > 10
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def _same_market(tmp_path) -> bool:
    """quotes.json and quotes.snap hold the same snapshot: seq, NBBO and every venue's quote."""
    snap, doc = read_snap(tmp_path / "quotes.snap"), from_json((tmp_path / "quotes.json").read_bytes())
    if snap.seq != doc.seq or list(snap.series["symbol"]) != list(doc.series["symbol"]):
        return False
    columns = [snap.venue_names.index(name) for name in doc.venue_names]  # the JSON may list venues in another order
    return all(np.array_equal(snap.series[f], doc.series[f]) for f in ("bid", "bid_size", "ask", "ask_size")) and all(
        np.array_equal(snap.venues[f][:, columns], doc.venues[f]) for f in ("quoted", "bid", "ask"))


def test_quotes_json_follows_every_nth_snapshot_and_catches_up_on_a_stall_and_on_stop(tmp_path):
    # Arrange: quotes.json once a second, snapshots every 0.25 s
    publisher = Publisher(config(interval_s=0.25, json_interval_s=1.0), tmp_path)
    # Act
    written = []
    for _ in range(10):
        publisher.tick()
        written.append(json.loads((tmp_path / "quotes.json").read_text())["seq"])
    # Assert: the first snapshot at once, then every fourth, each the market quotes.snap had then
    assert written == [1, 1, 1, 1, 5, 5, 5, 5, 9, 9] and publisher.seq == 10
    # Act: a stall drill freezes the files where they are: quotes.json first catches up with snapshot 10
    write_faults(tmp_path, stall=True)
    publisher.tick()
    # Assert
    assert json.loads((tmp_path / "quotes.json").read_text())["seq"] == 10 and _same_market(tmp_path)
    # Act: the stall ends, one more snapshot, then the feed stops
    clear_faults(tmp_path)
    publisher.tick()
    publisher.stop()
    # Assert: the last snapshot is in quotes.json too
    assert publisher.seq == 11 and _same_market(tmp_path)


def test_quotes_json_is_spaced_out_when_a_document_costs_more_than_its_cpu_share(tmp_path, caplog):
    # Arrange: quotes.json asked for with every snapshot, but allowed a ten-thousandth of a core: any document
    # costing over 25 µs of CPU pushes the next one back by more than a snapshot
    publisher = Publisher(config(interval_s=0.25, json_cpu_share=0.0001), tmp_path)
    # Act
    with caplog.at_level("INFO", logger="optsim.market.feed.publisher"):
        for _ in range(6):
            publisher.tick()
    # Assert: quotes.snap has every snapshot, quotes.json still the first; the log says why
    assert read_snap(tmp_path / "quotes.snap").seq == 6
    assert json.loads((tmp_path / "quotes.json").read_text())["seq"] == 1
    assert "feed.json_cpu_share is 0.0001 of a core" in caplog.text
    # Act: the feed stops
    publisher.stop()
    # Assert: quotes.json catches up with the last snapshot all the same
    assert json.loads((tmp_path / "quotes.json").read_text())["seq"] == 6 and _same_market(tmp_path)


def test_prints_no_quotes_json_reached_the_disk_with_are_carried_by_the_next_one(tmp_path, monkeypatch):
    """A full disk refuses quotes.json for a few ticks: the prints of those ticks wait in the ring for the next
    document that is written, so a reader of every document still misses none."""
    import errno

    import optsim.fileio

    publisher = Publisher(config(trades_kept=10), tmp_path)
    reader = SlowReader()
    publisher.tick()
    reader.read(json.loads((tmp_path / "quotes.json").read_text()))
    real_replace, full = optsim.fileio.os.replace, {"on": True}

    def replace(src, dst):
        if full["on"] and str(dst).endswith("quotes.json"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(optsim.fileio.os, "replace", replace)
    for _ in range(4):  # ~15 prints a tick into a ring of 10: more than it keeps, none carried
        publisher.tick()
    full["on"] = False
    publisher.tick()
    reader.read(json.loads((tmp_path / "quotes.json").read_text()))
    assert publisher.market.tape.trade_seq > 40
    assert reader.missed == 0 and reader.taken == list(range(1, publisher.market.tape.trade_seq + 1))
