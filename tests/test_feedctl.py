"""feed_control.json: the drill switches the service writes and the feed reads every tick."""
import json

import pytest

from optsim.market import feedctl
from optsim.market.feedctl import FaultError, FaultSet, clear_faults, parse_faults, read_faults, write_faults


def test_missing_file_means_no_faults(tmp_path):
    assert read_faults(tmp_path) == FaultSet()
    assert read_faults(tmp_path).active() == {}


def test_write_then_read_round_trips_and_stamps_the_request(tmp_path):
    # Act
    written = write_faults(tmp_path, stall=True, wide=["tsla"], venues_dark=["MIAX", "BOX"], seq_gap=3)
    # Assert
    back = read_faults(tmp_path)
    assert back == written
    assert back.active() == {"stall": True, "wide": ["TSLA"], "venues_dark": ["BOX", "MIAX"], "seq_gap": 3}
    assert back.ts is not None and back.ts == written.ts
    doc = json.loads((tmp_path / "feed_control.json").read_text())
    assert set(doc) == {"faults", "ts"} and doc["faults"]["crossed"] == []


def test_write_keeps_the_other_drills_running(tmp_path):
    write_faults(tmp_path, venues_dark=["MIAX"])
    write_faults(tmp_path, wide=["TSLA"])
    assert read_faults(tmp_path).active() == {"venues_dark": ["MIAX"], "wide": ["TSLA"]}


def test_clear_named_drills_or_all_of_them(tmp_path):
    write_faults(tmp_path, venues_dark=["MIAX"], stall=True, seq_gap=2)
    assert clear_faults(tmp_path, "stall").active() == {"venues_dark": ["MIAX"], "seq_gap": 2}
    assert clear_faults(tmp_path) == FaultSet()
    assert read_faults(tmp_path) == FaultSet()


def test_crossed_takes_series_padded_or_not_and_underlyings(tmp_path):
    faults = write_faults(tmp_path, crossed=["AAPL250117C00200000", "SPY   250117P00575000", "qqq"])
    assert faults.crossed == {"AAPL  250117C00200000", "SPY   250117P00575000", "QQQ"}
    assert faults.is_crossed("QQQ   250117C00500000", "QQQ")
    assert not faults.is_crossed("AAPL  250117P00200000", "AAPL")


@pytest.mark.parametrize("faults, field", [
    ({"meltdown": True}, "meltdown"),
    ({"stall": "yes"}, "stall"),
    ({"freeze_heartbeat": 1}, "freeze_heartbeat"),
    ({"wide": "TSLA"}, "wide"),  # a bare string is not a list of names
    ({"wide": ["TS LA"]}, "wide"),
    ({"venues_dark": [42]}, "venues_dark"),
    ({"crossed": ["AAPL  251317C00200000"]}, "crossed"),  # month 13
    ({"seq_gap": -1}, "seq_gap"),
    ({"seq_gap": True}, "seq_gap"),
    ({"seq_gap": 1.5}, "seq_gap"),
])
def test_bad_switches_are_refused_before_the_file_is_touched(tmp_path, faults, field):
    with pytest.raises(FaultError) as exc:
        write_faults(tmp_path, **faults)
    assert exc.value.field == field
    assert not (tmp_path / "feed_control.json").exists()


def test_clear_refuses_an_unknown_switch(tmp_path):
    with pytest.raises(FaultError):
        clear_faults(tmp_path, "meltdown")


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"faults": {"stall": "maybe"}}', '{"faults": []}', "\xff"])
def test_damaged_file_means_no_faults_unless_strict(tmp_path, content, caplog):
    (tmp_path / "feed_control.json").write_text(content, encoding="latin-1")
    assert read_faults(tmp_path) == FaultSet()
    assert "ignoring feed_control.json" in caplog.text
    with pytest.raises(ValueError):
        read_faults(tmp_path, strict=True)


def test_repeating_a_seq_gap_is_a_new_request(tmp_path, monkeypatch):
    clock = iter([100.0, 101.0])
    monkeypatch.setattr(feedctl.time, "time", lambda: next(clock))
    first, second = write_faults(tmp_path, seq_gap=5), write_faults(tmp_path, seq_gap=5)
    assert first == second and (first.ts, second.ts) == (100.0, 101.0)


def test_union_turns_on_what_either_side_turns_on():
    flags = parse_faults({"stall": True, "wide": ["AAPL"], "seq_gap": 2})
    file = parse_faults({"wide": ["TSLA"], "venues_dark": ["BOX"], "seq_gap": 1}, ts=5.0)
    both = flags.union(file)
    assert both.active() == {"stall": True, "wide": ["AAPL", "TSLA"], "venues_dark": ["BOX"], "seq_gap": 2}
    assert both.ts == 5.0
