"""A failed run is retried once, then recorded as failed with its error, and the rest complete;
a crash or Ctrl-C keeps the finished rows, and ``--resume`` runs only what is missing."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from optsim.research.executor import connect, fan_out
from optsim.research.fanout import run_fanout
from optsim.research.plan import Spec
from tests.fanout_data import read_csv as _read, write_stream
from tests.suite import wait_for

ROOT = Path(__file__).resolve().parent.parent


def attempt(task):
    """A task that fails its first ``fails`` attempts (counted in marker files), by raising or
    by killing its worker process; then returns its name."""
    marker_dir, name, fails, how = task
    tried = len([p for p in os.listdir(marker_dir) if p.startswith(name + ".")])
    Path(marker_dir, f"{name}.{tried}").touch()
    if tried < fails:
        if how == "exit":
            os._exit(3)
        raise RuntimeError(f"{name} failed on attempt {tried + 1}")
    return name


@pytest.mark.timeout(180)
def test_retry_once_then_failed_and_the_others_complete(tmp_path):
    tasks = [(str(tmp_path), "steady", 0, "raise"), (str(tmp_path), "flaky", 1, "raise"),
             (str(tmp_path), "broken", 5, "raise"), (str(tmp_path), "crashy", 1, "exit"),
             (str(tmp_path), "doomed", 5, "exit")]
    done = {}
    with connect(workers=2) as client:
        fan_out(client, attempt, tasks, key=lambda t: f"t-{t[1]}",
                on_done=lambda t, result, error: done.__setitem__(t[1], (result, error)))
    assert done["steady"] == ("steady", None)
    assert done["flaky"] == ("flaky", None)
    assert done["crashy"] == ("crashy", None)  # the worker died under it once; the retry ran it
    assert done["broken"][0] is None and done["broken"][1] == "RuntimeError: broken failed on attempt 2"
    assert done["doomed"][0] is None and "KilledWorker" in done["doomed"][1]
    tries = lambda name: len([p for p in os.listdir(tmp_path) if p.startswith(name + ".")])  # noqa: E731
    assert tries("broken") == 2 and tries("flaky") == 2 and tries("steady") == 1


@pytest.fixture(scope="module")
def stream(tmp_path_factory) -> Path:
    return write_stream(tmp_path_factory.mktemp("stream") / "stream.npz")


def _spec(stream, grid=None, runs=4):
    return Spec(mode="sweep", data=str(stream), strategy="requote", runs=runs, seed=5,
                vary=("latency", "liquidity"), grid=grid or {"every": [40, 80]})


@pytest.mark.timeout(180)
def test_a_failing_point_is_recorded_and_the_sweep_completes(stream, tmp_path):
    summary = run_fanout(_spec(stream, {"every": [40, 0]}, runs=2), tmp_path, workers=2, progress=False)
    rows = _read(tmp_path / "runs.csv")
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "failed"]
    assert rows[2]["error"].startswith("ValueError: every and levels must be >= 1")
    assert summary["runs_failed"] == 2 and summary["points"][1]["failed"] == 2
    assert "Failed runs" in (tmp_path / "report.html").read_text()


@pytest.mark.timeout(180)
def test_resume_after_a_crash_runs_only_the_missing_rows(stream, tmp_path):
    whole, crashed = tmp_path / "whole", tmp_path / "crashed"
    run_fanout(_spec(stream), whole, workers=2, progress=False)
    lines = (whole / "runs.csv").read_text().splitlines(keepends=True)
    crashed.mkdir()
    (crashed / "spec.json").write_bytes((whole / "spec.json").read_bytes())
    # three finished rows, shuffled as completion order would leave them, then a torn line
    (crashed / "runs.csv").write_text(lines[0] + lines[5] + lines[2] + lines[7] + lines[3][:20])
    summary = run_fanout(_spec(stream), crashed, workers=1, progress=False, resume=True)
    assert (crashed / "runs.csv").read_bytes() == (whole / "runs.csv").read_bytes()
    assert summary["complete"]
    timing = _read(crashed / "timing.csv")
    assert len(timing) == 5  # only the five missing runs ran


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_ctrl_c_keeps_finished_rows_and_resume_completes(stream, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "optsim.backtest", "montecarlo", "--data", str(stream), "--strategy",
           "requote", "--param", "every=20", "--runs", "40", "--seed", "8", "--workers", "1", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        wait_for(lambda: (out / "runs.csv").exists() and len((out / "runs.csv").read_text().splitlines()) >= 3,
                 timeout=90, what="two finished runs")
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 130, err
    assert "continue with --resume" in err
    kept = _read(out / "runs.csv")
    assert 2 <= len(kept) < 40 and all(r["status"] == "ok" for r in kept)
    assert [r["run_id"] for r in kept] == sorted(r["run_id"] for r in kept)
    done = subprocess.run([sys.executable, "-m", "optsim.backtest", "montecarlo", "--resume", str(out),
                           "--workers", "2"], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    rows = _read(out / "runs.csv")
    assert len(rows) == 40 and {r["run_id"]: r for r in rows}.items() >= {r["run_id"]: r for r in kept}.items()
