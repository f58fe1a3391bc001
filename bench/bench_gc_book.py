"""Full garbage-collector passes against a resting book: what a market maker's working orders cost every request.

A full pass of Python's cyclic collector walks every tracked object with the GIL held, and a working order
is three of them. In process, on the default chain at a frozen snapshot, through Flask (a request's own
reference cycles are what make the collector run): book ``--book`` working orders, collect once, then churn
(each step places an order and cancels the oldest, so the book stays the same size; the desk's background
poll runs every 25 steps) and time every full pass. Each way runs in its own process, alternated
``--rounds`` times in one sitting:

- ``start-up frozen``: start-up's objects frozen, as the service did before (``collector.freeze_startup``);
- ``survivors frozen``: and what survives each full pass frozen out of the next (``collector.freeze_survivors``).

    python bench/bench_gc_book.py            # --book 20000 --steps 20000 --rounds 2
"""
from __future__ import annotations

import argparse
import collections
import gc
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

WAYS = {"start-up frozen": False, "survivors frozen": True}


def measure(book: int, steps: int, freeze_survivors: bool) -> dict:
    """One way, in this process: full-pass pauses (ms) while the book churns."""
    from bench_orders import OrderLadder, frozen_service
    from optsim.ops import collector

    tmp, app = frozen_service("bench-gc-")
    desk = app.extensions["desk"]
    ladder = OrderLadder(json.loads((tmp / "quotes.json").read_text()))
    collector.freeze_startup()
    if freeze_survivors:
        collector.freeze_survivors(thaw_every_s=3600)
    working: collections.deque[str] = collections.deque()

    client = app.test_client()

    def place(n: int, tag: str) -> None:
        answer = client.post("/orders", data=ladder.body(n, tag), content_type="application/json")
        if answer.status_code != 201 or answer.json["status"] != "working":
            raise SystemExit(f"order {n} was not accepted to rest: {answer.status_code} {answer.json.get('reject')}")
        working.append(answer.json["order_id"])

    for n in range(book):
        place(n, "book")
    gc.collect()  # the book is long-lived: where the service is after its first full pass since it was built
    full, started = [], [0.0]

    def on_pass(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        elif info["generation"] == 2:
            full.append((time.perf_counter() - started[0]) * 1e3)

    gc.callbacks.insert(0, on_pass)  # before the freezer, so a pass is timed without it
    cpu = time.process_time()
    for n in range(steps):
        place(book + n, "churn")
        if client.delete(f"/orders/{working.popleft()}").status_code != 200:
            raise SystemExit("a cancel of a working order failed")
        if n % 25 == 0:
            desk.poll()
    cpu = time.process_time() - cpu
    gc.callbacks.remove(on_pass)
    desk.close()
    return {"working": desk.working_count, "passes": len(full), "median_ms": statistics.median(full) if full else 0.0,
            "max_ms": max(full, default=0.0), "cpu_us_step": cpu / steps * 1e6}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--book", type=int, default=20_000, help="working orders kept resting")
    parser.add_argument("--steps", type=int, default=20_000, help="orders placed (and as many cancelled) while timed")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--way", choices=WAYS, help=argparse.SUPPRESS)  # one way, in a child process
    args = parser.parse_args(argv)
    if args.way:
        print(json.dumps(measure(args.book, args.steps, WAYS[args.way])))
        return 0
    print(f"full collector passes, book of {args.book:,} working orders, {args.steps:,} orders placed and cancelled")
    print(f"{'round':>5} {'way':18} {'passes':>6} {'median ms':>9} {'max ms':>7} {'us a step':>9}")
    results: dict[str, list[dict]] = {way: [] for way in WAYS}
    for k in range(1, args.rounds + 1):
        for way in WAYS:
            out = subprocess.run([sys.executable, __file__, "--way", way, "--book", str(args.book),
                                  "--steps", str(args.steps)], check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            results[way].append(r)
            print(f"{k:5d} {way:18} {r['passes']:6d} {r['median_ms']:9.1f} {r['max_ms']:7.1f} {r['cpu_us_step']:9.0f}")
    before, after = (max(r["max_ms"] for r in results[way]) for way in WAYS)
    print(f"worst full pass: {before:.1f} ms with start-up frozen, {after:.1f} ms with survivors frozen "
          f"({before / max(after, 1e-9):.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
