"""Monte Carlo fan-out speed, side by side in one run: 1 vs 2 local workers, per-run overhead,
and the same runs through an external ``dask scheduler`` + 2 ``dask worker`` processes.

    python bench/bench_montecarlo.py [--events 1000000] [--runs 64] [--strategy mm] [--param k=v]

The stream is fillsim.synth's seeded L2 book (written once to a temp .npz that every worker
reads once). Each fan-out is timed from the first task sent to the last row written, on a
cluster started beforehand (startup is printed apart). Per-run overhead is what a run costs
beyond its own time (scheduling, result shipping, the worker's one data load, idle gaps):
``fan-out wall * workers / runs - mean run time``. All three fan-outs must give byte-identical
runs.csv; the script exits 1 if they do not.
"""
from __future__ import annotations

import argparse
import os
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
from optsim.research.plan import Spec, parse_value
from optsim.research.runs_table import read_rows
from tests.suite import free_port, stop_processes


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
        results = {}
        for k in (1, 2):
            startup, wall, runs, tail = _local(spec, tmp / f"local{k}", k)
            results[f"local {k}"] = (wall, runs, tail)
            print(f"local cluster, {k} worker(s): fan-out {wall:7.2f} s  (cluster start {startup:.1f} s)  "
                  f"mean run {np.mean(runs):.3f} s")
        if not args.no_external:
            results["external 2"] = _external(spec, tmp / "external", tmp)
            print(f"external scheduler, 2 workers: fan-out {results['external 2'][0]:7.2f} s")
        print()
        w1, w2 = results["local 1"][0], results["local 2"][0]
        print(f"2 workers / 1 worker wall: {w2 / w1:.2f}  (goal <= 0.6)")
        for name, (wall, runs, tail) in results.items():
            k, mean = int(name.split()[-1]), float(np.mean(runs))
            over, idle = wall * k / len(runs) - mean, tail / len(runs)
            print(f"per-run overhead, {name}: {over * 1e3:7.1f} ms = {over / mean:6.1%} of a run's own "
                  f"{mean * 1e3:.0f} ms; of it scheduling and data loading {(over - idle) * 1e3:.1f} ms = "
                  f"{(over - idle) / mean:.1%} (goal < 5%), workers idle at the end {idle * 1e3:.1f} ms")
        if "external 2" in results:
            print(f"external / local, 2 workers: {results['external 2'][0] / w2:.2f}  (goal within 0.8-1.2)")
        tables = {"local 1": tmp / "local1" / "runs.csv", "local 2": tmp / "local2" / "runs.csv",
                  **({"external 2": tmp / "external" / "runs.csv"} if "external 2" in results else {})}
        same = len({p.read_bytes() for p in tables.values()}) == 1
        print(f"runs.csv identical across {', '.join(tables)}: {same}")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
