"""Run a Monte Carlo or a sweep into an output directory: plan, fan out, record, summarize, report.

The directory holds ``spec.json`` (what was asked, for ``--resume``), ``runs.csv`` and
``timing.csv`` (as runs finish), then ``summary.json`` and ``report.html``. An interrupted
fan-out (Ctrl-C) still closes its table, summary and report over the runs that finished.
"""
from __future__ import annotations

import uuid
from pathlib import Path

from tqdm import tqdm

from optsim.fileio import atomic_write_json, read_json

from .aggregate import FIGURES, run_figures, summarize
from .data import load_manifest
from .errors import BacktestInputError
from .executor import connect, fan_out
from .plan import Spec, split_point, tasks
from .run import config_defaults
from .runs_table import META, SCENARIO, RunsTable, scenario_columns
from .sweep_report import write_report
from .worker import RunTask, execute

__all__ = ["Interrupted", "columns", "run_fanout", "stored_spec"]


class Interrupted(Exception):
    """Ctrl-C stopped the fan-out; the finished runs are kept. ``args``: (done, planned)."""


def columns(spec: Spec) -> list[str]:
    names = set(spec.params)
    for point in spec.points:
        names |= set(split_point(point)[0])
    return META + sorted(names) + SCENARIO + FIGURES


def stored_spec(out_dir: Path) -> Spec | None:
    obj = read_json(out_dir / "spec.json")
    return None if obj is None else Spec.from_json(obj)


def _row(task: RunTask, result: dict | None, error: str | None, manifest: dict) -> dict:
    try:
        defaults = config_defaults(manifest, task.config)
    except BacktestInputError:  # an unknown venue: the run failed on it and says so in its error
        defaults = {}
    row = {"run_id": task.run_id, "point": task.point, "rep": task.rep, "seed": task.seed,
           "status": "ok" if error is None else "failed", "error": error or "",
           **task.params, **scenario_columns(task, defaults)}
    if result is not None:
        row.update(run_figures(result["summary"]))
    return row


def run_fanout(spec: Spec, out_dir: str | Path, *, workers: int | None = None,
               scheduler: str | None = None, resume: bool = False,
               progress: bool | None = None, client=None) -> dict:
    """Run every planned run not already done; return the summary (also in summary.json).

    The runs go to ``client`` when given (a ``distributed.Client`` the caller manages), else to
    ``scheduler``, else to a local cluster of ``workers`` processes for this call.
    ``progress=None`` shows the bar only on a terminal. Raises ``Interrupted`` after Ctrl-C
    (with the table, summary and report written over the finished runs).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = load_manifest(spec.data)  # the venue's latencies a recording's runs get by default
    planned = tasks(spec, manifest)
    atomic_write_json(out_dir / "spec.json", spec.to_json())
    table = RunsTable(out_dir, columns(spec), resume=resume)
    todo = [t for t in planned if t.run_id not in table.done]
    bar = tqdm(total=len(planned), initial=len(planned) - len(todo), unit="run", dynamic_ncols=True,
               disable=None if progress is None else not progress, desc=spec.mode)
    failed = 0

    def record(task, result, error):
        nonlocal failed
        failed += error is not None
        table.append(_row(task, result, error, manifest),
                     *((result["wall_s"], result["pid"], result.get("ended")) if result else ()))
        bar.set_postfix(failed=failed, refresh=False)
        bar.update()

    token = uuid.uuid4().hex[:8]  # two fan-outs on one scheduler never share task keys
    interrupted = False
    try:
        if todo and client is not None:
            fan_out(client, execute, todo, key=lambda t: f"run-{t.run_id}-{token}", on_done=record)
        elif todo:
            with connect(workers, scheduler) as own:
                fan_out(own, execute, todo, key=lambda t: f"run-{t.run_id}-{token}", on_done=record)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
        rows = table.close()
        summary = summarize(spec, rows, len(planned))
        atomic_write_json(out_dir / "summary.json", summary)
        write_report(out_dir / "report.html", spec, rows, summary)
    if interrupted:
        raise Interrupted(len(rows), len(planned))
    return summary
