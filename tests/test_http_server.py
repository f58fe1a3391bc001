"""The service's waitress: its I/O loop sleeps while a worker is writing an answer, and every answer still
arrives whole (small, streamed, and past the buffer's high-water mark, where the loop must drain it)."""
from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from waitress import wasyncore

from optsim.api.server import AnsweringChannel, make_server


class _Running:
    """Stands in for a request a worker is running: the channel only asks whether it has one."""

    def close(self) -> None:
        pass


def _chunks(n: int):
    """``n`` bytes in 64 KiB chunks, each chunk a different byte."""
    return (bytes([i % 251]) * min(65536, n - i * 65536) for i in range(-(-n // 65536)))


def _app(environ, start_response):
    """POST echoes the body; GET /big?n= streams n bytes in 64 KiB chunks."""
    if environ["REQUEST_METHOD"] == "POST":
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("201 Created", [("Content-Type", "application/octet-stream"),
                                       ("Content-Length", str(len(body)))])
        return [body]
    n = int(environ["QUERY_STRING"].split("=")[1])
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(n))])
    return _chunks(n)


@contextmanager
def _serving(app, **adjustments):
    """``app`` on an ephemeral loopback port, its loop on a thread; stopped and closed on exit."""
    server = make_server(app, host="127.0.0.1", port=0, **adjustments)
    loop = threading.Thread(target=server.run, daemon=True)
    loop.start()
    try:
        yield server
    finally:
        server.task_dispatcher.shutdown(timeout=5)
        wasyncore.close_all(server._map)
        loop.join(timeout=5)


@pytest.fixture
def served():
    with _serving(_app, threads=4, asyncore_use_poll=True, outbuf_high_watermark=256 * 1024) as server:
        yield server


def _channel(served, sockets: dict) -> tuple[AnsweringChannel, socket.socket]:
    """A channel of ``served`` on one end of a socket pair, with a request running; the other end."""
    mine, peer = socket.socketpair()
    peer.settimeout(5)
    channel = AnsweringChannel(served, mine, ("127.0.0.1", 0), served.adj, map=sockets)
    channel.requests = [_Running()]
    return channel, peer


def test_the_service_loop_hands_connections_to_the_answering_channel(served):
    with socket.create_connection(("127.0.0.1", served.effective_port), timeout=5):
        deadline = time.monotonic() + 5
        while not served.active_channels and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [type(c) for c in served.active_channels.values()] == [AnsweringChannel]


def test_the_loop_sleeps_while_a_worker_holds_an_answer_half_written_and_sends_it_once_the_request_ends(served):
    """The state stock waitress spins on: bytes buffered, the socket writable, the worker holding the buffer's
    lock. The loop must wait for the worker's wake-up, then send the bytes."""
    sockets: dict = {}
    channel, peer = _channel(served, sockets)
    with channel.outbuf_lock:  # the worker between appending its answer and sending it
        channel.outbufs[-1].append(b"HTTP/1.1 201 Created\r\n\r\n")
        channel.total_outbufs_len += 25
        passes, started = 0, time.monotonic()
        while time.monotonic() - started < 0.3:
            wasyncore.poll2(0.05, sockets)
            passes += 1
    assert passes <= 10  # ~6 timeouts of 50 ms; stock waitress makes thousands of passes here
    assert channel.total_outbufs_len == 25
    channel.requests = []  # the request ended (waitress pulls the trigger here: the loop looks again)
    wasyncore.poll2(0.05, sockets)
    assert peer.recv(100) == b"HTTP/1.1 201 Created\r\n\r\n"
    channel.close()
    peer.close()


@pytest.mark.parametrize("state, watching", [
    ({}, False),
    ({"total_outbufs_len": 300 * 1024}, True),  # past the high-water mark the worker waits for the loop to drain
    ({"will_close": True}, True),
    ({"close_when_flushed": True}, True),
    ({"requests": []}, True),  # no request running: what is buffered is the loop's to send
])
def test_the_loop_watches_a_connection_with_bytes_buffered_only_when_it_has_to_send_them(served, state, watching):
    channel, peer = _channel(served, {})
    channel.total_outbufs_len = 600
    for name, value in state.items():
        setattr(channel, name, value)
    assert bool(channel.writable()) is watching
    channel.close()
    peer.close()


