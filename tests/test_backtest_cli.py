"""``python -m optsim.backtest run``: every output file, the accounting identities, and bad input."""
from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fillsim.synth import StreamSpec, synth_stream
from optsim.backtest import main
from optsim.research.errors import BacktestInputError, StrategyFailed
from optsim.research.run import run_backtest

ROOT = Path(__file__).resolve().parent.parent
XCHECK = Path("/work/shared/data/xcheck/xcheck_power3.npz")
SUMMARY_KEYS = {"events", "wall_s", "events_per_s", "orders", "fills", "fill_ratio", "volume", "position", "cash",
                "fees", "pnl", "max_drawdown", "sharpe", "markout_1s", "markout_5s", "markout_30s", "config", "seed"}


@pytest.fixture(scope="module")
def stream(tmp_path_factory) -> tuple[Path, Path]:
    """A small hftbacktest-format stream: events in ``data`` and a separate snapshot file, as hftbacktest writes."""
    d = tmp_path_factory.mktemp("stream")
    events, snapshot, _ = synth_stream(StreamSpec(n_events=30_000, seed=11, mean_dt_ns=200_000.0))
    np.savez_compressed(d / "synth.npz", data=events)
    np.savez_compressed(d / "synth_snapshot.npz", data=snapshot)
    return d / "synth.npz", d / "synth_snapshot.npz"


def run_cli(*argv) -> int:
    return main(["run", *map(str, argv)])


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_run_writes_summary_fills_equity_and_report_that_add_up(stream, tmp_path, capsys):
    data, snapshot = stream
    out = tmp_path / "out"
    config = tmp_path / "fillsim.toml"
    config.write_text('entry_latency_ns = 100000\nresponse_latency_ns = 100000\nqueue_model = "power3:3"\n'
                      'fees = { maker = -0.02, taker = 0.05 }\n')
    assert run_cli("--data", data, "--snapshot", snapshot, "--strategy", "mm", "--param", "interval_ns=10000000",
                   "--config", config, "--seed", 5, "--out", out) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary)
    assert summary["seed"] == 5 and summary["config"]["queue_model"] == "power3:3"
    assert summary["events"] == 30_000 and summary["fills"] > 10 and summary["orders"] >= summary["fills"] / 10
    assert set(summary["markout_1s"]) == {"buy", "sell"}
    fills = read_csv(out / "fills.csv")
    assert len(fills) == summary["fills"]
    assert list(fills[0]) == ["order_id", "asset", "side", "price", "qty", "exch_ns", "local_ns", "maker", "fee"]
    signed = sum(float(f["qty"]) * (1 if f["side"] == "buy" else -1) for f in fills)
    assert signed == pytest.approx(summary["position"], abs=1e-9)
    assert sum(float(f["fee"]) for f in fills) == pytest.approx(summary["fees"], abs=0.005)
    for f in fills:  # each fill pays its own side's fee per unit: maker rebate or taker charge
        rate = -0.02 if f["maker"] == "maker" else 0.05
        assert float(f["fee"]) == pytest.approx(rate * float(f["qty"]), abs=1e-9)
    cash_from_fills = -sum(float(f["price"]) * float(f["qty"]) * (1 if f["side"] == "buy" else -1)
                           + float(f["fee"]) for f in fills)
    assert cash_from_fills == pytest.approx(summary["cash"], abs=0.005)
    equity = read_csv(out / "equity.csv")
    assert list(equity[0]) == ["time_ns", "position", "cash", "mark", "equity"]
    for row in equity:  # to the cent at every row
        assert abs(float(row["cash"]) + float(row["position"]) * float(row["mark"]) - float(row["equity"])) < 0.005
    assert [int(r["time_ns"]) for r in equity] == sorted(int(r["time_ns"]) for r in equity)
    assert float(equity[-1]["equity"]) == pytest.approx(summary["equity"], abs=0.005)
    assert float(equity[-1]["position"]) == summary["position"]
    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == 4
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page
    assert "<script" not in page
    assert "pnl" in capsys.readouterr().out


