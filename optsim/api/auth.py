"""Bearer-token guard for admin, drill and incident-changing endpoints."""
from __future__ import annotations

import functools
import hmac

from flask import current_app, request

from ..errors import ApiError


def require_admin(view):
    """401 without a bearer token, 403 with a wrong one or when no token is configured."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not header[7:].strip():
            raise ApiError(401, "unauthorized", "admin endpoints need 'Authorization: Bearer <token>'",
                           [{"field": "Authorization", "reason": "MISSING_TOKEN", "message": "no bearer token"}])
        expected = current_app.config["OPTSIM_CONFIG"].admin_token
        if not expected or not hmac.compare_digest(header[7:].strip().encode(), expected.encode()):
            raise ApiError(403, "forbidden", "the bearer token is not the admin token",
                           [{"field": "Authorization", "reason": "BAD_TOKEN", "message": "token refused"}])
        return view(*args, **kwargs)

    return wrapped