def test_concurrent_requests_each_get_their_own_answer(served):
    def client(k: int) -> list[bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", served.effective_port, timeout=10)
        answers = []
        for i in range(40):
            conn.request("POST", "/orders", body=b"order %d-%d" % (k, i))
            response = conn.getresponse()
            answers.append(response.read())
            assert response.status == 201
        conn.close()
        return answers

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(client, range(8)))
    assert results == [[b"order %d-%d" % (k, i) for i in range(40)] for k in range(8)]


@pytest.mark.parametrize("size", [100_000, 3 * 1024 * 1024])  # under and well past the 256 KiB high-water mark
def test_a_large_answer_to_a_slow_reader_arrives_whole(served, size):
    conn = http.client.HTTPConnection("127.0.0.1", served.effective_port, timeout=10)
    conn.request("GET", f"/big?n={size}")
    response = conn.getresponse()
    received = bytearray()
    while chunk := response.read(32768):
        received += chunk
        time.sleep(0.001)  # a reader slower than the writer: the socket fills and the buffer grows
    assert response.status == 200 and bytes(received) == b"".join(_chunks(size))
    conn.close()


def test_requests_queued_behind_busy_workers_log_the_queue_depth_once(caplog):
    """Waitress warns once per request that queues; the service passes one warning per 10 s."""
    release = threading.Event()

    def slow(environ, start_response):
        release.wait(5)
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]

    with _serving(slow, threads=1) as server:
        conns = [http.client.HTTPConnection("127.0.0.1", server.effective_port, timeout=10) for _ in range(6)]
        try:
            with caplog.at_level(logging.WARNING, logger="waitress.queue"):
                for conn in conns:
                    conn.request("GET", "/")
                deadline = time.monotonic() + 5
                while len(server.task_dispatcher.queue) < 5 and time.monotonic() < deadline:
                    time.sleep(0.01)
                release.set()
                assert [conn.getresponse().read() for conn in conns] == [b"ok"] * 6
            assert [r.getMessage() for r in caplog.records if r.name == "waitress.queue"] == ["Task queue depth is 1"]
        finally:
            for conn in conns:
                conn.close()


def _answer(sock: socket.socket) -> tuple[int, dict, bytes]:
    """Status, headers and body of one answer read off a raw socket (the server closes after an error)."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


@pytest.fixture
def limited():
    with _serving(_app, threads=2, asyncore_use_poll=True, max_request_body_size=1024) as server:
        yield server


def test_a_body_declared_over_the_limit_is_refused_on_its_headers_in_json(limited):
    """Refused before the body arrives (it is not spooled to a file first), in the API's error shape."""
    port = limited.effective_port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 3000000\r\n\r\n")  # the answer comes before any of the body is sent
        status, headers, body = _answer(sock)
    assert status == 413 and headers["Content-Type"] == "application/json"
    error = json.loads(body)
    assert error["error"] == "payload_too_large"
    assert error["details"] == [{"field": "", "reason": "PAYLOAD_TOO_LARGE", "message": "send at most 1024 bytes"}]


def test_a_body_of_exactly_the_limit_is_taken_and_one_byte_more_is_not(limited):
    """The limit is the most a body may have, as the app's own check and the 413's "send at most" say;
    waitress refuses a body of its ``max_request_body_size`` or more."""
    port = limited.effective_port
    for size, expected in ((1024, 201), (1025, 413)):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                         + f"Content-Length: {size}\r\n\r\n".encode() + b"x" * size * (expected == 201))
            status, _, body = _answer(sock)
        assert status == expected, (size, body[:200])
        if status == 413:
            assert json.loads(body)["details"][0]["message"] == "send at most 1024 bytes"


def test_a_chunked_body_over_the_limit_and_a_bad_request_line_are_refused_in_json(limited):
    port = limited.effective_port
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + b"800\r\n" + b"x" * 2048 + b"\r\n0\r\n\r\n")
        status, _, body = _answer(sock)
    assert status == 413 and json.loads(body)["error"] == "payload_too_large"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n")
        status, headers, body = _answer(sock)
    assert status == 400 and headers["Content-Type"] == "application/json"
    error = json.loads(body)
    assert error["error"] == "bad_request" and error["details"][0]["reason"] == "BAD_REQUEST"
    assert error["message"]  # waitress's own words: what was wrong with the request