def test_an_xcheck_file_with_its_own_config_and_snapshot_runs_and_no_out_writes_nothing(tmp_path, monkeypatch):
    if not XCHECK.exists():
        pytest.skip(f"{XCHECK} not present")
    monkeypatch.chdir(tmp_path)
    summary = run_backtest(XCHECK, "mm", {"interval_ns": 5_000_000})
    assert summary["events"] == 100_000 and summary["config"] == {}
    assert list(tmp_path.iterdir()) == []
    again = run_backtest(XCHECK, "mm", {"interval_ns": 5_000_000}, out_dir=tmp_path / "o")
    same = ("fills", "orders", "position", "cash", "fees", "pnl", "max_drawdown", "markout_1s")
    assert {k: summary[k] for k in same} == {k: again[k] for k in same}


def test_a_strategy_from_a_file(stream, tmp_path):
    data, _ = stream
    (tmp_path / "mine.py").write_text(
        "def taker(bt, qty=1):\n"
        "    while bt.elapse(50_000_000):\n"
        "        if bt.position <= 0:\n"
        "            bt.buy(bt.best_ask, qty, tif='IOC')\n"
        "        else:\n"
        "            bt.sell(bt.best_bid, qty, tif='IOC')\n")
    summary = run_backtest(data, f"{tmp_path / 'mine.py'}:taker", {"qty": 2})
    assert summary["fills"] > 0 and summary["volume"] == 2 * summary["fills"]


RAISES = "def boom(bt):\n    bt.elapse(10_000_000)\n    bt.buy(bt.best_ask, 1, tif='IOC')\n    bt.elapse(2_000_000_000)\n    raise RuntimeError('model blew up')\n"


