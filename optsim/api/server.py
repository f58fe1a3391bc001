"""waitress, with an I/O loop that does not spin while a worker is answering.

Stock waitress asks ``poll()`` to watch a connection for "writable" whenever bytes are buffered for it.
A worker thread writes its answer by appending it to that buffer and then sending it itself
(``send_bytes`` is 1), all under the buffer's lock. If the worker loses the GIL between the two, the
I/O loop finds the socket writable, cannot take the lock, and polls again at once: measured at
saturation with the whole suite running, ~40,000 loop passes a second, the I/O thread holding the GIL
half the time, taking it from the very worker it waits for. Orders served 110-340 req/s at 2.8-9 ms of
CPU each; with ``AnsweringChannel`` the same run served ~600 req/s.
"""
from __future__ import annotations

import _thread
import json
import logging
import signal
import threading
import time

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask

from ..errors import HTTP_ERRORS, ApiError, detail, payload_too_large
from ..ops.logthrottle import OncePer

DRAIN_S = 3.0  # under run_simulator's KILL_WAIT_S (5 s): a drain ends before the supervisor's SIGKILL would


class JsonErrorTask(ErrorTask):
    """waitress's own refusals (a body over ``max_request_body_size``, a malformed request line or header) in
    the API's one error shape instead of text/plain. waitress answers these before the app runs: a body
    declared too large is refused on its headers, not spooled to a temporary file first."""

    def execute(self):
        error = self.request.error
        if error.code == 413:  # the app's own answer to a body over the limit
            answer = payload_too_large(self.channel.adj.max_request_body_size - 1)  # see make_server
        else:
            kind, message = HTTP_ERRORS.get(error.code, "http_error"), f"{error.reason}: {error.body}"
            answer = ApiError(error.code, kind, message, [detail("", kind.upper(), message)])
        body = json.dumps(answer.to_dict()).encode()
        self.status = f"{error.code} {error.reason}"
        self.response_headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class AnsweringChannel(HTTPChannel):
    """While a worker runs this connection's request with less than the high-water mark buffered, the loop
    leaves the socket alone: the worker sends what it writes, and wakes the loop when the request ends
    (``pull_trigger``), which then sends whatever the socket did not take. Above the mark the worker waits
    for the loop to drain the buffer, so there, and when the connection is closing, it watches as before."""

    error_task_class = JsonErrorTask

    def writable(self):
        if (self.requests and not (self.will_close or self.close_when_flushed)
                and self.total_outbufs_len <= self.adj.outbuf_high_watermark):
            return False
        return super().writable()


def make_server(app, **adjustments):
    """``waitress.create_server`` with every listening socket handing its connections to ``AnsweringChannel``,
    and its "Task queue depth" warning (one per request that queues) passed once per 10 s.

    ``max_request_body_size`` is the most a body may have, as the app's limit is (``MAX_CONTENT_LENGTH``, and the
    413's "send at most"); waitress refuses a body of its size or more, so it is handed one byte more."""
    adjustments["max_request_body_size"] = int(adjustments.get("max_request_body_size",
                                                               Adjustments.max_request_body_size)) + 1
    sockets: dict = {}
    server = create_server(app, map=sockets, **adjustments)
    server.task_dispatcher.queue_logger = OncePer(logging.getLogger("waitress.queue"), 10.0)
    for listener in sockets.values():
        if isinstance(listener, BaseWSGIServer):
            listener.channel_class = AnsweringChannel
    return server


def serve(app, **adjustments) -> None:
    """Serve ``app`` as ``waitress.serve`` does, until Ctrl-C, or SIGTERM after a drain (``drain_on``)."""
    server = make_server(app, **adjustments)
    server.print_listen("Serving on http://{}:{}")
    draining = drain_on(signal.SIGTERM, server)
    server.run()
    if draining.is_set():
        raise SystemExit(128 + signal.SIGTERM)  # the code an untrapped SIGTERM gives


def drain_on(sig: int, server, deadline_s: float = DRAIN_S) -> threading.Event:
    """On ``sig``: close the listening sockets (a new client is refused at once, not left in the backlog), let
    the requests in flight finish and their answers go out, for at most ``deadline_s``, then stop the loop.

    Without it a SIGTERM cut answers off mid-way: an order committed a moment before reached its client as
    an incomplete read. The supervisor sends SIGTERM on a stop, and its children get one when it is killed
    outright (``ops/lifeline.py``). Returns the event set once a drain has begun."""
    draining = threading.Event()

    def drain() -> None:
        end = time.monotonic() + deadline_s
        while time.monotonic() < end and any(_answering(ch) for ch in list(server._map.values())):
            time.sleep(0.02)
        _thread.interrupt_main()  # waitress's loop stops on KeyboardInterrupt and shuts its workers down

    def on_signal(signum, frame) -> None:
        if draining.is_set():
            return
        draining.set()
        logging.getLogger("optsim").info("SIGTERM: answering the requests in flight (at most %.0f s), then exiting",
                                         deadline_s)
        for dispatcher in list(server._map.values()):
            if isinstance(dispatcher, BaseWSGIServer):
                wasyncore.dispatcher.close(dispatcher)  # its socket only: its close() also shuts the workers' trigger
            elif isinstance(dispatcher, HTTPChannel) and not _answering(dispatcher):
                dispatcher.close_when_flushed = True  # an idle keep-alive: closed now (a busy one stays until answered)
        threading.Thread(target=drain, name="drain", daemon=True).start()

    signal.signal(sig, on_signal)
    return draining


def _answering(channel) -> bool:
    """A connection with a request running or queued, or an answer not yet sent (an idle keep-alive is not)."""
    return isinstance(channel, HTTPChannel) and bool(channel.requests or channel.total_outbufs_len)
