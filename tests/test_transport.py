"""The client's http transport: kept-alive connections, servers that drop them, bad URLs."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cli.client import ServerUnreachable, TorcClient, TorcClientError
from tests.helpers import ServerProcess


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive unless the server says otherwise
    connections: set[tuple[str, int]] = set()
    close_after_reply = False

    def do_GET(self) -> None:  # noqa: N802  (http.server's naming)
        Handler.connections.add(self.client_address)
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if Handler.close_after_reply:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        if Handler.close_after_reply:
            self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[ThreadingHTTPServer]:
    Handler.connections = set()
    Handler.close_after_reply = False
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def client_for(server: ThreadingHTTPServer) -> TorcClient:
    return TorcClient(f"http://127.0.0.1:{server.server_address[1]}/torc-service/v1")


def test_requests_share_one_connection(http_server: ThreadingHTTPServer) -> None:
    client = client_for(http_server)
    answers = [client.get("/ping", n=i) for i in range(5)]
    assert answers[3] == {"path": "/torc-service/v1/ping?n=3"}
    assert len(Handler.connections) == 1
    client.close()


def test_a_connection_the_server_closed_is_reopened(http_server: ThreadingHTTPServer) -> None:
    Handler.close_after_reply = True
    client = client_for(http_server)
    assert [client.get("/a")["path"] for _ in range(3)] == ["/torc-service/v1/a"] * 3
    assert len(Handler.connections) == 3
    client.close()


def test_a_restarted_server_is_reached_on_a_new_connection(make_server) -> None:
    server: ServerProcess = make_server()
    client = TorcClient(server.url)
    assert "version" in client.version()
    port = server.port
    server.stop()
    with pytest.raises(ServerUnreachable, match="connection refused"):
        client.version()
    again: ServerProcess = make_server("--port", str(port))
    assert again.port == port
    assert "version" in client.version()
    client.close()


def test_malformed_urls_are_refused_up_front() -> None:
    for url in ("not a url", "ftp://host/x", "http://host:abc/x", "http:///torc-service/v1"):
        with pytest.raises(TorcClientError, match="invalid server URL"):
            TorcClient(url)


def test_no_answer_in_time_is_a_timeout() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    try:
        client = TorcClient(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.3)
        with pytest.raises(ServerUnreachable, match="timed out"):
            client.get("/ping")
        client.close()
    finally:
        listener.close()
