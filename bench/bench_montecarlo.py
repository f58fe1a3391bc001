"""Monte Carlo fan-out speed, side by side in one run: 1 vs 2 local workers, per-run overhead,
and the same runs through an external ``dask scheduler`` + 2 ``dask worker`` processes.

    python bench/bench_montecarlo.py [--events 1000000] [--runs 64] [--strategy mm] [--param k=v]

The stream is fillsim.synth's seeded L2 book (written once to a temp .npz that every worker
reads once). Each fan-out is timed from the first task sent to the last row written, on a
cluster started beforehand (startup is printed apart). Per-run overhead is what a run costs
beyond its own time (scheduling, result shipping, the worker's one data load, idle gaps):
``fan-out wall * workers / runs - mean run time``. The local fan-outs run with 1, 2, 2, then 1
workers and each setting's two walls are added, so a steady drift in the host's speed cancels out of
the 2/1 ratio. Every fan-out must give byte-identical runs.csv; the script exits 1 if they do not.

Beside them, the same runs in 1 and 2 plain processes (``multiprocessing``, no Dask, no files):
the machine's own ceiling for the 2/1 ratio, since two busy cores also slow each run down.
"""
from __future__ import annotations

import argparse
import os
from multiprocessing import get_context
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository: tests.suite's process helpers

from fillsim.synth import StreamSpec, synth_stream
from optsim.research.executor import connect
from optsim.research.fanout import run_fanout
from optsim.research.plan import Spec, parse_value, tasks
from optsim.research.runs_table import read_rows
from optsim.research.worker import cached_data, execute
from tests.suite import free_port, stop_processes

# this host's speed drifts by tens of percent over minutes: the mirrored order cancels a steady drift out of
# the 2/1 ratio
WORKER_ORDER = (1, 2, 2, 1)


def _fan_out(spec: Spec, out: Path, client) -> tuple[float, list[float], float]:
    """Wall time, each run's own time, and the idle time of workers that had nothing left to run (s)."""
    started, start = time.time(), time.perf_counter()
    run_fanout(spec, out, client=client, progress=False)
    wall, ended = time.perf_counter() - start, time.time()
    _, timing = read_rows(out / "timing.csv")
    last = {}
    for r in timing:
        last[r["pid"]] = max(last.get(r["pid"], started), float(r["ended"]))
    return wall, [float(r["wall_s"]) for r in timing], sum(ended - t for t in last.values())


def _local(spec, out, workers):
    start = time.perf_counter()
    with connect(workers=workers) as client:
        client.wait_for_workers(workers, timeout=120)
        startup = time.perf_counter() - start
        wall, runs, tail = _fan_out(spec, out, client)
    return startup, wall, runs, tail


def _add(totals: dict, name, result: tuple) -> None:
    """Sum the wall and idle times and pool the run times of one setting measured more than once."""
    if name not in totals:
        totals[name] = result
        return
    totals[name] = tuple(a + b for a, b in zip(totals[name], result))


def _run_own_time(task) -> float:
    return execute(task)["wall_s"]


def _pid_once_loaded(_) -> int:
    time.sleep(0.3)  # long enough that every process of the pool takes one
    return os.getpid()


def _plain(spec: Spec, processes: int) -> tuple[float, list[float]]:
    """The same runs over a plain process pool whose processes have loaded the data: wall time and each
    run's own time."""
    with get_context("spawn").Pool(processes, initializer=cached_data, initargs=(spec.data,)) as pool:
        while len(set(pool.map(_pid_once_loaded, range(processes), chunksize=1))) < processes:
            pass
        start = time.perf_counter()
        runs = pool.map(_run_own_time, tasks(spec), chunksize=1)
        return time.perf_counter() - start, runs


def _external(spec, out, tmp: Path):
    from distributed import Client
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).with_name("dask"))
    log = open(tmp / "dask.log", "w")
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              stdout=log, stderr=log)]
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                client = Client(address, timeout="2s")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        for _ in range(2):
            procs.append(subprocess.Popen([dask, "worker", address, "--nthreads", "1", "--no-dashboard",
                                           "--host", "127.0.0.1"], stdout=log, stderr=log))
        with client:
            client.wait_for_workers(2, timeout=120)
            return _fan_out(spec, out, client)
    finally:
        stop_processes(reversed(procs), grace=30)
        log.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=64)
    parser.add_argument("--strategy", default="mm")
    parser.add_argument("--param", action="append", default=[], metavar="K=V")
    parser.add_argument("--no-external", action="store_true", help="skip the external-scheduler fan-out")
    args = parser.parse_args(argv)
    params = {k: parse_value(v) for k, _, v in (p.partition("=") for p in args.param)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        events, snapshot, _ = synth_stream(StreamSpec(n_events=args.events, seed=7))
        np.savez(tmp / "stream.npz", data=events, snapshot=snapshot)
        print(f"stream: {args.events:,} events ({time.perf_counter() - t0:.1f} s to generate); "
              f"{args.runs} Monte Carlo runs of {args.strategy} {params or ''}, cores: {os.cpu_count()}")
        spec = Spec(mode="montecarlo", data=str(tmp / "stream.npz"), strategy=args.strategy, runs=args.runs,
                    seed=1, vary=("latency", "queue", "liquidity"), params=params)
        results, plain = {}, {}
        for i, k in enumerate(WORKER_ORDER):
            startup, wall, runs, tail = _local(spec, tmp / f"local{k}-{i}", k)
            _add(results, f"local {k}", (wall, runs, tail))
            print(f"local cluster, {k} worker(s): fan-out {wall:7.2f} s  (cluster start {startup:.1f} s)  "
                  f"mean run {np.mean(runs):.3f} s")
        for k in WORKER_ORDER:
            wall, runs = _plain(spec, k)
            _add(plain, k, (wall, runs))
            print(f"plain process pool, {k}:      fan-out {wall:7.2f} s  mean run {np.mean(runs):.3f} s")
        if not args.no_external:
            results["external 2"] = _external(spec, tmp / "external", tmp)
            print(f"external scheduler, 2 workers: fan-out {results['external 2'][0]:7.2f} s")
        print()
        w1, w2 = results["local 1"][0], results["local 2"][0]
        print(f"2 workers / 1 worker wall: {w2 / w1:.2f}  (goal <= 0.6); the same in plain processes without Dask: "
              f"{plain[2][0] / plain[1][0]:.2f} (this machine's ceiling)")
        for name, (wall, runs, tail) in results.items():
            k, mean = int(name.split()[-1]), float(np.mean(runs))
            over, idle = wall * k / len(runs) - mean, tail / len(runs)
            print(f"per-run overhead, {name}: {over * 1e3:7.1f} ms = {over / mean:6.1%} of a run's own "
                  f"{mean * 1e3:.0f} ms; of it scheduling and data loading {(over - idle) * 1e3:.1f} ms = "
                  f"{(over - idle) / mean:.1%} (goal < 5%), workers idle at the end {idle * 1e3:.1f} ms")
        if "external 2" in results:
            print(f"external / local, 2 workers: {results['external 2'][0] / (w2 / WORKER_ORDER.count(2)):.2f}  (goal within 0.8-1.2; "
                  "against the mean of the two local runs)")
        tables = {f"local {k} ({i})": tmp / f"local{k}-{i}" / "runs.csv" for i, k in enumerate(WORKER_ORDER)}
        tables.update({
                  **({"external 2": tmp / "external" / "runs.csv"} if "external 2" in results else {})})
        same = len({p.read_bytes() for p in tables.values()}) == 1
        print(f"runs.csv identical across {', '.join(tables)}: {same}")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
