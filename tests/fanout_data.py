"""A small seeded stream on disk for the Monte Carlo and sweep tests (a few thousand events)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from fillsim.synth import StreamSpec, synth_stream


def write_stream(path: Path, n_events: int = 6000, seed: int = 11) -> Path:
    events, snapshot, _ = synth_stream(StreamSpec(n_events=n_events, seed=seed))
    np.savez(path, data=events, snapshot=snapshot)
    return path


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
