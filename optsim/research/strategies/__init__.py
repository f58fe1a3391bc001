"""Sample strategies: plain functions ``strategy(bt, **params)`` over a ``fillsim.Backtest``."""
