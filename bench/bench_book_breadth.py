"""An order's cost on the desk against the breadth of its account's book: does it grow with the series worked?

A market maker's account works orders in hundreds of series at once. The pre-trade position and Greeks
checks used to sum the account's every series for each order; they now read totals kept as the books
move and add the order's legs. In process (no HTTP), on the default chain at a frozen snapshot: for one
account working orders in 0, 100, 400 and 1,000 series, the CPU of ``desk.submit`` per order, over
``--orders`` orders into 20 of those series, and its ratio to the account working nothing. A flat line is
the goal. Before the change: 0.56, 0.62, 1.21 and 1.49 ms at 0, 100, 400 and 1,000 series (2.7x);
after it, in the same sitting: 0.38, 0.35, 0.34 and 0.43 ms.

    python bench/bench_book_breadth.py        # --orders 300 --breadths 0,100,400,1000
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_orders import frozen_service  # noqa: E402
from optsim.domain.models import parse_order  # noqa: E402

ACCOUNT = "WIDE"


def resting_bid(symbol: str, bid: float, n: int, qty: int = 1) -> dict:
    """A buy at 30 % of the series' bid: listed, on tick, far from the market, so it rests."""
    expiry = symbol[6:12]
    return {"strategy_type": "single", "underlying": symbol[:6].strip(), "expiry": f"20{expiry[:2]}-{expiry[2:4]}-{expiry[4:]}",
            "strike": int(symbol[13:]) / 1000, "option_type": symbol[12], "side": "BUY", "qty": qty,
            "price": round(max(0.05, round(bid * 0.3 / 0.05) * 0.05), 2), "account": ACCOUNT,
            "client_order_id": f"breadth-{n}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300, help="orders timed at each breadth")
    parser.add_argument("--breadths", default="0,100,400,1000", help="series the account works before each timing")
    args = parser.parse_args(argv)
    breadths = sorted(int(b) for b in args.breadths.split(","))

    tmp, app = frozen_service("bench-breadth-")
    desk = app.extensions["desk"]
    quotes = json.loads((tmp / "quotes.json").read_text())["quotes"]
    series = [(symbol, q["bid"]) for symbol, q in quotes.items() if (q.get("bid") or 0) >= 0.5]
    if len(series) < breadths[-1]:
        raise SystemExit(f"the chain has {len(series)} series bid at 0.50 or more, fewer than {breadths[-1]}")

    n, worked, base = 0, 0, None
    print(f"desk.submit, one account, {args.orders} orders per line, {len(series)} series available")
    for line, breadth in enumerate(breadths):
        for symbol, bid in series[worked:breadth]:  # one more resting order in each new series
            desk.submit(parse_order(resting_bid(symbol, bid, n)))
            n += 1
        worked = max(worked, breadth)
        # distinct orders (the size moves, so the duplicate filter passes them) into 20 series already worked
        sizes = 1 + args.orders // 20
        specs = [parse_order(resting_bid(*series[i % 20], n + i, qty=1 + i // 20 + line * sizes))
                 for i in range(args.orders)]
        n += args.orders
        start = time.process_time()
        statuses = {desk.submit(spec)[0] for spec in specs}
        per_order = (time.process_time() - start) / args.orders * 1e6
        if statuses != {201}:
            raise SystemExit(f"not every order was accepted to rest (answers {sorted(statuses)}): the figure would "
                             "time rejects")
        base = base or per_order
        print(f"  working {breadth:5d} series: {per_order:6.0f} us an order ({per_order / base:4.2f}x the empty book)")
    desk.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
