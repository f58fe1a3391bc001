"""``runs.csv``: one row per finished run, appended and fsynced as runs finish (a crash keeps
every row written), sorted by run id when the fan-out ends.

Rows carry nothing that depends on timing or scheduling, so the same spec gives the same
file byte for byte. Per-run wall times go to ``timing.csv`` beside it.
"""
from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping
from pathlib import Path

from fillsim import Config

from .run import RUN_KEYS
from .worker import RunTask

__all__ = ["META", "RunsTable", "read_rows", "scenario_columns"]

META = ["run_id", "point", "rep", "seed", "status", "error"]
#: The config a run actually used, one column each.
SCENARIO = ["entry_latency_ns", "response_latency_ns", "jitter", "queue_model", "partial_fills",
            "liquidity"]
TIMING = ["run_id", "wall_s", "pid", "ended"]  # ended: epoch s on the worker, for where the time went


def scenario_columns(task: RunTask, defaults: Mapping | None = None) -> dict:
    """The config the run used: ``defaults`` (``run.config_defaults`` of its data) under its own."""
    cfg = Config.coerce({k: v for k, v in {**(defaults or {}), **task.config}.items() if k not in RUN_KEYS})
    q, j = cfg.queue_model, cfg.jitter
    return {"entry_latency_ns": cfg.entry_latency_ns, "response_latency_ns": cfg.response_latency_ns,
            "jitter": "none" if j.kind == "none" else f"{j.kind}:{j.sigma:g}",
            "queue_model": q.kind if q.kind in ("risk_averse", "log", "log2") else f"{q.kind}:{q.n:g}",
            "partial_fills": cfg.partial_fills, "liquidity": round(task.liquidity, 6)}


def read_rows(path: str | os.PathLike) -> tuple[list[str], list[dict]]:
    """(header, complete rows) of a runs table; a torn last line (a crash mid-write) is dropped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], []
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    rows = [dict(zip(header, r)) for r in reader if len(r) == len(header)]
    return header, rows


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


class RunsTable:
    """The runs table of one output directory.

    ``resume=True`` keeps the rows of runs that succeeded (and only those: failed runs run
    again) and appends to them; ``done`` holds their run ids.
    """

    def __init__(self, out_dir: Path, columns: list[str], *, resume: bool = False):
        self.path, self.timing_path = out_dir / "runs.csv", out_dir / "timing.csv"
        self.columns = columns
        kept: list[dict] = []
        if resume:
            header, rows = read_rows(self.path)
            if rows and header != columns:
                raise ValueError(f"{self.path} has other columns than this run would write")
            kept = [r for r in rows if r["status"] == "ok"]
        self.done = {r["run_id"] for r in kept}
        self._rewrite(kept)
        _, timing = read_rows(self.timing_path) if resume else ([], [])
        self._timing = open(self.timing_path, "w", newline="", encoding="utf-8")
        self._twriter = csv.writer(self._timing, lineterminator="\n")
        self._twriter.writerow(TIMING)
        for r in timing:
            if r["run_id"] in self.done:
                self._twriter.writerow([r.get(c, "") for c in TIMING])
        self._fh = open(self.path, "a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._fh, lineterminator="\n")

    def append(self, row: dict, wall_s: float | None = None, pid: int | None = None,
               ended: float | None = None) -> None:
        self._writer.writerow([_fmt(row.get(c)) for c in self.columns])
        self._fh.flush()
        os.fsync(self._fh.fileno())
        if wall_s is not None:
            self._twriter.writerow([row["run_id"], f"{wall_s:.6f}", pid, "" if ended is None else f"{ended:.6f}"])
            self._timing.flush()

    def close(self) -> list[dict]:
        """Close, and rewrite the table sorted by run id (the last row of a run id wins)."""
        self._fh.close()
        self._timing.close()
        _, rows = read_rows(self.path)
        by_id = {r["run_id"]: r for r in rows}
        ordered = [by_id[k] for k in sorted(by_id)]
        self._rewrite(ordered)
        return ordered

    def _rewrite(self, rows: list[dict]) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(self.columns)
            for r in rows:
                writer.writerow([r.get(c, "") for c in self.columns])
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
