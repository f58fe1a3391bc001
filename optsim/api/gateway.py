"""Order entry answered ahead of Flask's per-request machinery; every other request goes to Flask.

At saturation an order spent ~12 % of the service's GIL time in Flask itself (py-spy ``--gil``): the
request context's push and pop, URL matching, the before- and after-request passes, finalising the
response. In process an order took 668 k instructions through Flask against 560 k through the gateway
(callgrind; the bench's bare Flask echo is 263 k). So a POST to exactly one of the order entry paths
(``orders.ENTRY``) is answered here with werkzeug's request and response, the classes Flask builds on,
through the same handler, the same Host check and the same error answers (``errors.answer``). The two
routes stay in Flask's URL map, so ``OPTIONS``, a 405's ``Allow`` and the OpenAPI document still list
them, and their Flask views are the reference the gateway is held to (``tests/test_gateway.py``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from flask import Flask
from werkzeug.wrappers import Request

from .. import errors
from .auth import allowed_hosts, check_host

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]
Handler = Callable[[Request, Flask], WSGIApp]  # the answer: a werkzeug Response, or any WSGI app


class OrderGateway:
    """The app's WSGI entry (``app.wsgi_app``): ``routes`` for a POST to one of their paths, ``flask`` for the rest."""

    def __init__(self, app: Flask, routes: dict[str, Handler]):
        self.app = app
        self.flask = app.wsgi_app
        self.routes = routes
        self.allowed = allowed_hosts(app.config["OPTSIM_CONFIG"])

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        handler = self.routes.get(environ.get("PATH_INFO", "")) if environ.get("REQUEST_METHOD") == "POST" else None
        if handler is None:
            return self.flask(environ, start_response)
        req = Request(environ, populate_request=False)  # no environ <-> request cycle left for the collector
        try:
            check_host(req, self.allowed)
            response = handler(req, self.app)
        except Exception as exc:  # the answers a Flask route would give: ApiError, HTTP errors, the store, a bug
            response = errors.answer(self.app, exc)
        return response(environ, start_response)


def install(app: Flask, routes: dict[str, Handler]) -> None:
    app.wsgi_app = OrderGateway(app, routes)  # type: ignore[method-assign]
