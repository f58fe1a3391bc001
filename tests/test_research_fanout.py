"""Monte Carlo and sweeps end to end on real Dask clusters: determinism across 1 and 2 local
workers and an external ``dask scheduler`` + two ``dask worker`` processes, each varied factor
moving results the way it should, the CLI's outputs and its errors.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from optsim.backtest import main
from optsim.research.executor import connect
from optsim.research.fanout import run_fanout
from optsim.research.plan import Spec
from tests.fanout_data import read_csv as _read, write_stream
from tests.suite import free_port, stop_processes, wait_for

ROOT = Path(__file__).resolve().parent.parent
QUOTE, TAKE, BOOM = (f"tests.fanout_strategies:{name}" for name in ("quote_touch", "take", "boom"))
DASK = Path(sys.executable).with_name("dask")


@pytest.fixture(scope="module")
def stream(tmp_path_factory) -> Path:
    return write_stream(tmp_path_factory.mktemp("stream") / "stream.npz")


def _mc_args(stream, out, *extra):
    return ["montecarlo", "--data", str(stream), "--strategy", QUOTE, "--param", "interval_ns=1000000",
            "--runs", "6", "--seed", "21", "--out", str(out), *extra]


def _rows(out: Path) -> list[dict]:
    return _read(out / "runs.csv")


@pytest.fixture(scope="module")
def one_worker(stream, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mc1")
    assert main(_mc_args(stream, out, "--workers", "1")) == 0
    return out


@pytest.mark.timeout(180)
def test_same_seed_same_runs_on_one_and_two_local_workers(one_worker, stream, tmp_path):
    assert main(_mc_args(stream, tmp_path, "--workers", "2")) == 0
    assert (tmp_path / "runs.csv").read_bytes() == (one_worker / "runs.csv").read_bytes()
    rows = _rows(tmp_path)
    assert [r["run_id"] for r in rows] == [f"00000-{i:05d}" for i in range(6)]
    assert all(r["status"] == "ok" for r in rows)
    # the draws really differ between runs
    assert len({r["entry_latency_ns"] for r in rows}) == 6 and len({r["liquidity"] for r in rows}) == 6
    assert len({r["pnl"] for r in rows}) > 1
    pids = {r["pid"] for r in _read(tmp_path / "timing.csv")}
    assert len(pids) <= 2


def test_outputs_summary_and_report(one_worker):
    summary = json.loads((one_worker / "summary.json").read_text())
    assert summary["complete"] and summary["runs_done"] == 6 and summary["runs_failed"] == 0
    (point,) = summary["points"]
    pnl = point["figures"]["pnl"]
    values = sorted(float(r["pnl"]) for r in _rows(one_worker))
    assert pnl["mean"] == pytest.approx(sum(values) / 6)
    assert values[0] <= pnl["p5"] <= pnl["p50"] <= pnl["p95"] <= values[-1]
    page = (one_worker / "report.html").read_text()
    assert page.count("<svg") >= 2 and "PnL distribution" in page and "Fill ratio vs latency" in page
    for external in ("<script", "<link", "src=", "url(http", "@import"):  # self-contained: nothing to fetch
        assert external not in page


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_same_runs_through_an_external_scheduler_and_two_workers(one_worker, stream, tmp_path):
    """Same runs.csv as one local worker; and a run that kills its worker there costs only its own batch."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = open(tmp_path / "dask.log", "w")
    procs = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], stdout=log, stderr=log, env=env, cwd=tmp_path)]
    try:
        address = f"tcp://127.0.0.1:{port}"
        for _ in range(2):
            procs.append(subprocess.Popen([str(DASK), "worker", address, "--nthreads", "1", "--no-dashboard",
                                           "--host", "127.0.0.1"], stdout=log, stderr=log, env=env,
                                          cwd=tmp_path))
        from distributed import Client
        wait_for(lambda: _workers(address) == 2, timeout=60, what="two dask workers")
        out = tmp_path / "out"
        assert main(_mc_args(stream, out, "--scheduler", address)) == 0
        assert (out / "runs.csv").read_bytes() == (one_worker / "runs.csv").read_bytes()
        with Client(address, timeout="10s") as client:
            assert len(client.scheduler_info()["workers"]) == 2  # the scheduler's workers are left running
            # the scheduler reschedules a dead worker's task itself (allowed-failures) onto the dead worker it was
            # pinned to; the fan-out must fail that batch and retry its runs, not wait for the worker forever
            _kill_a_worker_mid_batch(client, tmp_path / "markers")
    finally:
        stop_processes(reversed(procs), grace=20)
        log.close()


