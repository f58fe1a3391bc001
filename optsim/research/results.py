"""What a backtest leaves behind, computed as it runs: fills.csv, equity.csv and the summary.

``Results`` is the engine's recorder hook (``record_fill`` per fill, ``record_step`` after every
elapse). Rows go straight to the CSV files (or nowhere when there is no output directory), and
the figures the summary and report need are kept in O(1) memory: running drawdown, a Sharpe
over the PnL changes between the first decisions of successive seconds (``Welford``, each change
weighted by the seconds it spans), markouts of fills still inside the longest horizon, and a thinned series (at most
``PLOT_POINTS`` rows, halved as it fills) for the plots.
"""
from __future__ import annotations

import csv
import math
from collections import deque
from pathlib import Path

import numpy as np

MARKOUT_HORIZONS_S = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)  # the report's markout curve
SUMMARY_MARKOUTS_S = (1.0, 5.0, 30.0)
TRADING_SECONDS_PER_YEAR = 252 * 6.5 * 3600
PLOT_POINTS = 4000
PLOT_ASSETS = 8  # the report plots the inventory and price of the first few assets only
FILL_FIELDS = ("order_id", "asset", "side", "price", "qty", "exch_ns", "local_ns", "maker", "fee")


class Thinned:
    """Keeps every k-th row of a long series, doubling k whenever the buffer fills (flat memory)."""

    def __init__(self, limit: int = PLOT_POINTS):
        self.limit, self.every, self.seen, self.rows = limit, 1, 0, []

    def add(self, row) -> None:
        if self.seen % self.every == 0:
            self.rows.append(row)
            if len(self.rows) >= self.limit:
                self.rows = self.rows[::2]
                self.every *= 2
        self.seen += 1


class Welford:
    """Running mean and variance; with ``dt``, of changes that each span ``dt`` seconds, per second.

    A change over ``dt`` seconds of a random walk has mean ``mu dt`` and variance ``sigma^2 dt``,
    so each change counts with weight ``dt``: ``mean = sum(x) / sum(dt)`` and
    ``var = sum((x - mean dt)^2 / dt) / (n - 1)`` (West's weighted update of ``x / dt``). With
    every ``dt = 1`` this is the plain sample mean and variance; decisions seconds apart are
    not annualised as if each change took one second.
    """

    def __init__(self):
        self.n, self.span, self.mean, self.m2 = 0, 0.0, 0.0, 0.0

    def add(self, x: float, dt: float = 1.0) -> None:
        self.n += 1
        self.span += dt
        rate = x / dt
        d = rate - self.mean
        self.mean += d * dt / self.span
        self.m2 += dt * d * (rate - self.mean)

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else 0.0


class Markouts:
    """Signed mid move after each fill, per contract: side x (mid at exch time + h - fill price).

    The mid is the one the strategy saw at its first decision at or after that time, so a
    horizon shorter than the decision interval reads the next decision's mid.
    """

    def __init__(self, horizons=MARKOUT_HORIZONS_S):
        self.horizons = horizons
        self.horizons_ns = [int(h * 1e9) for h in horizons]
        self.waiting = [deque() for _ in horizons]  # per horizon: fills whose mark is still ahead
        self.next_due = math.inf  # the earliest time any of them is due
        self.stats = {side: [Welford() for _ in horizons] for side in ("buy", "sell")}

    def add(self, exch_ns: int, asset: int, side: int, price: float) -> None:
        for queue in self.waiting:
            queue.append((exch_ns, asset, side, price))
        self.next_due = min(self.next_due, exch_ns)

    def step(self, now: int, marks) -> None:
        """Mark the fills whose horizon ``now`` has reached at ``marks[asset]`` (NaN: no mid)."""
        if now < self.next_due:
            return
        due = math.inf
        for k, queue in enumerate(self.waiting):
            h = self.horizons_ns[k]
            while queue and queue[0][0] + h <= now:
                _, asset, side, price = queue.popleft()
                m = marks[asset]
                if m == m:  # not NaN
                    self.stats["buy" if side > 0 else "sell"][k].add(side * (m - price))
            if queue:
                due = min(due, queue[0][0] + h)
        self.next_due = due

    def curve(self) -> dict:
        return {side: [w.mean if w.n else None for w in ws] for side, ws in self.stats.items()}

    def at(self, horizon: float) -> dict:
        k = self.horizons.index(horizon)
        return {side: (ws[k].mean if ws[k].n else None) for side, ws in self.stats.items()}


