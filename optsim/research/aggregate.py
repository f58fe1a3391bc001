"""``summary.json``: each figure's distribution (mean, std, p5, p50, p95) per grid point."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["FIGURES", "distribution", "flatten", "run_figures", "summarize"]

#: The summary figures (``run_backtest``'s summary, nested dicts flattened with ".") a run
#: contributes to the runs table, in column order. Timing is not one of them: the table is the
#: same byte for byte wherever it ran.
FIGURES = ["events", "decisions", "orders", "fills", "fill_ratio", "volume", "notional", "maker_share",
           "position", "gross_position", "cash", "fees", "pnl", "max_drawdown", "sharpe",
           *(f"markout_{h}s.{side}" for h in (1, 5, 30) for side in ("buy", "sell"))]


def flatten(summary: dict, prefix: str = "") -> dict:
    """``{"markout_1s": {"buy": 0.1}}`` -> ``{"markout_1s.buy": 0.1}``."""
    out = {}
    for k, v in summary.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def run_figures(summary: dict) -> dict:
    """A run's ``FIGURES`` from its summary. Several instruments' positions (a dict by name) become
    one net ``position`` and a ``gross_position`` (sum of the absolute positions), so every run
    has a number in both columns whatever it traded."""
    flat = flatten({k: v for k, v in summary.items() if k != "position"})
    position = summary.get("position")
    held = list(position.values()) if isinstance(position, dict) else [position]
    if None not in held:
        flat["position"], flat["gross_position"] = sum(held), sum(abs(p) for p in held)
    return {f: flat.get(f) for f in FIGURES}


def distribution(values) -> dict:
    """mean, std (sample), p5, p50, p95 of the finite values; None for each when there are none."""
    x = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    if not len(x):
        return dict.fromkeys(("mean", "std", "p5", "p50", "p95"))
    p5, p50, p95 = np.percentile(x, [5, 50, 95])
    return {"mean": float(x.mean()), "std": float(x.std(ddof=1)) if len(x) > 1 else 0.0,
            "p5": float(p5), "p50": float(p50), "p95": float(p95)}


def _num(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def summarize(spec, rows: list[dict], planned: int) -> dict:
    """The summary of a fan-out's runs table rows (strings, as read back from runs.csv)."""
    points = []
    for i, point in enumerate(spec.points):
        mine = [r for r in rows if int(r["point"]) == i]
        ok = [r for r in mine if r["status"] == "ok"]
        points.append({
            "point": i, "grid": point, "runs": len(mine), "ok": len(ok), "failed": len(mine) - len(ok),
            "figures": {f: distribution(_num(r.get(f)) for r in ok) for f in FIGURES},
        })
    failed = [{"run_id": r["run_id"], "error": r["error"]} for r in rows if r["status"] != "ok"]
    return {"mode": spec.mode, "data": spec.data, "strategy": spec.strategy, "seed": spec.seed,
            "vary": list(spec.vary), "grid": spec.grid, "params": spec.params,
            "runs_planned": planned, "runs_done": len(rows), "runs_failed": len(failed),
            "complete": len(rows) == planned, "points": points, "failed_runs": failed}
