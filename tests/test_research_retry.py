"""A failed task is retried once (after an exception or its worker dying), then reported failed
with its error while the rest complete; Ctrl-C keeps the finished rows and ``--resume`` completes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from optsim.backtest import main
from optsim.research.executor import connect, fan_out
from optsim.research.fanout import run_fanout, stored_spec
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


@pytest.fixture(scope="module")
def client():
    with connect(workers=2) as c:
        yield c


@pytest.mark.timeout(180)
def test_retry_once_then_failed_and_the_others_complete(client, tmp_path):
    tasks = [(str(tmp_path), "steady", 0, "raise"), (str(tmp_path), "flaky", 1, "raise"),
             (str(tmp_path), "broken", 5, "raise"), (str(tmp_path), "crashy", 1, "exit"),
             (str(tmp_path), "doomed", 5, "exit")]
    done = {}
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


RUNS = 48  # enough that Ctrl-C lands mid-way: with 16, all had sometimes finished before the signal arrived


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_ctrl_c_keeps_finished_rows_and_resume_completes(client, stream, tmp_path, capsys):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "optsim.backtest", "montecarlo", "--data", str(stream), "--strategy",
           "tests.fanout_strategies:quote_touch", "--param", "interval_ns=1000000", "--runs", str(RUNS), "--seed", "8", "--workers", "1", "--out", str(out)]
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
    wait_for(lambda: not _group_alive(proc.pid), timeout=30, what="the cluster's processes to exit")
    kept = _read(out / "runs.csv")
    assert 2 <= len(kept) < RUNS and all(r["status"] == "ok" for r in kept)
    assert [r["run_id"] for r in kept] == sorted(r["run_id"] for r in kept)
    summary = run_fanout(stored_spec(out), out, client=client, progress=False, resume=True)
    assert summary["complete"] and summary["runs_failed"] == 0
    rows = _read(out / "runs.csv")
    assert len(rows) == RUNS and {r["run_id"]: r for r in rows}.items() >= {r["run_id"]: r for r in kept}.items()
    # the CLI's --resume on a finished directory has nothing left to run; a changed spec is refused
    assert main(["montecarlo", "--resume", str(out)]) == 0
    assert main(["montecarlo", "--resume", str(out), "--runs", str(RUNS + 1)]) == 2
    assert "--runs differs from the stored run" in capsys.readouterr().err


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.timeout(180)
def test_a_run_that_fails_inside_a_batch_fails_alone(client, tmp_path):
    # Arrange: enough runs that they travel in batches of several; two raise and two kill their worker
    from optsim.research.executor import batch_size
    names = [f"r{i:02d}" for i in range(40)]
    plan = {"r03": (5, "raise"), "r07": (1, "raise"), "r11": (1, "exit"), "r21": (5, "exit")}
    tasks = [(str(tmp_path), name, *plan.get(name, (0, "raise"))) for name in names]
    assert batch_size(len(tasks), 2) > 1
    done = {}
    # Act
    fan_out(client, attempt, tasks, key=lambda t: f"b-{t[1]}",
            on_done=lambda t, result, error: done.__setitem__(t[1], (result, error)))
    # Assert: every run reported once; only the two that fail every time failed, after two tries each
    assert sorted(done) == names
    assert done["r03"] == (None, "RuntimeError: r03 failed on attempt 2")
    assert done["r21"][0] is None and done["r21"][1].startswith("KilledWorker: worker tcp://127.0.0.1:")
    assert all(done[n] == (n, None) for n in names if n not in ("r03", "r21"))
    tries = lambda name: len([p for p in os.listdir(tmp_path) if p.startswith(name + ".")])  # noqa: E731
    assert all(tries(n) == 2 for n in plan) and all(tries(n) <= 2 for n in names)
    # a run that raised cost no other run a second try; a worker that died cost only its own batch
    assert sum(tries(n) == 2 for n in names if n not in plan) <= 2 * (batch_size(len(tasks), 2) - 1)


@pytest.mark.timeout(60)
def test_a_cluster_with_no_workers_ends_the_command(stream, tmp_path, monkeypatch, capsys):
    from distributed import LocalCluster

    from optsim.research import executor
    monkeypatch.setattr(executor, "NO_WORKERS_S", 1.0)
    out = tmp_path / "out"
    with LocalCluster(n_workers=0, processes=False, protocol="tcp", host="127.0.0.1",
                      dashboard_address=None, scheduler_kwargs={"dashboard": False}) as empty:
        code = main(["montecarlo", "--data", str(stream), "--strategy", "tests.fanout_strategies:quote_touch",
                     "--runs", "3", "--scheduler", empty.scheduler_address, "--out", str(out)])
    assert code == 2
    assert f"no worker for 1 s; the finished runs are kept in {out}: continue with --resume {out}" in \
        capsys.readouterr().err
    assert json.loads((out / "summary.json").read_text())["complete"] is False  # written over what finished
