"""``torc-server run --https``: TLS in front of waitress, in the same process.

Waitress speaks plain HTTP only. With ``--https`` it listens on a Unix socket in a private
directory instead of a TCP port, and ``TlsFront`` accepts TLS connections on the public
host and port, completes each handshake in its own thread and relays bytes both ways
between the client and waitress. Certificates are PEM files (``--tls-cert`` holds the
certificate chain, ``--tls-key`` its private key); TLS 1.2 is the minimum.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import threading
from pathlib import Path

logger = logging.getLogger("torc.server.tls")

HANDSHAKE_SECONDS = 10.0
CHUNK = 65536


class TlsSetupError(ValueError):
    """Certificate or key files that cannot be used (one line for the start-up error)."""


def server_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert_file, key_file)
    except (OSError, ssl.SSLError) as exc:
        message = f"cannot load --tls-cert {cert_file} / --tls-key {key_file}: {exc}"
        raise TlsSetupError(message) from None
    return context


class TlsFront:
    """Accepts TLS on ``host:port`` and relays each connection to waitress's Unix socket."""

    def __init__(
        self,
        host: str,
        port: int,
        context: ssl.SSLContext,
        backend: Path,
        max_connections: int = 1000,
        idle_seconds: float = 120.0,
    ) -> None:
        """``max_connections`` and ``idle_seconds`` as waitress's own (server settings
        ``max_connections``, ``idle_timeout_secs``): waitress closing an idle relayed
        connection ends its relay, so its limits apply through the front too."""
        self.context = context
        self.backend = backend
        self.max_connections = max_connections
        self.idle_seconds = idle_seconds
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(1024)
        self.port: int = self.listener.getsockname()[1]
        self._closed = threading.Event()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._thread = threading.Thread(target=self._accept_loop, name="tls-accept", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        self.backend.unlink(missing_ok=True)
        try:
            self.backend.parent.rmdir()
        except OSError:
            pass

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _address = self.listener.accept()
            except OSError:
                if self._closed.is_set():
                    return
                continue
            if not self._slots.acquire(blocking=False):
                logger.warning("Refusing a TLS connection: %d already open", self.max_connections)
                client.close()
                continue
            threading.Thread(
                target=self._serve_connection, args=(client,), name="tls-conn", daemon=True
            ).start()

    def _serve_connection(self, raw: socket.socket) -> None:
        try:
            self._relay_connection(raw)
        finally:
            self._slots.release()

    def _relay_connection(self, raw: socket.socket) -> None:
        raw.settimeout(HANDSHAKE_SECONDS)
        try:
            client = self.context.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError) as exc:
            logger.debug("TLS handshake failed: %s", exc)
            raw.close()
            return
        backend = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            backend.connect(str(self.backend))
            client.settimeout(None)
            _relay(client, backend, self.idle_seconds)
        except OSError as exc:
            logger.debug("TLS connection ended: %s", exc)
        finally:
            backend.close()
            try:
                client.close()
            except OSError:
                pass


def _relay(client: ssl.SSLSocket, backend: socket.socket, idle_seconds: float) -> None:
    """Copy bytes both ways until either side closes or the connection idles out.

    poll(), not select(): a busy server has more than 1,024 descriptors open."""
    poller = select.poll()
    poller.register(client, select.POLLIN)
    poller.register(backend, select.POLLIN)
    sources = {client.fileno(): client, backend.fileno(): backend}
    while True:
        readable: list[socket.socket]  # the TLS side (an SSLSocket) or the backend
        if client.pending():
            readable = [client]
        else:
            events = poller.poll(idle_seconds * 1000)
            if not events:
                return
            readable = [sources[fd] for fd, _event in events]
        for source in readable:
            target = backend if source is client else client
            try:
                data = source.recv(CHUNK)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                continue
            if not data:
                return
            target.sendall(data)
