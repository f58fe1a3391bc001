"""One error shape for every 4xx the API answers, so clients parse failures one way.

``{"error": <class>, "message": <text>, "details": [{"field", "reason", "message"}], ...extra}``
"""
from __future__ import annotations

import sqlite3
from typing import Any

from flask import Flask, Response
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


def unknown_names(given, known, reason: str, what: str) -> list[dict]:
    """A detail for each name in ``given`` outside ``known``: a misspelt field or filter is refused, not ignored."""
    return [detail(name, reason, f"{name} is not {what}") for name in sorted(set(given) - set(known))]


def payload_too_large(limit: int) -> ApiError:
    """A body over ``limit`` bytes, whether the app or the HTTP server refuses it."""
    return ApiError(413, "payload_too_large", f"the body is over the {limit} byte limit",
                    [detail("", "PAYLOAD_TOO_LARGE", f"send at most {limit} bytes")])


def validation_failed(details: list[dict]) -> ApiError:
    n = len(details)
    return ApiError(422, "validation_failed", f"{n} field{'s are' if n != 1 else ' is'} invalid", details)


def is_disk_full(exc: BaseException) -> bool:
    """SQLITE_FULL (disk or page cap) or ENOSPC/EDQUOT surfacing as an SQLite I/O error."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code == sqlite3.SQLITE_FULL or "full" in str(exc).lower()


HTTP_ERRORS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
               415: "unsupported_media_type", 429: "too_many_requests", 431: "headers_too_large",
               501: "not_implemented"}


#: The part of the request at fault in werkzeug's own refusals (a route's body checks name their fields themselves).
_HTTP_FIELDS = {404: "path", 405: "method", 415: "Content-Type"}  # else "": the request as a whole


def init_app(app: Flask) -> None:
    """Answer ApiError and werkzeug's HTTP errors in the one shape; unexpected errors as a JSON 500."""
    for kind in (ApiError, HTTPException, sqlite3.Error, Exception):
        app.register_error_handler(kind, lambda exc: answer(app, exc))


def answer(app: Flask, exc: Exception) -> Response:
    """The API's answer to ``exc`` raised by a request, whether a Flask route or the order gateway raised it."""
    headers: list[tuple[str, str]] = []
    if isinstance(exc, ApiError):
        body, status = exc.to_dict(), exc.status
    elif isinstance(exc, HTTPException):
        status = exc.code or 500
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]  # Allow on a 405
        error = HTTP_ERRORS.get(status, "http_error")
        body = {"error": error, "message": exc.description,
                "details": [detail(_HTTP_FIELDS.get(status, ""), error.upper(), exc.description)]}
    elif isinstance(exc, sqlite3.Error):  # the request was fine; the database could not take it
        app.logger.error("order store error: %s", exc)
        if is_disk_full(exc):
            body, status = {"error": "storage_full", "message": "the order store's disk is full; nothing was stored",
                            "details": [detail("", "DISK_FULL", "retry once space is freed")]}, 507
        else:
            body, status = {"error": "storage_unavailable", "message": "the order store failed; nothing was stored",
                            "details": [detail("", "STORE_ERROR", str(exc))]}, 503
    else:  # a bug, not bad input: log it and say so without leaking internals
        app.logger.error("unhandled error", exc_info=exc)
        body, status = {"error": "internal_error", "message": "internal error; see the service log", "details": []}, 500
    response = app.json.response(body)
    response.status_code = status
    response.headers.extend(headers)
    return response
