"""Recording the feed as backtest data: what is written, that it loads, and that a killed feed leaves a usable one."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fillsim.types import BUY_EVENT, DEPTH_CLEAR_EVENT, DEPTH_EVENT, EVENT_DTYPE, EVENT_TYPE_MASK, SELL_EVENT, TRADE_EVENT
from optsim.config import load_config
from optsim.market.feed import Publisher
from optsim.research.data import load_data
from optsim.research.errors import DataError
from optsim.research.recording import MANIFEST, Recorder

ROOT = Path(__file__).resolve().parent.parent


def small_config(**feed):
    return load_config(overrides={
        "service": {"as_of": "2025-01-02"},
        "underlyings": {"AAPL": {"spot": 225.0, "vol": 0.25}, "TSLA": {"spot": 250.0, "vol": 0.55}},
        "chain": {"weeklies": 1, "monthlies": 1, "strikes_per_side": 3},
        "feed": {"trade_probability": 0.2, **feed}})


class FakeClock:
    def __init__(self):
        self.now = 1_735_828_200.0

    def __call__(self):
        self.now += 0.25
        return self.now


def record(tmp_path, ticks=60, config=None):
    """Run the feed in-process for ``ticks`` snapshots, recording; return (publisher, recorder, dir)."""
    config = config or small_config()
    out = tmp_path / "rec"
    publisher = Publisher(config, tmp_path / "data", clock=FakeClock())
    recorder = Recorder(out, publisher.market, config, flush_s=0.0)
    publisher.on_publish = recorder.record
    for _ in range(ticks):
        publisher.tick()
    recorder.close()
    return publisher, recorder, out


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def book_at_end(events):
    """Replay depth rows into {side: {price: qty}} as a reader would."""
    book = {BUY_EVENT: {}, SELL_EVENT: {}}
    for row in events:
        kind = int(row["ev"]) & EVENT_TYPE_MASK
        side = BUY_EVENT if row["ev"] & BUY_EVENT else SELL_EVENT if row["ev"] & SELL_EVENT else 0
        if kind == DEPTH_CLEAR_EVENT:
            book = {BUY_EVENT: {}, SELL_EVENT: {}}
        elif kind == DEPTH_EVENT:
            level = book[side]
            if row["qty"] > 0:
                level[round(row["px"] * 100)] = row["qty"]
            else:
                level.pop(round(row["px"] * 100), None)
    return book


def test_recording_holds_each_series_consolidated_book_trades_and_the_underlying(tmp_path):
    publisher, recorder, out = record(tmp_path)
    data = load_data(out)
    market = publisher.market
    # the manifest lists every series and underlying with contract, tick and multiplier
    manifest = json.loads((out / MANIFEST).read_text())
    assert len(data.instruments) == len(market.series) + 2
    assert manifest["span"][0] < manifest["span"][1]
    option = data.instrument(market.series[0].symbol)
    assert option.kind == "option" and option.multiplier == 100 and option.tick_size == 0.01
    assert option.meta["tick_class"]["at_or_above_3"] == 0.05 and option.meta["occ"] == market.series[0].symbol
    assert option.meta["right"] in ("C", "P") and option.meta["strike"] > 0
    # every series' book at the end is the sum of its venues' last quotes, per price
    for s in market.series:
        events = data.events(s.symbol)
        assert (np.diff(events["exch_ts"]) >= 0).all() and (events["exch_ts"] == events["local_ts"]).all()
        book = book_at_end(events)
        bids, asks = {}, {}
        for q in s.quotes.values():
            if q.bid_size:
                bids[q.bid] = bids.get(q.bid, 0) + q.bid_size
            if q.ask_size:
                asks[q.ask] = asks.get(q.ask, 0) + q.ask_size
        assert book[BUY_EVENT] == bids and book[SELL_EVENT] == asks, s.symbol
    # every print on the tape is a trade row in its series' file, aggressor and venue kept
    trades = [t for t in market.tape.ring]
    assert trades
    for t in trades[-20:]:
        rows = data.events(t["symbol"])
        rows = rows[(rows["ev"] & EVENT_TYPE_MASK) == TRADE_EVENT]
        match = rows[(rows["exch_ts"] == round(t["ts"] * 1e9)) & np.isclose(rows["px"], t["price"])]
        assert len(match) >= 1
        flag = BUY_EVENT if t["aggressor"] == "BUY" else SELL_EVENT
        assert match[0]["ev"] & flag
        assert manifest["venues"][match[0]["ival"] - 1]["name"] == t["venue"]
    # the underlying is a one-cent-either-side book around the published spot
    spot = market.spots["AAPL"]
    book = book_at_end(data.events("AAPL"))
    assert list(book[BUY_EVENT]) == [round(spot * 100) - 1] and list(book[SELL_EVENT]) == [round(spot * 100) + 1]


def test_depth_rows_never_cross_the_book_in_between(tmp_path):
    _, _, out = record(tmp_path)
    data = load_data(out)
    for name in data.names[:12]:
        bids, asks = {}, {}
        for row in data.events(name):
            if int(row["ev"]) & EVENT_TYPE_MASK != DEPTH_EVENT:
                continue
            side = bids if row["ev"] & BUY_EVENT else asks
            side[row["px"]] = row["qty"]
            if not row["qty"]:
                del side[row["px"]]
            if bids and asks:
                assert max(bids) < min(asks), name


def test_a_restarted_feed_continues_the_recording_with_cleared_books(tmp_path):
    _, _, out = record(tmp_path, ticks=20)
    before = load_data(out).events("AAPL")
    config = small_config()
    publisher = Publisher(config, tmp_path / "data2", clock=lambda: 1_735_829_000.0)
    recorder = Recorder(out, publisher.market, config, flush_s=0.0)
    publisher.on_publish = recorder.record
    publisher.tick()
    recorder.close()
    after = load_data(out).events("AAPL")
    assert len(after) > len(before)
    assert int(after[len(before)]["ev"]) & EVENT_TYPE_MASK == DEPTH_CLEAR_EVENT
    assert len(json.loads((out / MANIFEST).read_text())["sessions"]) == 2


def test_recording_into_a_directory_of_another_chain_is_refused(tmp_path):
    _, _, out = record(tmp_path, ticks=2)
    other = load_config(overrides={"service": {"as_of": "2025-01-02"}, "underlyings": {"SPY": {"spot": 575.0}},
                                   "chain": {"weeklies": 1, "monthlies": 1, "strikes_per_side": 1}})
    with pytest.raises(ValueError, match="another chain"):
        Recorder(out, Publisher(other, tmp_path / "d").market, other)


def test_loader_drops_a_torn_last_row_and_names_a_missing_file(tmp_path):
    _, _, out = record(tmp_path, ticks=10)
    path = out / "AAPL.events"
    rows = len(np.fromfile(path, dtype=EVENT_DTYPE))
    with open(path, "ab") as fh:
        fh.write(b"\x01" * 30)  # a writer killed mid-row
    assert len(load_data(out).events("AAPL")) == rows
    path.unlink()
    with pytest.raises(DataError, match="AAPL.events: event file missing"):
        load_data(out).events("AAPL")


@pytest.mark.parametrize("content, message", [
    (None, "manifest.json missing"),
    (b"{not json", "unreadable manifest"),
    (b'{"schema": 99}', "not a schema-1 recording"),
])
def test_loader_rejects_a_damaged_manifest(tmp_path, content, message):
    if content is not None:
        (tmp_path / MANIFEST).write_bytes(content)
    with pytest.raises(DataError, match=message):
        load_data(tmp_path)


@pytest.mark.timeout(60)
def test_killed_feed_process_leaves_a_loadable_recording(tmp_path):
    (tmp_path / "feed.toml").write_text(
        '[underlyings.AAPL]\nspot = 225.0\n[chain]\nweeklies = 1\nmonthlies = 1\nstrikes_per_side = 2\n')
    out = tmp_path / "rec"
    proc = subprocess.Popen([sys.executable, str(ROOT / "mock_quote_feed.py"), "--data-dir", str(tmp_path / "data"),
                             "--config", str(tmp_path / "feed.toml"), "--as-of", "2025-01-02", "--interval", "0.05",
                             "--record", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not ((out / "AAPL.events").exists() and (out / "AAPL.events").stat().st_size >= 64 * 10):
            assert time.monotonic() < deadline, "the feed recorded nothing"
            assert proc.poll() is None
            time.sleep(0.1)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    data = load_data(out)
    assert len(data.events("AAPL")) >= 10
    assert sum(len(data.events(n)) for n in data.names) > 10


def test_options_mm_runs_on_a_recorded_session_and_keeps_delta_within_its_limit(tmp_path):
    from optsim.research.run import run_backtest
    from optsim.research.strategies.options_mm import ChainPricer
    _, _, rec = record(tmp_path, ticks=160)
    out = tmp_path / "out"
    summary = run_backtest(rec, "options_mm", {"strikes": 2, "interval_ms": 250, "edge": 0.0, "delta_limit": 40},
                           seed=3, out_dir=out)
    names = summary["instruments"]
    assert names[0] == "AAPL" and len(names) == 5 and all(n.startswith("AAPL ") for n in names[1:])
    assert summary["orders"] > 0 and summary["fills"] > 0
    # the recorded venue's terms: its latency and, on option fills, its fee per contract
    data = load_data(rec)
    venue = data.manifest["venues"][0]
    fills = read_csv(out / "fills.csv")
    for f in fills:
        assert int(f["local_ns"]) - int(f["exch_ns"]) == venue["response_latency_us"] * 1000
        if f["asset"] != "AAPL":
            fee = venue["fee_make"] if f["maker"] == "maker" else venue["fee_take"]
            assert float(f["fee"]) == pytest.approx(fee * float(f["qty"]))
    # at every decision equity adds up to the cent; and the delta the strategy saw is back within its
    # limit at the next decision (the hedge fills within the latency) unless options filled meanwhile
    pricer = ChainPricer(data.select(names))
    rows = read_csv(out / "equity.csv")
    mult = {n: data.instrument(n).multiplier for n in names}
    option_fill_times = sorted(int(f["local_ns"]) for f in fills if f["asset"] != "AAPL")
    over = []
    for i, r in enumerate(rows):
        held = [float(r[f"position[{n}]"]) for n in names]
        marked = sum(q * float(r[f"mark[{n}]"]) * mult[n] for q, n in zip(held, names) if q)
        assert abs(float(r["cash"]) + marked - float(r["equity"])) < 0.005
        t = int(r["time_ns"])
        delta = pricer.delta(pricer.greeks(float(r["mark[AAPL]"]), t - int(rows[0]["time_ns"])), held)
        if abs(delta) > 40 and i and abs(prev) > 40:
            quiet = not any(int(rows[i - 1]["time_ns"]) < ft <= t for ft in option_fill_times)
            over.append((t, delta, quiet))
        prev = delta
    assert not [o for o in over if o[2]], over
    assert sum(float(f["qty"]) * (1 if f["side"] == "buy" else -1) for f in fills if f["asset"] == "AAPL") == \
        summary["position"]["AAPL"]
    assert any(f["asset"] == "AAPL" for f in fills), "no hedge was ever needed: the test proves nothing"


@pytest.mark.parametrize("params, message", [
    (["--param", "underlying=XYZ"], "underlying 'XYZ' is not in the recording"),
    (["--param", "expiry=2030-01-01"], "expiry '2030-01-01' is not listed for AAPL"),
    ([], "the recording has no events for the underlying AAPL"),
])
def test_options_mm_that_cannot_trade_the_recording_is_one_line_and_exit_2(tmp_path, capsys, params, message):
    from optsim.backtest import main
    _, _, rec = record(tmp_path, ticks=4)
    if not params:
        (rec / "AAPL.events").write_bytes(b"")
    assert main(["run", "--data", str(rec), "--strategy", "options_mm", *params]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: strategy options_mm cannot run on") and message in err, err