class Results:
    """The recorder hook: streams fills and equity rows, keeps the running figures."""

    def __init__(self, assets, out_dir: str | Path | None = None, progress=None):
        self.assets = list(assets)  # (name, multiplier) per asset index
        self.multipliers = [float(m) for _, m in self.assets]
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.progress = progress  # callable(now_ns) or None
        self.bt = None  # the backtest, once attached: its order book tells a first fill from a later one
        self.orders_sent = self.orders_filled = 0
        self.fills = self.volume = self.notional = self.maker_fills = 0
        self.fills_by_asset = [0] * len(self.assets)
        self.peak, self.max_drawdown = 0.0, 0.0  # equity starts at 0
        self.first_ns = self.last_ns = None
        self.second_pnl = Welford()
        self._second, self._second_ns, self._second_equity = None, None, None
        self.markouts = Markouts()
        self.curve = Thinned()
        self.fill_points = Thinned(PLOT_POINTS // 2)
        self.last_equity = 0.0
        self._fills_fh = self._equity_fh = None
        self.write_error: OSError | None = None  # the first failed write to fills.csv or equity.csv
        if self.out_dir is not None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._fills_fh = open(self.out_dir / "fills.csv", "w", newline="")
            self._fills = csv.writer(self._fills_fh)
            self._fills.writerow(FILL_FIELDS)
            self._equity_fh = open(self.out_dir / "equity.csv", "w", newline="")
            self._equity = csv.writer(self._equity_fh)
            self._equity.writerow(self.equity_header())

    def equity_header(self) -> list[str]:
        if len(self.assets) == 1:
            return ["time_ns", "position", "cash", "mark", "equity"]
        cols = ["time_ns", "cash", "equity"]
        for name, _ in self.assets:
            cols += [f"position[{name}]", f"mark[{name}]"]
        return cols

    # -- the hook ----------------------------------------------------------------------------------
    def attach(self, bt) -> None:
        self.bt = bt
        self._views = [bt.asset(k) for k in range(len(self.assets))]

    def record_fill(self, fill) -> None:
        asset = int(fill.asset)
        side, price, qty = int(fill.side), float(fill.price), float(fill.qty)
        order = self.bt.orders.get(fill.order_id) if self.bt is not None else None
        if order is not None and order.filled == fill.qty:  # its first execution
            self.orders_filled += 1
        self.fills += 1
        self.volume += qty
        self.notional += qty * price * self.multipliers[asset]
        self.maker_fills += bool(fill.maker)
        self.fills_by_asset[asset] += 1
        self.markouts.add(int(fill.exch_ns), asset, side, price)
        self.fill_points.add((int(fill.local_ns), asset, side, price))
        if self._fills_fh is not None:
            try:
                self._fills.writerow((fill.order_id, self.assets[asset][0], "buy" if side > 0 else "sell",
                                      _px(price), _num(qty), fill.exch_ns, fill.local_ns,
                                      "maker" if fill.maker else "taker", f"{float(fill.fee):.6f}"))
            except OSError as exc:
                self._write_failed(exc)

    def record_step(self, bt) -> None:
        now = bt.now
        if self.first_ns is None:
            self.first_ns = now
        self.last_ns = now
        self.count_orders(bt.orders)
        cash = bt.cash
        if len(self._views) == 1:  # the common case, kept lean: this runs at every decision
            view = self._views[0]
            position, mark = view.position, view.mid
            positions, marks = (position,), (mark,)
            equity = cash + position * mark * self.multipliers[0] if position else cash
        else:
            positions = [v.position for v in self._views]
            marks = [v.mid for v in self._views]
            equity = cash + sum(p * m * mult for p, m, mult in zip(positions, marks, self.multipliers) if p)
        self.last_equity = equity
        if equity > self.peak:
            self.peak = equity
        elif self.peak - equity > self.max_drawdown:
            self.max_drawdown = self.peak - equity
        second = now // 1_000_000_000
        if second != self._second:
            if self._second is not None:
                self.second_pnl.add(equity - self._second_equity, (now - self._second_ns) / 1e9)
            self._second, self._second_ns, self._second_equity = second, now, equity
        self.markouts.step(now, marks)
        self.curve.add((now, equity, self.peak - equity, positions[:PLOT_ASSETS], marks[:PLOT_ASSETS]))
        if self._equity_fh is not None:
            try:
                if len(positions) == 1:
                    self._equity.writerow((now, _num(position), f"{cash:.6f}", _px(mark), f"{equity:.6f}"))
                else:
                    row = [now, f"{cash:.6f}", f"{equity:.6f}"]
                    for p, m in zip(positions, marks):
                        row += [_num(p), _px(m)]
                    self._equity.writerow(row)
            except OSError as exc:
                self._write_failed(exc)
        if self.progress is not None:
            self.progress(now)

    def count_orders(self, orders) -> None:
        """Orders sent so far: the highest id the backtest lists (ids rise with each order sent and
        stay listed until the elapse after they end; fillsim's C Backtest keeps its counter private).
        Called at every decision and once more after the strategy returns, for orders it sent last."""
        if orders:
            last = next(reversed(orders))
            if last > self.orders_sent:
                self.orders_sent = last

    def events_seen(self, events_by_asset) -> int:
        """Rows the strategy's clock has passed (local_ts <= its last decision): all of them for a run
        that reaches the end of the data, fewer for one that stopped early."""
        if self.last_ns is None:
            return 0
        return sum(int(np.count_nonzero(ev["local_ts"] <= self.last_ns)) for ev in events_by_asset)

    # -- the end -----------------------------------------------------------------------------------
    def sharpe(self) -> float | None:
        """Annualised Sharpe of the per-second PnL drift over its per-second volatility (trading
        seconds), None when too short."""
        s = self.second_pnl
        if s.n < 2 or s.std == 0:
            return None
        return s.mean / s.std * math.sqrt(TRADING_SECONDS_PER_YEAR)

    def _write_failed(self, exc: OSError) -> None:
        """Keep the first write error (a full disk, say) for the run to report as what it is, not as
        the strategy's failure; it still stops the run, through the strategy's elapse."""
        if self.write_error is None:
            self.write_error = exc
        raise exc

    def close(self) -> None:
        """Close both files, each even if the other fails; then raise the first error (if any)."""
        failed = None
        for fh in (self._fills_fh, self._equity_fh):
            if fh is not None:
                try:
                    fh.close()
                except OSError as exc:
                    failed = failed or exc
        self._fills_fh = self._equity_fh = None
        if failed is not None:
            raise failed


def _px(x: float) -> str:
    """A price as written: binary noise past 10 decimals dropped (2.1950000000000003 -> 2.195)."""
    return repr(round(x, 10)) if math.isfinite(x) else "nan"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))