def _kill_a_worker_mid_batch(client, markers: Path) -> None:
    from optsim.research.executor import fan_out
    from tests.test_research_retry import attempt
    markers.mkdir()
    names = [f"k{i:02d}" for i in range(24)]
    plan = {"k05": (1, "exit"), "k13": (5, "exit")}
    done = {}
    fan_out(client, attempt, [(str(markers), n, *plan.get(n, (0, "raise"))) for n in names],
            key=lambda t: f"ext-{t[1]}", on_done=lambda t, result, error: done.__setitem__(t[1], (result, error)))
    assert sorted(done) == names
    assert done["k13"][0] is None and done["k13"][1].startswith("KilledWorker: worker tcp://127.0.0.1:")
    assert all(done[n] == (n, None) for n in names if n != "k13")


def _workers(address: str) -> int:
    from distributed import Client
    try:
        with Client(address, timeout="2s") as client:
            return len(client.scheduler_info()["workers"])
    except OSError:
        return 0


@pytest.fixture(scope="module")
def client():
    """One two-worker local cluster for the sweeps below (a cluster costs seconds to start)."""
    with connect(workers=2) as c:
        yield c


def _sweep(client, stream, out, grid: dict, strategy=QUOTE, params=None, **kw) -> list[dict]:
    spec = Spec(mode="sweep", data=str(stream), strategy=strategy, grid=grid,
                params=params or {"interval_ns": 1_000_000}, seed=3, **kw)
    run_fanout(spec, out, client=client, progress=False)
    return _rows(out)


@pytest.mark.timeout(180)
def test_more_latency_fewer_maker_fills_at_the_touch(client, stream, tmp_path):
    # quotes joining the touch every 1 ms: the later they arrive, the more queue stands ahead
    rows = _sweep(client, stream, tmp_path, {"entry_latency_ns": [0, 500_000, 900_000]})
    fills = [int(r["fills"]) for r in rows]
    assert fills[0] > fills[1] > fills[2], fills
    assert all(r["maker_share"] == "1.0" for r in rows)  # every fill at the touch, none taken


@pytest.mark.timeout(180)
def test_thinner_books_fewer_fills(client, stream, tmp_path):
    # a taker crossing the spread with IOC orders of 20 fills what the book shows, level by level
    rows = _sweep(client, stream, tmp_path, {"liquidity": [0.0, 0.5, 1.0]}, strategy=TAKE,
                  params={"interval_ns": 1_000_000, "qty": 20}, config={"partial_fills": True})
    volume = [float(r["volume"]) for r in rows]
    assert volume[0] > volume[1] > volume[2], volume
    assert [r["liquidity"] for r in rows] == ["0.0", "0.5", "1.0"]


@pytest.mark.timeout(180)
def test_a_two_name_sweep_with_replicates_and_its_heatmap(client, stream, tmp_path):
    rows = _sweep(client, stream, tmp_path, {"interval_ns": [500_000, 2_000_000], "qty": [1, 2]}, runs=2,
                  vary=("latency", "queue"))
    assert len(rows) == 8 and {r["interval_ns"] for r in rows} == {"500000", "2000000"}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [p["grid"] for p in summary["points"]] == [
        {"interval_ns": 500_000, "qty": 1}, {"interval_ns": 500_000, "qty": 2},
        {"interval_ns": 2_000_000, "qty": 1}, {"interval_ns": 2_000_000, "qty": 2}]
    assert all(p["ok"] == 2 for p in summary["points"])
    page = (tmp_path / "report.html").read_text()
    assert "Mean PnL over the grid" in page and "Best points" in page


def _resume_spec(stream, grid=None, runs=4, strategy=QUOTE):
    return Spec(mode="sweep", data=str(stream), strategy=strategy, runs=runs, seed=5,
                vary=("latency", "liquidity"), grid=grid or {"interval_ns": [500_000, 1_000_000]})


