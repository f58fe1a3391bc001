"""fillsim: queue-position and latency fill simulator.

Two faces over one engine: ``replay`` (a recorded stream and the orders sent during it in,
fills out) and ``OnlineEngine`` (fed live by the routing service). The engine is the Cython
extension unless FILLSIM_PUREPYTHON=1 selects the pure-Python reference; ``ENGINE`` says which,
and importing fillsim fails loudly if the extension is wanted and not built.
"""
from .codes import OrderStatus, ReportKind
from .config import Config, Jitter, QueueModel
from .engines import ENGINE, engine_class
from .online import OnlineEngine, OrderState, Report, Touch
from .package import Leg, LegFill, PackageFill, SyntheticQuote, fill_package, synthetic_quote
from .replay import replay
from .types import *  # noqa: F403
from .types import __all__ as _types_all

engine_class(ENGINE)  # fail at import, not at the first order, when the extension is missing

__all__ = [
    "ENGINE", "Config", "Jitter", "QueueModel", "replay",
    "OnlineEngine", "Report", "ReportKind", "OrderState", "OrderStatus", "Touch",
    "Leg", "LegFill", "PackageFill", "SyntheticQuote", "fill_package", "synthetic_quote",
    *_types_all,
]
