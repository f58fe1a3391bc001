"""Market data at the edge: the feed's columnar snapshot, checks on every snapshot, and what health says.

The service trades on the snapshot it took, not on the heartbeat: a snapshot of the wrong shape is
refused whole (the last good one ages out), a series with a bad price is unusable (read as unquoted,
counted), and no endpoint answers 500 for any of it.
"""
from __future__ import annotations

import json
import os
import threading
import time

import numpy as np
import pytest

from options_service import create_app, start_background
from optsim.config import load_config
from optsim.market.feed import Publisher
from optsim.fileio import atomic_write_json
from optsim.market.snapshot import DTYPES, MAGIC, BadSnapshot, from_json, read_snap
from optsim.market.quotes import QuoteBook
from tests.conftest import AS_OF, seed_single
from tests.snapshots import build_snapshot, write_snapshot

C200 = "AAPL  250117C00200000"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def venue_quote(bid, bid_size, ask, ask_size):
    return {"bid": bid, "bid_size": bid_size, "ask": ask, "ask_size": ask_size}


def series(bid, bid_size, ask, ask_size, venues=None):
    return {"bid": bid, "bid_size": bid_size, "bid_venue": "CBOE", "ask": ask, "ask_size": ask_size,
            "ask_venue": "CBOE", "venues": venues or {"CBOE": venue_quote(bid, bid_size, ask, ask_size)}}


# ---------------------------------------------------------------------- the feed's columnar snapshot
def test_the_feeds_snapshot_file_holds_the_same_market_as_its_json(tmp_path):
    # Arrange
    cfg = load_config(overrides={"service": {"data_dir": str(tmp_path), "as_of": AS_OF},
                                 "feed": {"json_interval_s": 0, "json_cpu_share": 0}})
    pub = Publisher(cfg, tmp_path)
    for _ in range(3):
        pub.tick()
    # Act
    binary = read_snap(tmp_path / "quotes.snap")
    text = from_json((tmp_path / "quotes.json").read_bytes())
    # Assert: same seq, same series, same NBBO and venue quotes (venues may be listed in another order)
    assert (binary.seq, binary.ts, len(binary.series)) == (text.seq, text.ts, len(text.series)) == (3, binary.ts, 1470)
    assert list(binary.series["symbol"]) == list(text.series["symbol"])
    for field in ("bid", "bid_size", "ask", "ask_size"):
        assert np.array_equal(binary.series[field], text.series[field])
        for name in text.venue_names:
            assert np.array_equal(binary.venues[field][:, binary.venue_names.index(name)],
                                  text.venues[field][:, text.venue_names.index(name)])
    assert np.array_equal(binary.trades["trade_seq"], text.trades["trade_seq"])


def test_the_service_takes_the_snapshot_file_and_a_later_hand_written_json(tmp_path):
    # Arrange: the feed has published; then someone writes quotes.json by hand, later than the feed's pair
    cfg = load_config(overrides={"service": {"data_dir": str(tmp_path), "as_of": AS_OF}})
    Publisher(cfg, tmp_path).tick()
    book = QuoteBook(tmp_path)
    assert book.refresh() and book.snapshot.seq == 1 and len(book.snapshot) == 1470
    old = time.time_ns() - 10 * 10**9
    os.utime(tmp_path / "quotes.snap", ns=(old, old))
    # Act
    write_snapshot(cfg, seq=7, overrides={C200: series(1.10, 10, 1.20, 10)})
    # Assert
    assert book.refresh() and book.snapshot.seq == 7
    assert (book.quote(C200).bid, book.quote(C200).ask) == (1.10, 1.20)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "wrong magic"])
