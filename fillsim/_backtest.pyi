# Type stub for the C backtester (fillsim/_backtest.pyx); the API is fillsim.backtest.PyBacktest's.
from fillsim.backtest import AssetView as AssetView
from fillsim.backtest import Order as Order
from fillsim.backtest import PyBacktest

class Backtest(PyBacktest): ...