@pytest.mark.parametrize("case, argv, message", [
    ("missing", ["--data", "{tmp}/nope.npz"], "nope.npz: no such file or directory"),
    ("garbage", ["--data", "{tmp}/bad.npz"], "not a readable .npz file"),
    ("wrong array", ["--data", "{tmp}/wrong.npz"], "no event array in the file"),
    ("not a recording", ["--data", "{tmp}"], "manifest.json missing"),
    ("strategy", ["--data", "{data}", "--strategy", "nosuch"], "unknown strategy 'nosuch'"),
    ("strategy file", ["--data", "{data}", "--strategy", "{tmp}/none.py:f"], "strategy file"),
    ("parameter", ["--data", "{data}", "--param", "bogus=1"], "has no parameter 'bogus'"),
    ("param syntax", ["--data", "{data}", "--param", "bogus"], "is not KEY=VALUE"),
    ("config", ["--data", "{data}", "--config", "{tmp}/bad.toml"], "config file"),
    ("config key", ["--data", "{data}", "--config", "{tmp}/unknown.toml"], "unknown fillsim config keys"),
    ("no chain", ["--data", "{data}", "--strategy", "options_mm"], "options_mm needs a recorded chain"),
    ("switch as text", ["--data", "{data}", "--config", "{tmp}/switch.json"],
     "partial_fills must be true or false, got 'false'"),
    ("negative seed", ["--data", "{data}", "--config", "{tmp}/jitter.toml", "--seed", "-5"],
     "--seed must be an integer from 0 to 2**64 - 1, got -5"),
])
def test_bad_input_is_one_line_and_exit_code_2(stream, tmp_path, capsys, case, argv, message):
    (tmp_path / "bad.npz").write_bytes(b"not a zip file")
    np.savez(tmp_path / "wrong.npz", prices=np.arange(3.0))
    (tmp_path / "bad.toml").write_text("entry_latency_ns = = 3")
    (tmp_path / "unknown.toml").write_text("latency = 3")
    (tmp_path / "jitter.toml").write_text('jitter = {kind = "normal", sigma = 2000}')
    (tmp_path / "switch.json").write_text('{"partial_fills": "false"}')
    argv = [a.format(tmp=tmp_path, data=stream[0]) for a in argv]
    assert run_cli(*argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and message in err, err


def test_a_strategy_that_raises_prints_its_traceback_keeps_partial_results_and_exits_2(stream, tmp_path, capsys):
    data, _ = stream
    (tmp_path / "boom.py").write_text(RAISES)
    out = tmp_path / "out"
    assert run_cli("--data", data, "--strategy", f"{tmp_path / 'boom.py'}:boom", "--out", out) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: model blew up" in err
    assert err.strip().splitlines()[-1] == "error: strategy raised RuntimeError: model blew up"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["error"] == "strategy raised RuntimeError: model blew up" and summary["fills"] == 1
    assert len(read_csv(out / "fills.csv")) == 1 and (out / "report.html").exists()


def test_the_module_runs_as_a_command(stream, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "optsim.backtest", "run", "--data", str(stream[0]), "--strategy",
                           "mm", "--out", str(tmp_path / "o")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr  # not a terminal: no progress bar
    assert math.isfinite(json.loads((tmp_path / "o" / "summary.json").read_text())["pnl"])
    bad = subprocess.run([sys.executable, "-m", "optsim.backtest", "run", "--data", str(tmp_path / "x.npz")],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_a_run_that_stops_early_counts_only_the_events_its_clock_passed(stream):
    data, _ = stream
    events = np.load(data)["data"]

    def stops(bt):
        for _ in range(4):
            bt.elapse(10_000_000)
        raise RuntimeError("stop")

    with pytest.raises(StrategyFailed) as failed:
        run_backtest(data, stops)
    summary = failed.value.summary
    assert summary["events"] == np.count_nonzero(events["local_ts"] <= summary["end_ns"]) < len(events) / 10


def test_an_order_sent_after_the_last_elapse_counts_as_sent(stream):
    data, _ = stream

    def last_word(bt):
        bt.elapse(10_000_000)
        bt.buy(bt.best_bid, 1, tif="GTX")
        bt.elapse(10_000_000)
        bt.sell(bt.best_ask, 1, tif="GTX")

    assert run_backtest(data, last_word)["orders"] == 2


def _tiny(path: Path, fix=None, **extra) -> Path:
    """A 300-event .npz; ``fix(events)`` breaks its rows in place first."""
    events, _, _ = synth_stream(StreamSpec(n_events=300, seed=4))
    if fix is not None:
        fix(events)
    np.savez(path, data=events, **extra)
    return path


def _set(field, row, value):
    return lambda events: events[field].__setitem__(row, value)


@pytest.mark.parametrize("case, npz, config, argv, message", [
    ("tick too coarse", {}, {"tick_size": 0.02}, [], "tick size 0.02 does not fit"),
    ("tick off grid", {}, {"tick_size": 0.003}, [], "tick size 0.003 does not fit"),
    ("config a list", {"config": np.array("[1,2]")}, None, [], "config entry must be a JSON object"),
    ("config tick text", {"config": np.array('{"tick_size": "abc"}')}, None, [],
     "config tick_size must be a positive number"),
    ("config not json", {"config": np.array("{nope")}, None, [], "config entry is not JSON"),
    ("nan price", {"fix": _set("px", 50, np.nan)}, None, [], "non-finite price"),
    ("negative qty", {"fix": _set("qty", 7, -3.0)}, None, [], "first: row 7"),
    ("size past 2**53 lots", {"fix": _set("qty", 30, 1e300)}, None, [], "size of 2**53 lots"),
    ("price past 2**52 ticks", {"fix": _set("px", 30, 1e14)}, None, [], "price of 2**52 ticks"),
    ("missing snapshot", {}, None, ["--snapshot", "{tmp}/nonexist.npz"], "no such snapshot file"),
])
def test_bad_data_is_refused_before_the_run_in_one_line(tmp_path, capsys, case, npz, config, argv, message):
    _tiny(tmp_path / "d.npz", **npz)
    if config is not None:
        (tmp_path / "c.json").write_text(json.dumps(config))
        argv = [*argv, "--config", "{tmp}/c.json"]
    argv = [a.format(tmp=tmp_path) for a in argv]
    assert run_cli("--data", tmp_path / "d.npz", *argv, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and message in err, err
    assert not (tmp_path / "out").exists()


def test_a_snapshot_for_a_recording_is_refused(tmp_path, capsys):
    (tmp_path / "rec").mkdir()
    assert run_cli("--data", tmp_path / "rec", "--snapshot", _tiny(tmp_path / "s.npz")) == 2
    assert "--snapshot is for an .npz file" in capsys.readouterr().err


class FullDisk:
    """A text file that takes ``room`` writes, then fails each write (and its close) with ENOSPC."""

    def __init__(self, path, *args, room=3, **kwargs):
        self.path, self.room, self.closed = str(path), room, False

    def write(self, text):
        self.room -= 1
        if self.room < 0:
            raise OSError(28, "No space left on device", self.path)
        return len(text)

    def close(self):
        self.closed = True
        if self.room < 0:
            raise OSError(28, "No space left on device", self.path)


def test_an_unusable_out_is_one_line_and_exit_2(stream, tmp_path, capsys):
    data, _ = stream
    (tmp_path / "afile").write_text("x")
    assert run_cli("--data", data, "--out", tmp_path / "afile") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "afile" in err, err


def test_a_disk_that_fills_mid_run_is_reported_as_such_not_as_the_strategy(stream, tmp_path, capsys, monkeypatch):
    from optsim.research import results
    data, _ = stream
    opened = []
    monkeypatch.setattr(results, "open", lambda *a, **k: opened.append(FullDisk(*a, **k)) or opened[-1],
                        raising=False)
    assert run_cli("--data", data, "--param", "interval_ns=10000000", "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "No space left on device" in err and "strategy" not in err, err
    assert len(opened) == 2 and all(fh.closed for fh in opened)


def test_a_switch_that_is_not_a_boolean_is_refused_from_python_too(stream):
    with pytest.raises(BacktestInputError, match="partial_fills must be true or false, got 0"):
        run_backtest(stream[0], "mm", config={"partial_fills": 0})


def test_a_run_without_fills_reports_cleanly_with_em_dashes_and_an_absolute_data_path(stream, tmp_path,
                                                                                     monkeypatch):
    import warnings
    monkeypatch.chdir(stream[0].parent)

    def idle(bt):
        while bt.elapse(500_000_000):
            pass

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = run_backtest(stream[0].name, idle, out_dir=tmp_path / "o")
    assert not [w for w in caught if "legend" in str(w.message)], [str(w.message) for w in caught]
    assert summary["data"] == str(stream[0]) and summary["fill_ratio"] is None
    page = (tmp_path / "o" / "report.html").read_text()
    assert "None" not in page and "null" not in page and "\u2014" in page


def test_the_report_of_a_strategy_that_raised_says_so_in_its_header(stream, tmp_path):
    def stops(bt):
        bt.elapse(10_000_000)
        raise RuntimeError("model blew up")

    with pytest.raises(StrategyFailed):
        run_backtest(stream[0], stops, out_dir=tmp_path / "o")
    header = (tmp_path / "o" / "report.html").read_text().split("</header>")[0]
    assert "Stopped early: strategy raised RuntimeError: model blew up" in header


def test_a_strategy_parameter_without_a_default_is_asked_for_up_front(stream, tmp_path, capsys):
    (tmp_path / "needs.py").write_text("def quoter(bt, size):\n    raise AssertionError('never runs')\n")
    assert run_cli("--data", stream[0], "--strategy", f"{tmp_path / 'needs.py'}:quoter") == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: strategy quoter needs --param size=VALUE (the parameter has no default)"