def test_a_damaged_snapshot_file_is_refused_whole(tmp_path, damage):
    cfg = load_config(overrides={"service": {"data_dir": str(tmp_path), "as_of": AS_OF}})
    Publisher(cfg, tmp_path).tick()
    path = tmp_path / "quotes.snap"
    data = path.read_bytes()
    path.write_bytes({"truncated": data[: len(data) // 2], "garbage": os.urandom(4000),
                      "wrong magic": b"NOTASNAP" + data[8:]}[damage])
    with pytest.raises(BadSnapshot):
        read_snap(path)


@pytest.mark.parametrize("column", ["series", "trades"])
def test_a_snapshot_whose_symbol_bytes_are_damaged_is_refused_and_the_last_good_one_stays(tmp_path, column):
    # Arrange: a book on a good snapshot, then the feed's next one with one symbol's bytes damaged in place
    cfg = load_config(overrides={"service": {"data_dir": str(tmp_path), "as_of": AS_OF}})
    publisher, book = Publisher(cfg, tmp_path), QuoteBook(tmp_path)
    publisher.tick()
    assert book.refresh()
    while True:  # a snapshot with prints, so a print's symbol can be damaged too
        publisher.tick()
        if len(read_snap(tmp_path / "quotes.snap").trades):
            break
    path = tmp_path / "quotes.snap"
    data = bytearray(path.read_bytes())
    size = int.from_bytes(data[len(MAGIC):len(MAGIC) + 4], "little")
    start = json.loads(data[len(MAGIC) + 4:len(MAGIC) + 4 + size])["arrays"][column][0]
    data[start + DTYPES[column].fields["symbol"][1]] = 0xFF  # the first row's symbol, first byte
    path.write_bytes(bytes(data))
    os.remove(tmp_path / "quotes.json")
    # Act
    taken = book.refresh()
    # Assert: refused whole and said why; the good snapshot stays in use
    assert not taken and book.snapshot.seq == 1 and book.read_errors == 1
    assert "not ASCII" in book.last_error


# ---------------------------------------------------------------------- wrong shapes never answer 500
WRONG_SHAPES = {
    "a list": [],
    "quotes a list": {"seq": 2, "ts": None, "quotes": []},
    "seq a string": {"seq": "two", "ts": None, "quotes": {}},
    "ts NaN": {"seq": 2, "ts": "NaN", "quotes": {}},
}


@pytest.mark.parametrize("shape", WRONG_SHAPES)
def test_a_wrong_shape_snapshot_is_refused_and_no_endpoint_answers_500(config, client, shape):
    # Arrange: a good snapshot is in use, then a wrong-shape one replaces the file
    client.get("/health")
    doc = WRONG_SHAPES[shape]
    if isinstance(doc, dict) and doc.get("ts") is None:
        doc = {**doc, "ts": time.time()}
    atomic_write_json(os.path.join(config.data_dir, "quotes.json"), doc)
    # Act
    answers = {path: client.get(path) for path in ("/health", "/metrics", "/quotes/status", "/api/summary")}
    order = client.post("/orders", json=seed_single())
    # Assert: the last good snapshot stays in use and health says the newest was refused
    assert all(r.status_code < 500 for r in answers.values()), {p: r.status_code for p, r in answers.items()}
    assert order.status_code in (201, 422)
    health = answers["/health"].get_json()
    assert health["checks"]["nbbo-feed:snapshotValidity"][0]["status"] == "warn"
    status = answers["/quotes/status"].get_json()
    assert (status["snapshot_seq"], status["read_errors"]) == (1, 1) and status["last_error"]
    assert 'optsim_quotes_refused_total{what="snapshot"} 1.0' in answers["/metrics"].get_data(as_text=True)


@pytest.mark.parametrize("entry", [
    "not an object",
    {"bid": 1.0, "bid_size": 5, "ask": 1.1, "ask_size": 5, "venues": {"CBOE": "1.00 x 1.10"}},
    {"bid": "1.00", "bid_size": 5, "ask": 1.1, "ask_size": 5},
    {"bid": 1.0, "bid_size": 2.5, "ask": 1.1, "ask_size": 5},
])
def test_a_series_of_the_wrong_shape_is_unusable_not_a_500(config, client, entry):
    # Arrange
    write_snapshot(config, seq=2, overrides={})
    doc = build_snapshot(config, seq=3)
    doc["quotes"][C200] = entry
    atomic_write_json(os.path.join(config.data_dir, "quotes.json"), doc)
    # Act
    order = client.post("/orders", json=seed_single())
    health = client.get("/health").get_json()
    # Assert
    assert (order.status_code, order.get_json()["reason"]) == (422, "NO_REFERENCE")
    assert health["checks"]["nbbo-feed:unusableSeries"][0]["observedValue"] == 1
    assert client.get("/metrics").status_code == 200 and client.get("/quotes/status").status_code == 200


def test_a_snapshot_that_lists_no_series_is_in_use_and_fails_the_series_check(config, client):
    """Not "no snapshot": the feed published one, with nothing in it, and /health says so where ops look."""
    doc = build_snapshot(config, seq=2)
    doc["quotes"] = {}
    atomic_write_json(os.path.join(config.data_dir, "quotes.json"), doc)
    order = client.post("/orders", json=seed_single())
    health = client.get("/health")
    status = client.get("/quotes/status").get_json()
    assert (order.status_code, order.get_json()["reason"]) == (422, "NO_REFERENCE")
    check = health.get_json()["checks"]["nbbo-feed:unusableSeries"][0]
    assert health.status_code == 503 and check["status"] == "fail" and "lists no series" in check["output"]
    assert health.get_json()["checks"]["nbbo-feed:snapshotAge"][0]["status"] == "pass"
    assert (status["snapshot_seq"], status["series"]) == (2, 0) and status["state"] != "absent"


# ---------------------------------------------------------------------- bad prices are never traded
@pytest.mark.parametrize("quote", [
    series(1.20, 10, -0.50, 10),                                               # a negative offer
    series(1.20, 10, 0.0, 10),                                                 # an offer of 0 with size
    series(3.00, 10, 1.30, 10),                                                # crossed by $1.70
    series(1.20, 10, 1.30, 10, {"CBOE": venue_quote(1.20, 10, 1.30, 10),
                                "ISE": venue_quote(1.20, 10, -1.0, 10)}),     # one venue's offer negative
    series(1e14 - 1, 10, 1e14, 10, {"CBOE": venue_quote(1e14 - 1, 10, 1e14, 10)}),  # finite, past any tick grid
    series(1.20, 10, 1.30, 10, {"CBOE": venue_quote(1.20, 10, 1e300, 10)}),    # one venue's offer absurd
    series(1.20, 10, 1.30, 2**62),                                             # a size no venue displays
], ids=["negative ask", "zero ask with size", "crossed beyond tolerance", "venue negative ask", "huge prices",
        "venue huge ask", "huge size"])
def test_a_series_with_bad_prices_is_refused_counted_and_never_filled(config, client, quote):
    # Arrange
    write_snapshot(config, seq=2, overrides={C200: quote})
    # Act: a marketable buy that would fill at the bad offer
    r = client.post("/orders", json=seed_single(price=2.00))
    # Assert
    body = r.get_json()
    assert (r.status_code, body["reason"]) == (422, "NO_REFERENCE")
    assert "failed the market-data checks" in body["message"] and body["order"]["fills"] == []
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "optsim_quote_unusable_series 1.0" in metrics
    assert 'optsim_quotes_refused_total{what="series"} 1.0' in metrics
    assert client.get("/health").get_json()["checks"]["nbbo-feed:unusableSeries"][0]["status"] == "warn"


def test_a_crossed_market_within_tolerance_is_a_market_not_bad_data(config, client):
    write_snapshot(config, seq=2, overrides={C200: series(1.25, 10, 1.20, 10)})
    r = client.post("/orders", json=seed_single(price=1.25))
    assert (r.status_code, r.get_json()["reason"]) == (422, "NO_REFERENCE")
    assert "locked/crossed" in r.get_json()["message"]
    assert client.get("/health").get_json()["checks"]["nbbo-feed:unusableSeries"][0]["status"] == "pass"


def test_a_nan_snapshot_is_not_json_and_is_refused_whole(config, client):
    # Arrange: Python's json writes NaN, which is not JSON: the document is refused, the last good one stays
    client.get("/health")
    doc = build_snapshot(config, seq=2, overrides={C200: series(float("nan"), 10, 1.30, 10)})
    with open(os.path.join(config.data_dir, "quotes.json"), "w") as fh:
        fh.write(json.dumps(doc))
    # Act
    status = client.get("/quotes/status").get_json()
    # Assert
    assert status["snapshot_seq"] == 1 and "not valid JSON" in status["last_error"]


def test_prints_with_bad_prices_are_dropped_and_counted(config, client):
    # Arrange
    client.get("/health")  # the first snapshot sets where the prints start
    good = {"trade_seq": 1, "ts": time.time(), "symbol": C200, "venue": "CBOE", "price": 1.2, "qty": 5,
            "aggressor": "BUY"}
    write_snapshot(config, seq=2, trades=[good, {**good, "trade_seq": 2, "price": -1.0},
                                          {**good, "trade_seq": 3, "qty": 0}])
    # Act
    client.get("/health")
    desk = client.application.extensions["desk"]
    # Assert
    assert [t.trade_seq for t in desk.quotes.drain_trades()] == [1]
    assert desk.quotes.bad_trades == 2


def test_a_restarted_feed_is_followed_from_its_first_print_and_nothing_is_counted_missed(config, client):
    """A feed restart numbers prints from 1 again (5625 -> 1184 in the field): they must not wait for 5626."""
    desk = client.application.extensions["desk"]
    print_ = {"ts": time.time(), "symbol": C200, "venue": "CBOE", "price": 1.2, "qty": 5, "aggressor": "BUY"}
    write_snapshot(config, seq=40, trades=[{**print_, "trade_seq": 5624}])
    client.get("/health")  # the first snapshot sets where the prints start
    write_snapshot(config, seq=41, trades=[{**print_, "trade_seq": n} for n in (5624, 5625)])
    client.get("/health")
    assert [t.trade_seq for t in desk.quotes.drain_trades()] == [5625]
    # Act: the feed restarts; its first snapshot the service reads already holds a few prints
    write_snapshot(config, seq=3, trades=[{**print_, "trade_seq": n} for n in (1182, 1183, 1184)])
    client.get("/health")
    write_snapshot(config, seq=4, trades=[{**print_, "trade_seq": n} for n in (1183, 1184, 1185)])
    client.get("/health")
    # Assert
    assert [t.trade_seq for t in desk.quotes.drain_trades()] == [1182, 1183, 1184, 1185]
    assert desk.quotes.missed_trades == 0


def test_missed_trades_says_what_it_counts(client):
    """Not 'lost to a sequence gap': a seq_gap drill skips snapshots, not prints; the ring running over does."""
    [help_line] = [line for line in client.get("/metrics").get_data(as_text=True).splitlines()
                   if line.startswith("# HELP optsim_feed_missed_trades ")]
    assert "feed.trades_kept" in help_line and "sequence gap" not in help_line


# ---------------------------------------------------------------------- health judges the snapshot in use
@pytest.fixture
def clocked(config):
    clock = Clock()
    write_snapshot(config, ts=clock.now)
    app = create_app(config, clock=clock)
    yield app.test_client(), clock
    app.extensions["desk"].close()


def _check(client, name):
    return client.get("/health").get_json()["checks"][name][0]


def test_a_stale_snapshot_with_a_fresh_heartbeat_fails_health(config, clocked):
    # Arrange: the snapshot is 60 s old, the heartbeat says the feed beat just now
    client, clock = clocked
    client.get("/health")
    clock.now += 60
    atomic_write_json(os.path.join(config.data_dir, "feed_heartbeat.json"), {"ts": clock.now, "seq": 1, "pid": 0})
    # Act
    r = client.get("/health")
    # Assert
    body = r.get_json()
    assert r.status_code == 503
    assert body["checks"]["nbbo-feed:heartbeatAge"][0]["status"] == "pass"
    assert body["checks"]["nbbo-feed:snapshotAge"][0]["status"] == "fail"


@pytest.mark.parametrize("fault", ["truncated", "deleted"])
def test_a_truncated_or_deleted_snapshot_warns_then_fails_as_the_last_good_one_ages(config, clocked, fault):
    client, clock = clocked
    client.get("/health")
    path = os.path.join(config.data_dir, "quotes.json")
    if fault == "deleted":
        os.unlink(path)
    else:
        with open(path, "r+b") as fh:
            fh.truncate(1000)
    # warn while the last good snapshot is young
    assert _check(client, "nbbo-feed:snapshotValidity")["status"] == "warn"
    assert client.get("/health").status_code == 200
    # fail once it is older than monitor.feed_stale_after_s, whatever the heartbeat
    clock.now += 10
    atomic_write_json(os.path.join(config.data_dir, "feed_heartbeat.json"), {"ts": clock.now, "seq": 1, "pid": 0})
    assert client.get("/health").status_code == 503
    assert _check(client, "nbbo-feed:snapshotAge")["status"] == "fail"
    assert client.post("/orders", json=seed_single()).get_json()["reason"] == "NO_REFERENCE"


def test_a_snapshot_stamped_in_the_future_is_refused(config, client):
    client.get("/health")
    write_snapshot(config, seq=2, ts=time.time() + 3600)
    status = client.get("/quotes/status").get_json()
    assert status["snapshot_seq"] == 1 and "future" in status["last_error"]


# ---------------------------------------------------------------------- off the request thread
def test_with_the_background_thread_requests_never_look_at_the_feeds_files(config, app, client, monkeypatch):
    # Arrange: count every look at the files and which thread made it
    desk = app.extensions["desk"]
    looks: list[str] = []
    real = desk.quotes.refresh
    monkeypatch.setattr(desk.quotes, "refresh", lambda: looks.append(threading.current_thread().name) or real())
    stop = start_background(app)
    try:
        # Act: a new snapshot, then orders
        write_snapshot(config, seq=5, overrides={C200: series(1.10, 10, 1.20, 10)})
        deadline = time.monotonic() + 10
        while desk.quotes.snapshot.seq != 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        for qty in range(1, 6):
            r = client.post("/orders", json=seed_single(price=1.00, qty=qty))
            assert r.status_code == 201, r.get_json()
        client.get("/health"), client.get("/metrics"), client.get("/quotes/status")
    finally:
        stop.set()
    # Assert: the new snapshot was taken, and only by the background thread
    assert desk.quotes.snapshot.seq == 5 and desk.quotes.quote(C200).bid == 1.10
    assert looks and set(looks) <= {"quote-poller", threading.main_thread().name}
    assert threading.main_thread().name not in looks[1:]  # after start_background's first take, only the poller


def test_resting_orders_are_advanced_only_for_series_that_moved(config, client, monkeypatch):
    # Arrange: orders rest on two series
    desk = client.application.extensions["desk"]
    for strike in (200, 210):
        assert client.post("/orders", json=seed_single(strike=strike, price=0.05)).status_code == 201
    desk.poll()
    shown: list[str] = []
    real = desk.execution._show
    monkeypatch.setattr(desk.execution, "_show", lambda venue, symbol, ts: shown.append(symbol) or real(venue, symbol, ts))
    # Act: a snapshot where only the 200 call moved, then one where nothing did
    write_snapshot(config, seq=2, overrides={C200: series(25.00, 10, 25.50, 10)})
    desk.poll()
    moved = list(shown)
    write_snapshot(config, seq=3, overrides={C200: series(25.00, 10, 25.50, 10)})
    desk.poll()
    # Assert
    assert moved == [C200] and shown == [C200]


def test_a_later_snapshot_rechecks_what_moved_and_keeps_every_other_verdict(config):
    # Arrange: a book that took a clean snapshot of the chain
    from optsim.market.snapshot import check
    book = QuoteBook(config.data_dir)
    write_snapshot(config, seq=1)
    assert book.refresh()
    bad_venue = series(1.20, 10, 1.30, 10, {"CBOE": venue_quote(1.20, 10, 1.30, 10),
                                            "ISE": venue_quote(1.20, 10, -1.0, 10)})
    # Act: one venue's offer goes negative on one series, then the series is quoted cleanly again
    write_snapshot(config, seq=2, overrides={C200: bad_venue})
    assert book.refresh()
    broken = book.snapshot
    write_snapshot(config, seq=3)
    assert book.refresh()
    mended = book.snapshot
    # Assert: the verdicts are those of a full check, and only the series that moved is marked as moved
    for snap in (broken, mended):
        assert np.array_equal(snap.usable, check(snap.frame, book.max_cross))
    assert broken.refused(C200) and broken.quote(C200) is None and mended.quote(C200) is not None
    assert broken.unusable == 1 and mended.unusable == 0
    assert broken.changed_since(1) == [C200] and mended.changed_since(2) == [C200]


def _publish_damaged(config, desk, field: str, value) -> int:
    """Write the snapshot in use again as the next seq, with C200's ``field`` set to ``value``; returns that seq."""
    import dataclasses
    from optsim.market.snapshot import write_snap
    frame = desk.quotes.snapshot.frame
    damaged = frame.series.copy()
    damaged[field][desk.quotes.snapshot.index[C200]] = value
    write_snap(os.path.join(config.data_dir, "quotes.snap"),
               dataclasses.replace(frame, seq=frame.seq + 1, series=damaged))
    return frame.seq + 1


@pytest.mark.parametrize("side,venue", [("bid_venue", 99), ("ask_venue", -5)])
def test_an_nbbo_naming_no_listed_venue_makes_its_series_unusable_not_a_500(config, client, side, venue):
    # Arrange: the service on the feed's snapshot, then the same market with one series' NBBO venue damaged
    Publisher(config, config.data_dir).tick()
    os.remove(os.path.join(config.data_dir, "quotes.json"))
    desk = client.application.extensions["desk"]
    desk.quotes.pull()
    seq = _publish_damaged(config, desk, side, venue)
    # Act: only that series' venue index moved, so this is the recheck of what moved
    r = client.post("/orders", json=seed_single(price=1.25))
    # Assert
    assert (r.status_code, r.get_json()["reason"]) == (422, "NO_REFERENCE")
    assert desk.quotes.snapshot.seq == seq and desk.quotes.snapshot.unusable == 1


def _strict_json(text: str):
    """JSON as a browser parses it: NaN and Infinity are not JSON."""
    def refuse(constant):
        raise ValueError(f"{constant} in an answer")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("iv", [float("inf"), -1.0, 0.0, float("nan"), 1e300])
def test_an_implied_vol_that_is_no_vol_leaves_the_series_unpriced_and_every_answer_json(config, client, iv):
    # Arrange: a working order on C200, then a quotes.snap whose implied vol for it is not a vol
    Publisher(config, config.data_dir).tick()
    os.remove(os.path.join(config.data_dir, "quotes.json"))
    assert client.post("/orders", json=seed_single(price=1.25)).status_code == 201
    desk = client.application.extensions["desk"]
    seq = _publish_damaged(config, desk, "iv", iv)
    # Act
    answers = {path: client.get(path) for path in ("/risk", "/api/summary", "/health", "/positions")}
    # Assert: the series has no Greeks (it adds nothing), and no answer carries a NaN the dashboard cannot parse
    assert desk.quotes.snapshot.seq == seq and desk.risk.greeks(C200) is None
    for path, r in answers.items():
        assert r.status_code < 500, path
        _strict_json(r.get_data(as_text=True))
