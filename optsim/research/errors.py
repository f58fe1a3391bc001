"""What can go wrong with a backtest request, split by whose fault it is."""
from __future__ import annotations


class BacktestInputError(ValueError):
    """The request cannot run as given (data, strategy, parameter or config): exit code 2, no traceback."""


class DataError(BacktestInputError):
    """The data cannot be used as it is; the message says which file and why."""


class StrategyError(BacktestInputError):
    """An unknown strategy, or a parameter it does not take."""


class RunConfigError(BacktestInputError):
    """The fillsim config file or mapping is unreadable or invalid."""


class StrategyFailed(RuntimeError):
    """The strategy raised mid-run. ``summary`` holds the partial results (already written, if any)."""

    def __init__(self, message: str, summary: dict, traceback_text: str):
        super().__init__(message)
        self.summary = summary
        self.traceback_text = traceback_text
