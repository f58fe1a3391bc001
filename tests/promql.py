"""Helpers for the tests of deploy/: the metric names the service exports and the names a PromQL query uses.

``exported_names(text)`` reads a /metrics body (HELP/TYPE lines count, so a labelled series that has
not happened yet still counts) and gives every sample name a query may use: ``x_total`` for a
counter, ``x_bucket``/``x_count``/``x_sum`` for a histogram. ``query_names(expr)`` gives the
metric names in a PromQL expression: identifiers outside strings, label matchers and function calls.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")
NO_PROMTOOL = "promtool not installed (Debian: apt-get install --no-install-recommends prometheus)"

SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",),
            "summary": ("", "_count", "_sum"), "info": ("_info",), "unknown": ("",)}
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_NUMBER = re.compile(r"(?<![A-Za-z0-9_:])\d+(?:\.\d+)?(?:e[+-]?\d+)?[a-z]*")  # 0.25, 1e6, 15s, 1m30s
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
# PromQL words that are not metric names
KEYWORDS = {"sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values",
            "group", "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
            "offset", "bool", "inf", "nan"}


def exported_names(metrics_text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(metrics_text):
        names.update(family.name + suffix for suffix in SUFFIXES[family.type])
    return names


def query_names(expr: str) -> set[str]:
    """Metric names in ``expr`` (Grafana's ``$var`` and ``$__interval`` are dropped with the ranges)."""
    text = _STRING.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _NUMBER.sub(" ", text)
    names = set()
    for m in _IDENT.finditer(text):
        word, after = m.group(), text[m.end():].lstrip()[:1]
        if word.lower() in KEYWORDS or after == "(" or text[m.start() - 1:m.start()] == "$":
            continue
        names.add(word)
    return names
