"""Drills through feed_control.json, reread every tick: stall, frozen heartbeat, crossed, wide, dark, gap."""
import json
import logging

import pytest

from optsim.config import load_config
from optsim.market.feed import Publisher
from optsim.market.feed.quoting import max_widths
from optsim.market.feedctl import FaultSet, clear_faults, parse_faults, write_faults


def small_config():
    return load_config(overrides={
        "service": {"as_of": "2025-01-02"},
        "underlyings": {"AAPL": {"spot": 225.0, "vol": 0.25}, "TSLA": {"spot": 250.0, "vol": 0.55}},
        "chain": {"weeklies": 1, "monthlies": 1, "strikes_per_side": 4},
        "feed": {"json_interval_s": 0, "json_cpu_share": 0}})  # quotes.json with every snapshot: drills read off both


class FakeClock:
    def __init__(self):
        self.now = 1_735_828_200.0

    def __call__(self):
        self.now += 0.25
        return self.now


@pytest.fixture
def feed(tmp_path):
    return Publisher(small_config(), tmp_path, clock=FakeClock())


def quotes(feed):
    return json.loads((feed.data_dir / "quotes.json").read_text())


def heartbeat(feed):
    return json.loads((feed.data_dir / "feed_heartbeat.json").read_text())


def ticks(feed, n):
    for _ in range(n):
        feed.tick()


def test_healthy_feed_writes_both_files_each_tick(feed):
    ticks(feed, 3)
    hb = heartbeat(feed)
    assert quotes(feed)["seq"] == hb["seq"] == 3
    assert hb["status"] == "running" and hb["contracts"] == len(feed.market) == 2 * 2 * 9 * 2
    assert hb["trade_seq"] == feed.market.tape.trade_seq
    assert quotes(feed)["venues_down"] == []


def test_stall_stops_both_files_and_the_heartbeat_ages(feed):
    ticks(feed, 2)
    write_faults(feed.data_dir, stall=True)
    ticks(feed, 4)
    assert quotes(feed)["seq"] == heartbeat(feed)["seq"] == 2
    assert feed.clock.now - heartbeat(feed)["ts"] >= 4 * 0.25
    clear_faults(feed.data_dir)
    feed.tick()
    assert quotes(feed)["seq"] == heartbeat(feed)["seq"] == 3  # no snapshot was written, none skipped


def test_frozen_heartbeat_keeps_its_old_ts_and_seq_while_quotes_go_on(feed):
    ticks(feed, 2)
    frozen = heartbeat(feed)
    write_faults(feed.data_dir, freeze_heartbeat=True)
    ticks(feed, 3)
    assert heartbeat(feed) == frozen
    assert quotes(feed)["seq"] == 5


def test_crossed_drill_crosses_the_named_series_and_underlyings_only(feed):
    series = next(s for s in quotes_after(feed, 1)["quotes"] if s.startswith("AAPL"))
    write_faults(feed.data_dir, crossed=[series, "TSLA"])
    feed.tick()
    doc = quotes(feed)
    crossed = {s for s, q in doc["quotes"].items() if q["bid"] > q["ask"]}
    assert crossed == {series} | {s for s in doc["quotes"] if s.startswith("TSLA")}
    clear_faults(feed.data_dir, "crossed")
    feed.tick()
    assert all(q["bid"] < q["ask"] for q in quotes(feed)["quotes"].values())


def quotes_after(feed, n):
    ticks(feed, n)
    return quotes(feed)


def test_wide_drill_quotes_the_underlying_at_the_maximum_width(feed):
    write_faults(feed.data_dir, wide=["TSLA"])
    doc = quotes_after(feed, 1)
    for symbol, q in doc["quotes"].items():
        for v in q["venues"].values():
            bid, ask = round(v["bid"] * 100), round(v["ask"] * 100)
            max_width = int(max_widths(bid))
            if symbol.startswith("TSLA"):
                assert max_width - 10 < ask - bid <= max_width, symbol
            else:
                assert ask - bid < max_width - 5, symbol


def test_dark_venues_vanish_from_every_series_and_are_listed(feed):
    write_faults(feed.data_dir, venues_dark=["MIAX", "CBOE", "NOSUCH"])
    doc = quotes_after(feed, 1)
    assert doc["venues_down"] == ["CBOE", "MIAX"]
    for q in doc["quotes"].values():
        assert not {"MIAX", "CBOE"} & set(q["venues"])
        assert q["bid_venue"] not in ("MIAX", "CBOE") and q["ask_venue"] not in ("MIAX", "CBOE")
    clear_faults(feed.data_dir)
    doc = quotes_after(feed, 1)
    assert doc["venues_down"] == [] and any("MIAX" in q["venues"] for q in doc["quotes"].values())


