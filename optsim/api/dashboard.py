"""The ops dashboard: the page (``/dashboard``), the JSON it polls (``/api/summary``), and the runbook.

Everything is same-origin and offline: the page's script and style come from ``/static``, and a
strict Content-Security-Policy keeps it that way (no inline script, no outside fetch).
"""
from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    redirect,
    send_from_directory,
)

from ..ops import runbook
from ..ops.summary import build_summary
from . import desk
from .incidents import incident_log

bp = Blueprint("dashboard", __name__)

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def _strict(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/")
def home():
    """A person who opens the bare address wants the dashboard."""
    return redirect("/dashboard", code=302)


@bp.get("/dashboard")
def dashboard():
    return _strict(send_from_directory(current_app.static_folder, "dashboard.html", max_age=0))


@bp.get("/api/summary")
def summary():
    response = jsonify(build_summary(desk(), incident_log()))
    response.headers["Cache-Control"] = "no-store"
    return response


def _runbook_text() -> str:
    return (Path(current_app.root_path) / "runbook.md").read_text(encoding="utf-8")


@bp.get("/runbook")
def runbook_page():
    """runbook.md rendered as HTML; incident links point at its anchors (``/runbook#feed-stale``)."""
    return _strict(Response(runbook.page(_runbook_text()), mimetype="text/html"))


@bp.get("/runbook.md")
def runbook_source():
    return _strict(Response(_runbook_text(), mimetype="text/markdown"))
