"""The service's HTTP layer: one blueprint per concern, all over the one order desk of the app."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from ..trading.desk import OrderDesk


def desk() -> OrderDesk:
    """The app's order desk (built by ``options_service.create_app``)."""
    return current_app.extensions["desk"]
