"""fillsim: queue-position and latency fill simulator (Cython engine + pure-Python reference)."""
from .config import Config, Jitter, QueueModel
from .engines import ENGINE
from .replay import replay
from .types import *  # noqa: F403
from .types import __all__ as _types_all

__all__ = ["ENGINE", "Config", "Jitter", "QueueModel", "replay", *_types_all]
