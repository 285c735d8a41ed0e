"""A small embedded WebSocket server: the demo's and the tests' default peer.

It runs the same sans-IO engine in its server role behind ``gevent.server``, so
``python -m geventws demo`` works on a fresh machine with no outside server. It is
deliberately minimal (no extensions, no TLS by default); geventws is a client
library and this is its test bench, not a production server.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Callable, Optional, Union

import gevent
import gevent.lock
import gevent.pool
import gevent.server
import h11

from .events import Close
from .handshake import accept_key, parse_header_list
from .protocol import InvalidState, Protocol, Role, State

__all__ = ["EchoServer", "ServerConnection", "WebSocketServer", "read_request"]

log = logging.getLogger("geventws.server")

_RECV_SIZE = 256 * 1024


class ServerConnection:
    """The server side of one connection, handed to the handler."""

    def __init__(self, sock: Any, protocol: Protocol, path: str,
                 request_headers: list[tuple[str, str]], subprotocol: Optional[str]) -> None:
        self.sock = sock
        self.protocol = protocol
        self.path = path
        self.request_headers = request_headers
        self.subprotocol = subprotocol
        self._lock = gevent.lock.RLock()
        self._pending: list[Any] = []

    def _flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            self.sock.sendall(chunk)

    def send(self, message: Union[str, bytes]) -> None:
        with self._lock:
            if isinstance(message, str):
                self.protocol.send_text(message)
            else:
                self.protocol.send_binary(message)
            self._flush()

    def close(self, code: int = 1000, reason: str = "") -> None:
        with self._lock:
            if self.protocol.state is State.OPEN:
                self.protocol.send_close(code, reason)
                self._flush()

    def __iter__(self) -> Any:
        """Received messages until the connection closes."""
        protocol = self.protocol
        while True:
            for event in protocol.events_received():
                if isinstance(event, (str, bytes)):
                    yield event
            with self._lock:
                self._flush()
            if protocol.state is State.CLOSED or protocol.close_rcvd is not None:
                return
            data = self.sock.recv(_RECV_SIZE)
            if not data:
                protocol.receive_eof()
                return
            protocol.receive_data(data)


Handler = Callable[[ServerConnection], None]


def read_request(sock: Any, h: h11.Connection) -> Optional[h11.Request]:
    """Read the upgrade request from ``sock`` through the server-side ``h``; ``None`` when
    the client goes away or sends something else first (test servers share this)."""
    while True:
        event = h.next_event()
        if event is h11.NEED_DATA:
            data = sock.recv(65536)
            if not data:
                return None
            h.receive_data(data)
        elif isinstance(event, h11.Request):
            return event
        else:
            return None


def echo_handler(conn: ServerConnection) -> None:
    """Send every message back as it came."""
    try:
        for message in conn:
            conn.send(message)
    except InvalidState:
        pass


class WebSocketServer:
    """A gevent WebSocket server calling ``handler(conn)`` for each connection.

    Use :attr:`port` after :meth:`start` (``port=0`` picks a free one).
    """

    def __init__(self, handler: Handler = echo_handler, host: str = "127.0.0.1", port: int = 0,
                 *, subprotocols: Sequence[str] = (), max_size: Optional[int] = 2**24) -> None:
        self.handler = handler
        self.subprotocols = list(subprotocols)
        self.max_size = max_size
        self._server = gevent.server.StreamServer((host, port), self._handle,
                                                   spawn=gevent.pool.Pool())

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def url(self) -> str:
        host = self._server.server_host
        host = f"[{host}]" if ":" in host else host
        return f"ws://{host}:{self.port}/"

    def start(self) -> WebSocketServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop(timeout=1)

    def __enter__(self) -> WebSocketServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handle(self, sock: Any, address: Any) -> None:
        try:
            conn = self._handshake(sock)
            if conn is None:
                return
            try:
                self.handler(conn)
            except (OSError, InvalidState):
                pass
            try:
                conn.close()
                # Server closes TCP after the closing handshake (RFC 6455 §7.1.1): wait for
                # the client's close frame briefly, then end.
                self._drain(conn)
            except OSError:
                pass  # the client is gone already
        except Exception:  # pragma: no cover - logged, never crashes the server
            log.exception("connection handler failed")
        finally:
            sock.close()

    def _drain(self, conn: ServerConnection) -> None:
        protocol = conn.protocol
        with gevent.Timeout(5, False):
            while protocol.close_rcvd is None and not protocol.eof_received:
                data = conn.sock.recv(_RECV_SIZE)
                if not data:
                    return
                protocol.receive_data(data)
                if any(isinstance(e, Close) for e in protocol.events_received()):
                    break

    def _handshake(self, sock: Any) -> Optional[ServerConnection]:
        h = h11.Connection(h11.SERVER)
        request = read_request(sock, h)
        if request is None:
            return None
        headers = [(n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in request.headers]

        def values(name: str) -> list[str]:
            return parse_header_list([v for n, v in headers if n == name])

        key = [v for n, v in headers if n == "sec-websocket-key"]
        if "websocket" not in [u.lower() for u in values("upgrade")] or len(key) != 1:
            sock.sendall(h.send(h11.Response(status_code=426, headers=[
                ("Content-Length", "0"), ("Upgrade", "websocket")])))
            return None
        offered = values("sec-websocket-protocol")
        subprotocol = next((p for p in self.subprotocols if p in offered), None)
        response_headers = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Accept", accept_key(key[0])),
        ]
        if subprotocol:
            response_headers.append(("Sec-WebSocket-Protocol", subprotocol))
        sock.sendall(h.send(h11.InformationalResponse(status_code=101, headers=response_headers)))
        protocol = Protocol(Role.SERVER, max_size=self.max_size)
        leftover = h.trailing_data[0]
        if leftover:
            protocol.receive_data(leftover)
        target = request.target.decode("latin-1")
        return ServerConnection(sock, protocol, target, headers, subprotocol)


class EchoServer(WebSocketServer):
    """An echo server on 127.0.0.1 and a free port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(echo_handler, host, port)
