"""Validated, frozen engine configuration.

Everything is checked here, at the Python boundary, so the hot loops never validate. A plain
dict (for example the JSON stored in the xcheck files) is accepted wherever a ``Config`` is.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["JITTER_KINDS", "QUEUE_KINDS", "Config", "Jitter", "QueueModel"]

#: Queue model names and the integer code each engine uses for them.
QUEUE_KINDS = {"risk_averse": 0, "power": 1, "power2": 2, "power3": 3, "log": 4, "log2": 5}
#: Latency jitter names and their engine codes (0 = constant latency).
JITTER_KINDS = {"none": 0, "normal": 1, "lognormal": 2, "table": 3}


@dataclass(frozen=True)
class QueueModel:
    """How our place in a price level's queue is estimated.

    ``risk_averse``: only trades at our price move us forward; a depth drop can only cap the
    queue ahead at the new level size. The probabilistic models (hftbacktest's
    ``ProbQueueModel``) split a depth decrease between ahead and behind us with
    ``p = f(back) / (f(back) + f(front))``: ``power`` f(x) = x**n, ``power2``
    p = f(back) / f(back + front), ``power3`` p = 1 - (front / (front + back))**n,
    ``log`` f(x) = log(1 + x), ``log2`` p = f(back) / f(back + front).
    """

    kind: str = "risk_averse"
    n: float = 1.0  # exponent of the power models; unused otherwise

    def __post_init__(self):
        if self.kind not in QUEUE_KINDS:
            raise ValueError(f"queue model must be one of {sorted(QUEUE_KINDS)}, got {self.kind!r}")
        if not (math.isfinite(self.n) and self.n > 0):
            raise ValueError(f"queue model exponent must be a positive number, got {self.n!r}")

    @classmethod
    def coerce(cls, spec) -> QueueModel:
        """Accept ``"risk_averse"``, ``"power:3"``, ``("power", 3)``, ``["log"]`` or a QueueModel."""
        if isinstance(spec, QueueModel):
            return spec
        if isinstance(spec, str):
            name, _, arg = spec.partition(":")
            return cls(name, float(arg)) if arg else cls(name)
        if isinstance(spec, Sequence) and spec and isinstance(spec[0], str):
            if len(spec) > 2:
                raise ValueError(f"queue model takes at most one parameter, got {spec!r}")
            return cls(spec[0], float(spec[1])) if len(spec) == 2 else cls(spec[0])
        raise TypeError(f"cannot read a queue model from {spec!r}")

    @property
    def code(self) -> int:
        return QUEUE_KINDS[self.kind]


@dataclass(frozen=True)
class Jitter:
    """Seeded random latency around the configured means (constant when ``kind == "none"``).

    ``normal``: mean + sigma_ns * z, floored at 0. ``lognormal``: mean * exp(sigma * z -
    sigma**2 / 2), so the mean is kept. ``table``: each latency is drawn from recorded
    ``(entry_ns, response_ns)`` rows (entry and response drawn independently). Requests on one
    session stay in order: a request never overtakes the one sent before it, nor a report the
    one before it.
    """

    kind: str = "none"
    sigma: float = 0.0  # normal: standard deviation in ns; lognormal: sigma of log(latency)
    table: tuple[tuple[int, int], ...] = ()
    seed: int = 0

    def __post_init__(self):
        if self.kind not in JITTER_KINDS:
            raise ValueError(f"jitter must be one of {sorted(JITTER_KINDS)}, got {self.kind!r}")
        if not (math.isfinite(self.sigma) and self.sigma >= 0):
            raise ValueError(f"jitter sigma must be >= 0, got {self.sigma!r}")
        table = tuple((int(e), int(r)) for e, r in self.table)
        if any(e < 0 or r < 0 for e, r in table):
            raise ValueError("recorded latencies must be >= 0 ns")
        if self.kind == "table" and not table:
            raise ValueError("table jitter needs at least one recorded (entry_ns, response_ns) row")
        object.__setattr__(self, "table", table)
        if not 0 <= int(self.seed) < 2**64:
            raise ValueError("jitter seed must fit in 64 bits")

    @classmethod
    def coerce(cls, spec) -> Jitter:
        if spec is None:
            return cls()
        if isinstance(spec, Jitter):
            return spec
        if isinstance(spec, Mapping):
            return cls(**spec)
        raise TypeError(f"cannot read a jitter spec from {spec!r}")

    @property
    def code(self) -> int:
        return JITTER_KINDS[self.kind]


@dataclass(frozen=True)
class Config:
    """One venue's simulation rules.

    Parameters
    ----------
    tick_size, lot_size : price increment and quantity unit; prices become integer ticks
        with ``round(px / tick_size)`` at the edge.
    entry_latency_ns : request send -> arrival at the exchange (mean when jittered).
    response_latency_ns : exchange event (ack, fill, cancel, reject) -> arrival at us.
    queue_model : see ``QueueModel``.
    partial_fills : False follows hftbacktest's no-partial-fill exchange (an order fills
        whole or not at all, a taker fills whole at the touch); True walks the book and fills
        resting orders by the exact excess of trades over the queue ahead.
    jitter : see ``Jitter``.

    Raises
    ------
    ValueError : a size or latency out of range, an unknown model name.
    """

    tick_size: float = 0.01
    lot_size: float = 1.0
    entry_latency_ns: int = 0
    response_latency_ns: int = 0
    queue_model: QueueModel = field(default_factory=QueueModel)
    partial_fills: bool = False
    jitter: Jitter = field(default_factory=Jitter)

    def __post_init__(self):
        for name in ("tick_size", "lot_size"):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
            object.__setattr__(self, name, value)
        for name in ("entry_latency_ns", "response_latency_ns"):
            value = getattr(self, name)
            if int(value) != value or not 0 <= int(value) < 2**62:
                raise ValueError(f"{name} must be a whole number of ns >= 0, got {value!r}")
            object.__setattr__(self, name, int(value))
        object.__setattr__(self, "queue_model", QueueModel.coerce(self.queue_model))
        object.__setattr__(self, "jitter", Jitter.coerce(self.jitter))
        object.__setattr__(self, "partial_fills", bool(self.partial_fills))

    @classmethod
    def coerce(cls, config) -> Config:
        """Return ``config`` as a Config: None gives the defaults, a dict is read by field name."""
        if config is None:
            return cls()
        if isinstance(config, Config):
            return config
        if isinstance(config, Mapping):
            known = {f.name for f in dataclasses.fields(cls)}
            unknown = set(config) - known
            if unknown:
                raise ValueError(f"unknown fillsim config keys: {sorted(unknown)}")
            return cls(**config)
        raise TypeError(f"config must be a fillsim.Config, a dict or None, not {type(config).__name__}")

    def replace(self, **changes) -> Config:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def engine_params(self) -> tuple:
        """The flat tuple both engines' constructors take."""
        table = self.jitter.table or ((0, 0),)
        return (self.tick_size, self.lot_size, self.entry_latency_ns, self.response_latency_ns,
                self.queue_model.code, self.queue_model.n, self.partial_fills,
                self.jitter.code, self.jitter.sigma, self.jitter.seed,
                tuple(e for e, _ in table), tuple(r for _, r in table))
