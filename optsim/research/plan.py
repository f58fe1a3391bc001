"""The runs a Monte Carlo or a sweep consists of: grid points times replicates, each with its
seed and its scenario drawn up front (in the client), so the task list alone fixes the results.

A grid name that is a fillsim ``Config`` field (``entry_latency_ns``, ``queue_model``,
``partial_fills``, ...) or ``liquidity`` sets the run's config or illiquidity; any other name is
a strategy parameter. Replicate ``r`` of every point draws from the same seed (common random
numbers), so points are compared under the same draws.
"""
from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field

from fillsim import Config

from .run import RUN_KEYS, config_defaults, ns_value
from .scenarios import FACTORS, draw
from .seeds import run_rng, run_seed
from .worker import RunTask

__all__ = ["CONFIG_KEYS", "Spec", "parse_grid", "parse_value", "tasks"]

#: Grid names that set the run's fillsim config rather than a strategy parameter.
CONFIG_KEYS = frozenset(f.name for f in dataclasses.fields(Config)) | {"liquidity"}
#: The Monte Carlo factor each config key would conflict with.
_FACTOR_OF = {"entry_latency_ns": "latency", "response_latency_ns": "latency", "jitter": "latency",
              "queue_model": "queue", "liquidity": "liquidity"}


@dataclass(frozen=True)
class Spec:
    """A whole Monte Carlo or sweep, as stored in ``spec.json`` for ``--resume``."""

    mode: str  # "montecarlo" or "sweep"
    data: str
    strategy: str
    runs: int = 1  # replicates per grid point
    seed: int = 0
    vary: tuple[str, ...] = ()
    grid: dict = field(default_factory=dict)  # name -> list of values, in the order given
    params: dict = field(default_factory=dict)  # fixed strategy parameters
    config: dict = field(default_factory=dict)  # base fillsim config fields

    def __post_init__(self):
        if self.runs < 1:
            raise ValueError("the number of runs must be at least 1")
        if not 0 <= self.seed < 2**64:  # it seeds numpy and is stored in spec.json as a JSON integer
            raise ValueError(f"--seed must be an integer from 0 to 2**64 - 1, got {self.seed}")
        bad = set(self.vary) - set(FACTORS)
        if bad:
            raise ValueError(f"cannot vary {sorted(bad)}: choose from {list(FACTORS)}")
        for name in self.grid:
            factor = _FACTOR_OF.get(name)
            if factor in self.vary and factor != "latency":
                raise ValueError(f"--grid {name} fixes what --vary {factor} draws: use one or the other")
        object.__setattr__(self, "vary", tuple(sorted(set(self.vary), key=FACTORS.index)))

    @property
    def points(self) -> list[dict]:
        """The grid's Cartesian product, first name slowest; one empty point without a grid."""
        names = list(self.grid)
        return [dict(zip(names, combo)) for combo in itertools.product(*self.grid.values())]

    def to_json(self) -> dict:
        return dataclasses.asdict(self) | {"vary": list(self.vary)}

    @classmethod
    def from_json(cls, obj: dict) -> Spec:
        return cls(**{**obj, "vary": tuple(obj.get("vary", ()))})


def parse_value(text: str):
    """A grid or parameter value: int, float, true/false, else the string itself."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def parse_grid(items) -> dict:
    """``["every=50,100", "levels=1,2"]`` -> ``{"every": [50, 100], "levels": [1, 2]}``."""
    grid: dict = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not name or not values.strip():
            raise ValueError(f"--grid wants name=v1,v2,..., got {item!r}")
        if name in grid:
            raise ValueError(f"--grid {name} given twice")
        vals = [ns_value(name, parse_value(v)) for v in values.split(",") if v.strip()]
        if len(set(map(repr, vals))) != len(vals):
            raise ValueError(f"--grid {name} repeats a value")
        grid[name] = vals
    return grid


def split_point(point: dict) -> tuple[dict, dict]:
    """(strategy params, config fields) of one grid point."""
    params = {k: v for k, v in point.items() if k not in CONFIG_KEYS}
    config = {k: v for k, v in point.items() if k in CONFIG_KEYS}
    return params, config


def _fillsim(config: dict) -> Config:
    """The fillsim part of a run config (``fees`` and ``venue`` are the run's, not the engine's)."""
    return Config.coerce({k: v for k, v in config.items() if k not in RUN_KEYS})


def tasks(spec: Spec, manifest: Mapping | None = None) -> list[RunTask]:
    """Every run of ``spec`` in (point, replicate) order.

    With the data's ``manifest`` (``data.load_manifest``), a drawn latency a run does not set is
    drawn around the data's own (a recording's venue, a file's stored config), as the run itself
    would use it, rather than around the plain defaults.

    Raises ValueError when a point's config is invalid (before anything runs).
    """
    points = []
    for i, point in enumerate(spec.points):
        params, cfg = split_point(point)
        liquidity = float(cfg.pop("liquidity", 0.0))
        if not 0.0 <= liquidity <= 1.0:
            raise ValueError(f"liquidity must be in [0, 1], got {liquidity!r}")
        base = {**spec.config, **cfg}
        _fillsim(base)
        means = {**config_defaults(manifest or {}, base), **base}  # the config the run would have undrawn
        points.append((i, {**spec.params, **params}, base, _fillsim(means), means, liquidity))
    out = []
    for rep in range(spec.runs):
        seed = run_seed(spec.seed, rep)
        for i, params, base, base_cfg, means, liquidity in points:
            scen = draw(run_rng(spec.seed, rep), spec.vary, base_cfg, seed, given=means)  # same draws per point
            config = {**base, **scen.config}
            _fillsim(config)
            out.append(RunTask(run_id=f"{i:05d}-{rep:05d}", point=i, rep=rep, seed=seed,
                               data=spec.data, strategy=spec.strategy, params=params,
                               config=config, liquidity=scen.liquidity or liquidity,
                               thin_seed=scen.thin_seed))
    out.sort(key=lambda t: (t.point, t.rep))
    return out
