"""What one Monte Carlo run draws, and the illiquidity transform it applies to the stream.

Every run draws the same numbers in the same order from its own generator (``seeds.run_rng``),
whichever factors are varied, so turning one factor on never changes another's draws. The
stated sets:

- latency: the configured entry and response means times one factor drawn log-uniformly from
  ``LATENCY_SCALE``, with the configured jitter distribution (lognormal, sigma
  ``DEFAULT_JITTER_SIGMA``, when none is configured) seeded from the run's seed. A mean the config
  leaves at 0 gets its default, ``DEFAULT_ENTRY_NS`` or ``DEFAULT_RESPONSE_NS``, on its own.
- queue: one of ``QUEUE_MODELS`` (fillsim ``QueueModel`` specs), uniformly.
- liquidity: an intensity u uniform on [0, 1); displayed sizes lose ``MAX_HAIRCUT * u`` of
  themselves and quote updates drop out at rate ``MAX_DROPOUT * u`` (see ``thin``).
"""
from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np

from fillsim import EVENT_DTYPE, EVENT_TYPE_MASK, Config
from fillsim.types import DEPTH_EVENT, DEPTH_SNAPSHOT_EVENT, TRADE_EVENT

__all__ = ["FACTORS", "QUEUE_MODELS", "Scenario", "draw", "thin"]

#: The factors a Monte Carlo run can vary (``--vary``).
FACTORS = ("latency", "queue", "liquidity")
#: Range of the factor applied to the configured mean latencies (drawn log-uniformly).
LATENCY_SCALE = (0.5, 2.0)
DEFAULT_ENTRY_NS = 200_000
DEFAULT_RESPONSE_NS = 100_000
DEFAULT_JITTER_SIGMA = 0.25
#: Queue models a run may draw: the risk-averse model and hftbacktest's probabilistic ones.
QUEUE_MODELS = ("risk_averse", "power:2", "power:3", "power2:2", "power3:3", "log", "log2")
#: At intensity 1, displayed sizes lose half of themselves ...
MAX_HAIRCUT = 0.5
#: ... and a fifth of the quote updates drop out.
MAX_DROPOUT = 0.2


@dataclass(frozen=True)
class Scenario:
    """One run's draw: the config changes it makes and the stream's illiquidity."""

    config: dict  # fillsim Config fields this run sets (latency means, jitter, queue model)
    liquidity: float = 0.0  # drawn intensity in [0, 1); 0 leaves the stream as recorded
    thin_seed: int = 0  # seeds which quote updates drop out

    @property
    def haircut(self) -> float:
        return MAX_HAIRCUT * self.liquidity

    @property
    def dropout(self) -> float:
        return MAX_DROPOUT * self.liquidity


def draw(rng: np.random.Generator, vary, base: Config, run_seed: int, given: Collection[str] = ()) -> Scenario:
    """Draw a run's scenario; factors not in ``vary`` keep the base config and the stream. A latency
    mean named in ``given`` (the run's own config keys) is scaled as set, 0 included; one not set
    is scaled from its default."""
    unknown = set(vary) - set(FACTORS)
    if unknown:
        raise ValueError(f"cannot vary {sorted(unknown)}: choose from {list(FACTORS)}")
    lo, hi = LATENCY_SCALE
    scale = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    queue = QUEUE_MODELS[int(rng.integers(len(QUEUE_MODELS)))]
    intensity = float(rng.random())
    thin_seed = int(rng.integers(2**63))
    config: dict = {}
    if "latency" in vary:
        entry = base.entry_latency_ns if "entry_latency_ns" in given else DEFAULT_ENTRY_NS
        response = base.response_latency_ns if "response_latency_ns" in given else DEFAULT_RESPONSE_NS
        jitter = base.jitter
        kind, sigma = (jitter.kind, jitter.sigma) if jitter.kind != "none" else ("lognormal", DEFAULT_JITTER_SIGMA)
        config["entry_latency_ns"] = round(entry * scale)
        config["response_latency_ns"] = round(response * scale)
        config["jitter"] = {"kind": kind, "sigma": sigma, "table": jitter.table,
                            "seed": run_seed % 2**64}
    if "queue" in vary:
        config["queue_model"] = queue
    liquidity = intensity if "liquidity" in vary else 0.0
    return Scenario(config=config, liquidity=liquidity, thin_seed=thin_seed)


def thin(events: np.ndarray, liquidity: float, seed: int, lot_size: float = 1.0, *,
         pull: bool = True) -> np.ndarray:
    """The stream as a thinner market would have printed it (a new array; ``events`` is kept).

    Displayed sizes (depth and snapshot rows) and trade prints are cut by the haircut and
    rounded down to whole lots: a level that was shown keeps at least one lot, a print that
    rounds to nothing did not happen. A quote drops out at the dropout rate: that update pulls
    its level (size 0) until the level's next update (``pull=False`` for a snapshot, which only
    takes the haircut). Deterministic in ``seed``.

    For a liquidity taker a thinner book means less to take; for a passive maker it also means
    a shorter queue ahead of its quotes.
    """
    if not 0.0 <= liquidity <= 1.0:
        raise ValueError(f"liquidity intensity must be in [0, 1], got {liquidity!r}")
    if liquidity == 0.0:
        return events
    keep = 1.0 - MAX_HAIRCUT * liquidity
    kind = events["ev"] & EVENT_TYPE_MASK
    depth = (kind == DEPTH_EVENT) | (kind == DEPTH_SNAPSHOT_EVENT)
    trade = kind == TRADE_EVENT
    qty = events["qty"]
    lots = np.floor(qty * keep / lot_size + 1e-9) * lot_size
    out = events.copy() if events.dtype == EVENT_DTYPE else events.astype(EVENT_DTYPE)
    shown = depth & (qty > 0)
    out["qty"][shown] = np.maximum(lots[shown], lot_size)
    out["qty"][trade] = lots[trade]
    if pull:
        pulled = depth & (np.random.default_rng(seed).random(len(events)) < MAX_DROPOUT * liquidity)
        out["qty"][pulled] = 0.0
    return out[~(trade & (out["qty"] <= 0))]
