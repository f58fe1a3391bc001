"""One error shape for every 4xx the API answers, so clients parse failures one way.

``{"error": <class>, "message": <text>, "details": [{"field", "reason", "message"}], ...extra}``
"""
from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException


class ApiError(Exception):
    """An answer with a 4xx status; ``error`` is a stable machine-readable class."""

    def __init__(self, status: int, error: str, message: str, details: list[dict] | None = None, **extra: Any):
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.details = details or []
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        body = {"error": self.error, "message": self.message, "details": self.details}
        body.update(self.extra)
        return body


def detail(field: str, reason: str, message: str) -> dict[str, str]:
    return {"field": field, "reason": reason, "message": message}


def validation_failed(details: list[dict]) -> ApiError:
    n = len(details)
    return ApiError(422, "validation_failed", f"{n} field{'s are' if n != 1 else ' is'} invalid", details)


_HTTP_ERRORS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
                415: "unsupported_media_type", 429: "too_many_requests"}


def init_app(app: Flask) -> None:
    """Answer ApiError and werkzeug's HTTP errors in the one shape; unexpected errors as a JSON 500."""

    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return jsonify(exc.to_dict()), exc.status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = exc.code or 500
        return jsonify({"error": _HTTP_ERRORS.get(code, "http_error"), "message": exc.description,
                        "details": []}), code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # a bug, not bad input: log it and say so without leaking internals
        app.logger.exception("unhandled error")
        return jsonify({"error": "internal_error", "message": "internal error; see the service log",
                        "details": []}), 500