def test_seq_gap_skips_numbers_once_per_request(feed):
    ticks(feed, 2)
    write_faults(feed.data_dir, seq_gap=5)
    seqs = [quotes_after(feed, 1)["seq"] for _ in range(3)]
    assert seqs == [8, 9, 10]
    write_faults(feed.data_dir, seq_gap=5)  # asked again: one more gap
    assert quotes_after(feed, 1)["seq"] == 16


def test_flag_faults_hold_for_the_run_on_top_of_the_file(tmp_path):
    feed = Publisher(small_config(), tmp_path, flags=parse_faults({"venues_dark": ["BOX"], "seq_gap": 3}),
                     clock=FakeClock())
    write_faults(tmp_path, venues_dark=["ISE"])
    doc = quotes_after(feed, 1)
    assert doc["seq"] == 4 and doc["venues_down"] == ["BOX", "ISE"]
    clear_faults(tmp_path)
    assert quotes_after(feed, 1)["venues_down"] == ["BOX"]


@pytest.mark.parametrize("content", ["{broken", '{"faults": {"stall": "please"}}', "[]"])
def test_damaged_control_file_means_no_faults_reported_once(feed, content, caplog):
    (feed.data_dir / "feed_control.json").write_text(content)
    ticks(feed, 3)
    assert quotes(feed)["seq"] == 3
    assert caplog.text.count("ignoring the control file") == 1


def test_each_drill_start_and_stop_is_logged(feed, caplog):
    caplog.set_level(logging.WARNING, logger="optsim.market.feed")
    write_faults(feed.data_dir, wide=["TSLA"])
    feed.tick()
    clear_faults(feed.data_dir)
    feed.tick()
    assert "fault started: wide=['TSLA']" in caplog.text and "fault stopped: wide" in caplog.text


def test_stop_writes_a_stopping_heartbeat_even_when_frozen(tmp_path):
    feed = Publisher(small_config(), tmp_path, flags=FaultSet(freeze_heartbeat=True), clock=FakeClock())
    ticks(feed, 2)
    feed.stop()
    assert heartbeat(feed)["status"] == "stopping" and heartbeat(feed)["seq"] == 2


def test_a_full_disk_is_ridden_out_tick_by_tick_and_the_files_resume_without_a_gap(feed, monkeypatch, caplog):
    """ENOSPC on any of the files: logged once, the process goes on, and the next snapshot that reaches the disk
    is the next seq (it exited before, and came back only after the supervisor's backoff)."""
    import errno

    import optsim.fileio

    ticks(feed, 2)
    real_replace = optsim.fileio.os.replace
    full = {"on": True}

    def replace(src, dst):
        if full["on"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(optsim.fileio.os, "replace", replace)
    with caplog.at_level(logging.WARNING):
        ticks(feed, 5)
        feed.stop()  # a stop on a full disk says so and returns
    assert heartbeat(feed)["seq"] == quotes(feed)["seq"] == 2 and heartbeat(feed)["status"] == "running"
    assert [r.getMessage() for r in caplog.records].count(
        f"cannot write into {feed.data_dir}: [Errno 28] No space left on device; the market moves on and the files "
        "resume when they can be written") == 1
    assert "cannot write the last snapshot and heartbeat" in caplog.text
    assert not [p.name for p in feed.data_dir.iterdir() if p.name.endswith(".tmp")]  # no half-written file left
    full["on"] = False
    feed.tick()
    assert heartbeat(feed)["seq"] == quotes(feed)["seq"] == 3 and heartbeat(feed)["status"] == "running"


def test_a_feed_restarted_after_the_close_resumes_its_session_clock_not_the_open(tmp_path):
    """The runbook's feed_stale mitigation restarts the feed: its clock must not turn back and reopen the market."""
    ticks(Publisher(small_config(), tmp_path, clock=FakeClock()), 2)
    hb = json.loads((tmp_path / "feed_heartbeat.json").read_text())
    (tmp_path / "feed_heartbeat.json").write_text(json.dumps({**hb, "session_time": "2025-01-02T16:00:00"}))
    again = Publisher(small_config(), tmp_path, clock=FakeClock())
    ticks(again, 2)
    assert heartbeat(again)["session_time"] == "2025-01-02T16:00:00"


def test_a_heartbeat_of_another_date_leaves_the_clock_at_the_open(tmp_path):
    (tmp_path / "feed_heartbeat.json").write_text(json.dumps({"session_time": "2024-12-31T15:00:00"}))
    feed = Publisher(small_config(), tmp_path, clock=FakeClock())
    feed.tick()
    assert heartbeat(feed)["session_time"] == f"2025-01-02T{small_config().feed.session_open.isoformat()}"
