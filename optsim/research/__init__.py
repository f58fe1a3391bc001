"""The research face: backtest data, strategies, runs, results and reports, and Monte Carlo runs
and sweeps fanned out over Dask (DESIGN.md, "The research face")."""
