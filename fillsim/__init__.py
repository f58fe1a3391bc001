"""fillsim: queue-position and latency fill simulator.

Three faces over one engine: ``replay`` (a recorded stream and the orders sent during it in,
fills out), ``OnlineEngine`` (fed live by the routing service) and ``Backtest`` (a strategy
trading against recorded streams in a closed loop). The engine is the Cython
extension unless FILLSIM_PUREPYTHON=1 selects the pure-Python reference; ``ENGINE`` says which,
and importing fillsim fails loudly if the extension is wanted and not built.
"""
from .backtest import Asset, AssetView, Backtest, Fill, Order, PyBacktest, _register_c_backtest
from .codes import OrderStatus, ReportKind
from .config import Config, Jitter, QueueModel
from .engines import ENGINE, engine_class
from .online import OnlineEngine, OrderState, Report, Touch
from .package import (
    Leg,
    LegFill,
    PackageFill,
    SyntheticQuote,
    fill_package,
    synthetic_quote,
)
from .replay import replay
from .types import (
    ACTION_DTYPE,
    BUY,
    BUY_EVENT,
    CANCEL,
    DEPTH_CLEAR_EVENT,
    DEPTH_EVENT,
    DEPTH_SNAPSHOT_EVENT,
    EVENT_DTYPE,
    EVENT_TYPE_MASK,
    EXCH_EVENT,
    FILL_DTYPE,
    FOK,
    GTC,
    GTX,
    IOC,
    LIMIT,
    LOCAL_EVENT,
    MARKET,
    MODIFY,
    SELL,
    SELL_EVENT,
    SUBMIT,
    TRADE_EVENT,
)

engine_class(ENGINE)  # fail at import, not at the first order, when the extension is missing
_register_c_backtest()

__all__ = [
    "ACTION_DTYPE", "BUY", "BUY_EVENT", "CANCEL", "DEPTH_CLEAR_EVENT", "DEPTH_EVENT",
    "DEPTH_SNAPSHOT_EVENT", "ENGINE", "EVENT_DTYPE", "EVENT_TYPE_MASK", "EXCH_EVENT",
    "FILL_DTYPE", "FOK", "GTC", "GTX", "IOC", "LIMIT", "LOCAL_EVENT", "MARKET", "MODIFY",
    "SELL", "SELL_EVENT", "SUBMIT", "TRADE_EVENT",
    "Asset", "AssetView", "Backtest", "Config", "Fill", "Jitter", "Order", "Leg", "LegFill", "OnlineEngine", "OrderState", "OrderStatus",
    "PackageFill", "PyBacktest", "QueueModel", "Report", "ReportKind", "SyntheticQuote", "Touch",
    "fill_package", "replay", "synthetic_quote",
]
