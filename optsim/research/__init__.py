"""Research tools: strategies to backtest against fillsim."""
