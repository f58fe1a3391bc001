"""The research face: backtests, and Monte Carlo runs and sweeps fanned out over Dask."""
