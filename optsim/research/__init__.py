"""The research face: backtest data, runs, results and reports (DESIGN.md, "The research face")."""
