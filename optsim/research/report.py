"""report.html: one self-contained page per run (plots as inline PNG, no script, no network).

Four plots a person reads before any table: equity with its drawdown, inventory, the price of
the instrument traded most with our fills on it, and the markout curve per side. Then the summary.
"""
from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: this runs in CLIs and on workers
import matplotlib.pyplot as plt  # noqa: E402

from .results import MARKOUT_HORIZONS_S, Results  # noqa: E402

EMPTY = "\u2014"  # an em dash for a value the run does not have
CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 28px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#b9c1d0}main{padding:20px 28px;max-width:1200px}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px;margin-bottom:18px}
.kpi{background:#fff;border-radius:8px;padding:10px 14px;box-shadow:0 1px 2px #0002}
.kpi b{display:block;font-size:19px}.kpi span{color:#5b6475;font-size:12px}
.pos{color:#127a3a}.neg{color:#b3261e}header .neg{color:#ffb4ab}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:14px}
figure{background:#fff;margin:0;border-radius:8px;padding:10px;box-shadow:0 1px 2px #0002}
figure img{width:100%;height:auto}figcaption{color:#5b6475;font-size:12px;padding:4px 6px}
table{border-collapse:collapse;background:#fff;margin-top:18px;font-size:13px}
td,th{padding:4px 10px;border-bottom:1px solid #e3e6eb;text-align:left;vertical-align:top}
pre{margin:0;white-space:pre-wrap}
@media(max-width:900px){.grid{grid-template-columns:1fr}}
"""


def _png(fig) -> str:
    """The figure as a PNG data URI (Agg renders thousands of points in C; SVG would write each one)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _seconds(ts, t0):
    return [(t - t0) / 1e9 for t in ts]


def _plots(res: Results, names: list[str]) -> list[tuple[str, str, str]]:
    rows = res.curve.rows
    if not rows:
        return []
    t0 = rows[0][0]
    t = _seconds([r[0] for r in rows], t0)
    plots = []

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 4.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax1.plot(t, [r[1] for r in rows], color="#1f5fbf", lw=1.2)
    ax1.axhline(0, color="#999", lw=0.6)
    ax1.set_ylabel("equity ($)")
    ax2.fill_between(t, [-r[2] for r in rows], 0, color="#b3261e", alpha=0.5, lw=0)
    ax2.set_ylabel("drawdown ($)")
    ax2.set_xlabel("market time (s)")
    plots.append(("equity", _png(fig), "Equity marked to mid (cash + positions at mid), and drawdown from its peak"))

    fig, ax = plt.subplots(figsize=(7, 3.2))
    held = [k for k in range(len(rows[0][3])) if any(r[3][k] for r in rows)] or [0]
    for k in held:
        ax.step(t, [r[3][k] for r in rows], where="post", lw=1.1, label=names[k])
    ax.axhline(0, color="#999", lw=0.6)
    ax.set_ylabel("position")
    ax.set_xlabel("market time (s)")
    if len(held) > 1:
        ax.legend(loc="best", fontsize=7)
    plots.append(("inventory", _png(fig), "Inventory per instrument (contracts or shares)"))

    shown = range(len(rows[0][4]))
    k = max(shown, key=lambda i: (res.fills_by_asset[i], -i))  # the instrument traded most
    fig, ax = plt.subplots(figsize=(7, 3.2))
    marks = [(x, r[4][k]) for x, r in zip(t, rows) if math.isfinite(r[4][k])]
    if marks:
        ax.plot([m[0] for m in marks], [m[1] for m in marks], color="#555", lw=0.9, label="mid")
    fills = [f for f in res.fill_points.rows if f[1] == k]
    for side, colour, marker, label in ((1, "#127a3a", "^", "our buys"), (-1, "#b3261e", "v", "our sells")):
        pts = [((f[0] - t0) / 1e9, f[3]) for f in fills if f[2] == side]
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=14, c=colour, marker=marker, label=label, zorder=3)
    ax.set_ylabel(f"price ({names[k].strip()})")
    ax.set_xlabel("market time (s)")
    _legend(ax, fontsize=8)
    plots.append(("price", _png(fig), f"{names[k]}: mid at each decision, with our fills"))

    fig, ax = plt.subplots(figsize=(7, 3.2))
    curve = res.markouts.curve()
    for side, colour in (("buy", "#127a3a"), ("sell", "#b3261e")):
        pts = [(h, v) for h, v in zip(MARKOUT_HORIZONS_S, curve[side]) if v is not None]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=colour, label=side)
    ax.axhline(0, color="#999", lw=0.6)
    ax.set_xscale("symlog", linthresh=0.1)
    ax.set_xticks(MARKOUT_HORIZONS_S, [f"{h:g}" for h in MARKOUT_HORIZONS_S], fontsize=8)
    ax.set_xlabel("seconds after the fill")
    ax.set_ylabel("markout per unit ($)")
    _legend(ax, fontsize=8)
    plots.append(("markout", _png(fig), "Markout: side x (mid later - fill price), mean per unit, by side"))
    return plots


def _legend(ax, **kwargs) -> None:
    """A legend only when something is labelled (a run without fills or markouts has nothing to key)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", **kwargs)


def _fmt(value) -> str:
    """A summary value as HTML; a missing one (None) as an em dash, also inside tables and lists."""
    if value is None:
        return EMPTY
    if isinstance(value, float):
        if value.is_integer():
            return f"{value:,.0f}"
        return f"{value:,.4f}".rstrip("0") if abs(value) < 1000 else f"{value:,.2f}"
    if isinstance(value, dict):
        return "<br>".join(f"{html.escape(str(k))}: {_fmt(v)}" for k, v in value.items()) or EMPTY
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value) or EMPTY
    return html.escape(str(value))


def write_report(path: str | Path, summary: dict, res: Results, names: list[str]) -> None:
    """Write the page for one run."""
    kpis = [("PnL ($)", summary["pnl"]), ("max drawdown ($)", summary["max_drawdown"]),
            ("Sharpe (annualised)", summary["sharpe"]), ("fills", summary["fills"]),
            ("fill ratio", summary["fill_ratio"]), ("volume", summary["volume"]), ("fees ($)", summary["fees"]),
            ("events / s", summary["events_per_s"])]
    cards = "".join(
        f'<div class="kpi"><b class="{"pos" if isinstance(v, (int, float)) and k.startswith("PnL") and v >= 0 else "neg" if k.startswith("PnL") else ""}">'
        f'{_fmt(v)}</b><span>{html.escape(k)}</span></div>' for k, v in kpis)
    figures = "".join(f'<figure id="{key}"><img alt="{key}" src="{src}"><figcaption>{html.escape(caption)}'
                      f"</figcaption></figure>" for key, src, caption in _plots(res, names))
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in summary.items())
    failed = (f'<p class="neg"><b>Stopped early: {html.escape(summary["error"])}</b>; the figures cover the run '
              f"up to then.</p>" if summary.get("error") else "")
    title = f"Backtest: {Path(str(summary.get('strategy', ''))).name} on {Path(str(summary.get('data', ''))).name}"
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{CSS}</style></head><body>'
            f"<header><h1>{html.escape(title)}</h1><p>seed {summary.get('seed')} · {summary['events']:,} events in "
            f"{summary['wall_s']:.2f} s</p>{failed}</header><main><section class=kpis>{cards}</section>"
            f'<section class="grid">{figures or "<p>No decisions were recorded.</p>"}</section>'
            f"<h2>Summary</h2><table>{table}</table></main></body></html>")
    Path(path).write_text(page, encoding="utf-8")