def test_a_failing_point_is_recorded_and_the_sweep_completes(client, stream, tmp_path):
    summary = run_fanout(_resume_spec(stream, {"fail": [False, True]}, runs=2, strategy=BOOM), tmp_path,
                         client=client, progress=False)
    rows = _rows(tmp_path)
    assert [r["status"] for r in rows] == ["ok", "ok", "failed", "failed"]
    assert rows[2]["error"] == "StrategyFailed: strategy raised RuntimeError: boom"
    assert summary["runs_failed"] == 2 and summary["points"][1]["failed"] == 2
    assert "Failed runs" in (tmp_path / "report.html").read_text()


def test_resume_after_a_crash_runs_only_the_missing_rows(client, stream, tmp_path):
    whole, crashed = tmp_path / "whole", tmp_path / "crashed"
    run_fanout(_resume_spec(stream), whole, client=client, progress=False)
    lines = (whole / "runs.csv").read_text().splitlines(keepends=True)
    crashed.mkdir()
    (crashed / "spec.json").write_bytes((whole / "spec.json").read_bytes())
    # three finished rows, shuffled as completion order would leave them, then a torn line
    (crashed / "runs.csv").write_text(lines[0] + lines[5] + lines[2] + lines[7] + lines[3][:20])
    summary = run_fanout(_resume_spec(stream), crashed, client=client, progress=False, resume=True)
    assert (crashed / "runs.csv").read_bytes() == (whole / "runs.csv").read_bytes()
    assert summary["complete"]
    timing = _read(crashed / "timing.csv")
    assert len(timing) == 5  # only the five missing runs ran


@pytest.mark.parametrize("args, message", [
    (["montecarlo", "--strategy", "{quote}", "--runs", "2", "--out", "{out}"], "--data is required"),
    (["montecarlo", "--data", "{stream}", "--strategy", "{quote}", "--out", "{out}"], "--runs is required"),
    (["montecarlo", "--data", "{out}/nope.npz", "--strategy", "{quote}", "--runs", "2", "--out", "{out}"],
     "no such file or directory"),
    (["sweep", "--data", "{stream}", "--strategy", "{quote}", "--grid", "every", "--out", "{out}"],
     "--grid wants name=v1,v2"),
    (["sweep", "--data", "{stream}", "--strategy", "{quote}", "--grid", "queue_model=bogus", "--out", "{out}"],
     "queue model must be one of"),
    (["sweep", "--data", "{stream}", "--strategy", "{quote}", "--grid", "nope=1,2", "--out", "{out}"],
     "has no parameter 'nope'"),
    (["montecarlo", "--data", "{stream}", "--strategy", "nosuch", "--runs", "2", "--out", "{out}"],
     "unknown strategy"),
    (["sweep", "--data", "{stream}", "--strategy", "{quote}", "--grid", "queue_model=log",
      "--runs-per-point", "2", "--vary", "queue", "--out", "{out}"], "one or the other"),
    (["montecarlo", "--data", "{stream}", "--strategy", "{quote}", "--runs", "0", "--out", "{out}"],
     "at least 1"),
    (["montecarlo", "--data", "{stream}", "--strategy", "{quote}", "--runs", "2", "--workers", "0",
      "--out", "{out}"], "--workers must be at least 1"),
    (["montecarlo", "--resume", "{out}"], "no montecarlo was started there"),
])
def test_bad_arguments_are_one_line_and_exit_2(args, message, stream, tmp_path, capsys):
    argv = [a.format(out=tmp_path, stream=stream, quote=QUOTE) for a in args]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


@pytest.mark.timeout(120)
def test_two_local_fan_outs_on_one_machine_do_not_collide():
    # two users' sweeps (or a test beside a sweep): neither cluster may want the scheduler's default port 8787
    with connect(workers=1) as first, connect(workers=1) as second:
        assert first.submit(sum, [1, 2]).result() == 3 and second.submit(sum, [3, 4]).result() == 7


def test_a_seed_past_64_bits_is_refused_before_anything_is_written(stream, tmp_path, capsys):
    out = tmp_path / "mc"
    assert main(["montecarlo", "--data", str(stream), "--runs", "2", "--seed", str(10**23), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: --seed must be an integer from 0 to 2**64 - 1, got {10**23}"
    assert not out.exists()
