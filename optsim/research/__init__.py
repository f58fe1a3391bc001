"""The research face: backtest data, strategies, runs, results and reports (DESIGN.md, "The research face")."""
