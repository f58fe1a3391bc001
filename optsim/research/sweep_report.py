"""``report.html`` for a Monte Carlo or sweep: one self-contained page (inline SVG, no CDN).

PnL distribution, fill ratio against entry latency, a heatmap of mean PnL when two grid
names vary, the best points with their spread, and every failed run with its error.
"""
from __future__ import annotations

import html
import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["write_report"]

BEST = 10  # points listed in the best-points table


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _f(row: dict, name: str) -> float:
    try:
        return float(row.get(name, ""))
    except ValueError:
        return math.nan


def _label(point: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items()) or "all runs"


def _pnl_plot(spec, ok: list[dict], ranked: list[dict]) -> str:
    fig, ax = plt.subplots(figsize=(8, 3.6))
    if len(spec.points) == 1:
        pnl = [_f(r, "pnl") for r in ok]
        ax.hist(pnl, bins=min(40, max(5, len(pnl) // 3)), color="#3b6ea5", edgecolor="white")
        ax.axvline(float(np.mean(pnl)), color="#c0392b", lw=1.5, label=f"mean {np.mean(pnl):,.2f}")
        ax.set_ylabel("runs")
        ax.legend(frameon=False)
    else:
        shown = ranked[:20]
        data = [[_f(r, "pnl") for r in ok if int(r["point"]) == p["point"]] for p in shown]
        ax.boxplot(data, orientation="horizontal", whis=(5, 95), showfliers=True)
        ax.set_yticks(range(1, len(shown) + 1), [_label(p["grid"]) for p in shown], fontsize=7)
        ax.invert_yaxis()
        ax.set_title(f"best {len(shown)} points by mean PnL (whiskers p5–p95)", fontsize=9)
    ax.set_xlabel("PnL")
    return _svg(fig)


def _fill_latency_plot(ok: list[dict]) -> str:
    fig, ax = plt.subplots(figsize=(8, 3.6))
    lat = np.array([_f(r, "entry_latency_ns") / 1e3 for r in ok])
    fr = np.array([_f(r, "fill_ratio") for r in ok])
    models = sorted({r.get("queue_model", "") for r in ok})
    for m in models:
        sel = np.array([r.get("queue_model", "") == m for r in ok])
        ax.scatter(lat[sel], fr[sel], s=14, alpha=0.75, label=m)
    if len(models) > 1:
        ax.legend(frameon=False, fontsize=7, title="queue model", title_fontsize=7)
    ax.set_xlabel("entry latency (µs, mean)")
    ax.set_ylabel("fill ratio")
    return _svg(fig)


def _heatmap(spec, summary: dict) -> str | None:
    names = [k for k, v in spec.grid.items() if len(v) > 1]
    if len(names) != 2:
        return None
    (a, av), (b, bv) = ((n, spec.grid[n]) for n in names)
    grid = np.full((len(av), len(bv)), np.nan)
    cells: dict = {}
    for p in summary["points"]:
        mean = p["figures"]["pnl"]["mean"]
        if mean is not None:
            cells.setdefault((av.index(p["grid"][a]), bv.index(p["grid"][b])), []).append(mean)
    for (i, j), means in cells.items():
        grid[i, j] = float(np.mean(means))  # other grid names (single-valued) do not split cells
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(bv), 1.0 + 0.6 * len(av)))
    im = ax.imshow(grid, cmap="RdYlGn", aspect="auto")
    ax.set_xticks(range(len(bv)), [str(v) for v in bv])
    ax.set_yticks(range(len(av)), [str(v) for v in av])
    ax.set_xlabel(b)
    ax.set_ylabel(a)
    for i in range(len(av)):
        for j in range(len(bv)):
            if math.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.3g}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="mean PnL")
    return _svg(fig)


def _cell(v) -> str:
    return "–" if v is None else f"{v:,.4g}"


def write_report(path, spec, rows: list[dict], summary: dict) -> None:
    ok = [r for r in rows if r["status"] == "ok"]
    ranked = sorted((p for p in summary["points"] if p["ok"]),
                    key=lambda p: -p["figures"]["pnl"]["mean"])
    parts = [f"<h1>{html.escape(spec.mode.title())}: {html.escape(spec.strategy)}</h1>",
             f"<p class=meta>data {html.escape(spec.data)} · seed {spec.seed} · varied: "
             f"{html.escape(', '.join(spec.vary) or 'nothing')} · {summary['runs_done']} of "
             f"{summary['runs_planned']} runs done, {summary['runs_failed']} failed"
             f"{'' if summary['complete'] else ' · <b>incomplete</b>'}</p>"]
    if ok:
        parts += ["<h2>PnL distribution</h2>", _pnl_plot(spec, ok, ranked),
                  "<h2>Fill ratio vs latency</h2>", _fill_latency_plot(ok)]
        heat = _heatmap(spec, summary)
        if heat:
            parts += ["<h2>Mean PnL over the grid</h2>", heat]
        head = "".join(f"<th>{html.escape(k)}</th>" for k in spec.grid)
        body = []
        for p in ranked[:BEST]:
            pnl, fr = p["figures"]["pnl"], p["figures"]["fill_ratio"]
            body.append("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in p["grid"].values())
                        + f"<td>{p['ok']}</td>" + "".join(f"<td>{_cell(pnl[k])}</td>" for k in
                                                        ("mean", "std", "p5", "p50", "p95"))
                        + f"<td>{_cell(fr['mean'])}</td></tr>")
        parts += ["<h2>Best points</h2>", f"<table><tr>{head}<th>runs</th><th>PnL mean</th><th>std</th>"
                  "<th>p5</th><th>p50</th><th>p95</th><th>fill ratio</th></tr>" + "".join(body) + "</table>"]
    else:
        parts.append("<p>No run finished.</p>")
    if summary["failed_runs"]:
        parts += ["<h2>Failed runs</h2><table><tr><th>run</th><th>error</th></tr>"
                  + "".join(f"<tr><td>{html.escape(f['run_id'])}</td><td>{html.escape(f['error'])}</td></tr>"
                            for f in summary["failed_runs"]) + "</table>"]
    page = ("<!doctype html><html><head><meta charset=utf-8><title>"
            f"{html.escape(spec.mode)} {html.escape(spec.strategy)}</title><style>"
            "body{font:14px system-ui,sans-serif;margin:2em auto;max-width:60em;color:#222}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
            ".meta{color:#555}svg{max-width:100%;height:auto}</style></head><body>"
            + "".join(parts) + "</body></html>")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(page)
