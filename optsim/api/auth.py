"""Who may do what: the admin token, per-account order tokens, and the Host allow-list.

Tokens travel as ``Authorization: Bearer <token>`` (the scheme is case-insensitive, RFC 9110).
The admin token guards admin, drill and incident-changing endpoints and may act for any account.
Order tokens (``[auth] accounts``) let an account place orders and cancel only its own; they are
required when the service listens beyond loopback (``order_tokens = "auto"``), and a token that is
sent is always checked. The Host check refuses names a DNS-rebinding page would send.
"""
from __future__ import annotations

import functools
import hmac
import ipaddress
from dataclasses import dataclass

from flask import Flask, current_app, request
from werkzeug.wrappers import Request

from ..config import Config
from ..errors import ApiError, detail

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def bearer_token(req: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None when there is none."""
    scheme, _, token = req.environ.get("HTTP_AUTHORIZATION", "").partition(" ")  # what headers.get reads
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _config() -> Config:
    return current_app.config["OPTSIM_CONFIG"]


def _same(token: str, expected: str) -> bool:
    return bool(expected) and hmac.compare_digest(token.encode(), expected.encode())


def _missing(what: str) -> ApiError:
    return ApiError(401, "unauthorized", f"{what} need 'Authorization: Bearer <token>'",
                    [detail("Authorization", "MISSING_TOKEN", "no bearer token")])


def _refused(message: str) -> ApiError:
    return ApiError(403, "forbidden", message, [detail("Authorization", "BAD_TOKEN", "token refused")])


def require_admin(view):
    """401 without a bearer token, 403 with a wrong one or when no token is configured."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        token = bearer_token(request)
        if token is None:
            raise _missing("admin endpoints")
        if not _same(token, _config().admin_token):
            raise _refused("the bearer token is not the admin token")
        return view(*args, **kwargs)

    return wrapped


@dataclass(frozen=True)
class Caller:
    """Who sent an order request: the admin (any account), one account, or nobody (tokens off, none sent)."""

    account: str | None = None
    admin: bool = False

    def may_act_for(self, account: str) -> bool:
        return self.admin or self.account is None or self.account == account


def tokens_required(config: Config) -> bool:
    mode = config.auth.order_tokens
    return mode == "on" or (mode == "auto" and not is_loopback(config.service.host))


NOBODY = Caller()  # no token sent, none required: may act for any account


def order_caller(req: Request, config: Config) -> Caller:
    """The caller of an order entry, cancel or replace; 401 when a token is required and missing, 403 when wrong."""
    token = bearer_token(req)
    if token is None:
        if tokens_required(config) or req.environ.get("HTTP_AUTHORIZATION", "").strip():
            raise _missing("orders")  # a credential that was sent is checked, and one that is not a bearer token fails
        return NOBODY
    if _same(token, config.admin_token):
        return Caller(admin=True)
    matched = None
    for account, expected in config.auth.accounts.items():  # every token compared: no early exit to time
        if _same(token, expected):
            matched = account
    if matched is None:
        raise _refused("the bearer token is not an account's order token")
    return Caller(account=matched)


def not_yours(caller: Caller, account: str, field: str, what: str) -> ApiError:
    return ApiError(403, "forbidden", f"the token is for account {caller.account}, not {account}: {what}",
                    [detail(field, "NOT_OWNER", f"{what} of account {account} needs its token or the admin token")])


# ---------------------------------------------------------------------- Host allow-list
@functools.lru_cache(maxsize=256)  # asked on every order (is the bind address loopback?): parse each name once
def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(config: Config) -> frozenset[str]:
    """Loopback names, the bind address when it names one host, and ``[auth] allowed_hosts``."""
    names = {*LOOPBACK_NAMES, *(h.lower() for h in config.auth.allowed_hosts)}
    if config.service.host not in ("0.0.0.0", "::", ""):
        names.add(config.service.host.lower())
    return frozenset(names)


def _hostname(host: str) -> str:
    """The name of a Host header without its port: ``[::1]:8081`` -> ``::1``."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def init_app(app: Flask) -> None:
    """Refuse requests whose Host is not ours before any route runs (DNS rebinding)."""
    allowed = allowed_hosts(app.config["OPTSIM_CONFIG"])
    app.before_request(lambda: check_host(request._get_current_object(), allowed))  # not through the proxy's lookup


def check_host(req: Request, allowed: frozenset[str]) -> None:
    """400 unless the request's Host is loopback or one of ``allowed``. A request with no Host header at all
    (HTTP/1.0) is let through: a browser always sends one, so it cannot be a rebinding attack, and without it
    werkzeug would check the server's own placeholder name (waitress's ``waitress.invalid``)."""
    if "HTTP_HOST" not in req.environ:
        return
    name = _hostname(req.host).lower()
    if name not in allowed and not is_loopback(name):
        raise ApiError(400, "bad_host", f"Host {name!r} is not one this service answers to",
                       [detail("Host", "HOST_NOT_ALLOWED", "add it to [auth] allowed_hosts to allow it")])
