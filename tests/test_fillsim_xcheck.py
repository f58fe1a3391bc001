"""Ground truth: hftbacktest 2.4.4's own fills on two recorded streams, reproduced exactly.

The files live in the shared data directory: $OPTSIM_SHARED/data/xcheck, by default
<repo>/../shared/data/xcheck (see its README).
"""
import json
import os
from pathlib import Path

import numpy as np
import pytest

import fillsim

XCHECK_DIR = (Path(os.environ["OPTSIM_SHARED"]) / "data" / "xcheck" if "OPTSIM_SHARED" in os.environ
              else Path(__file__).resolve().parents[1].parent / "shared" / "data" / "xcheck")
FILES = ["xcheck_riskaverse.npz", "xcheck_power3.npz"]


def _load(name):
    path = XCHECK_DIR / name
    if not path.exists():
        pytest.skip(f"hftbacktest ground truth {path} is absent (set OPTSIM_SHARED to the shared dir)")
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def _by_fill(fills, tick_size, lot_size):
    """Fills as comparable tuples: ticks and lots, sorted by (order_id, exch_ts, exec_px)."""
    keys = zip(fills["order_id"].tolist(), fills["exch_ts"].tolist(),
               np.rint(fills["exec_px"] / tick_size).astype(int).tolist(),
               np.rint(fills["px"] / tick_size).astype(int).tolist(),
               np.rint(fills["exec_qty"] / lot_size).astype(int).tolist(),
               fills["side"].tolist(), fills["maker"].tolist(), fills["local_ts"].tolist())
    return sorted(keys)


@pytest.mark.parametrize("engine", ["cython", "python"])
@pytest.mark.parametrize("name", FILES)
def test_replay_reproduces_hftbacktest_fills_exactly(name, engine):
    # Arrange
    data = _load(name)
    config = json.loads(str(data["config"]))
    # Act
    fills = fillsim.replay(data["events"], data["actions"], config, data["snapshot"], engine=engine)
    # Assert
    expected = _by_fill(data["fills"], config["tick_size"], config["lot_size"])
    assert len(fills) == len(expected)
    assert _by_fill(fills, config["tick_size"], config["lot_size"]) == expected
