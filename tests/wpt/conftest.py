"""A local stand-in for the WPT ``websockets/handlers/`` server, and helpers.

The web-platform-tests run their WebSocket tests against pywebsocket handlers
(``echo_wsh.py``, ``echo_raw``, ``sleep_10_v13``, ``wrong_accept_key_wsh.py``,
``basic_auth_wsh.py`` ...). :class:`WPTServer` reproduces the ones these tests
need, on 127.0.0.1, with a small raw frame reader so that it can do what the
handlers do and our engine's server role would not: echo a close frame's reason
as well as its code, and write raw bytes (``echo_raw``). Paths:

``/`` and ``/echo``        echo; select subprotocol ``echo`` when offered; after echoing
                           ``Goodbye``, close (1000); echo the client's close code and reason
``/echo_raw``              write the text message, ``\\xNN``-unescaped, raw to the socket
``/empty-message``         reply ``pass`` to an empty text message, else ``fail``
``/handshake_protocols``   select the first offered subprotocol; send the header value
``/handshake_no_protocol`` select no subprotocol, whatever is offered
``/wrong_protocol``        select ``foobar`` whatever is offered (or not)
``/echo_exit``             after receiving ``Goodbye``, close without echoing it
``/echo_close_data``       after receiving ``Goodbye``, send a close frame, then a text frame
``/echo-query``            send the request target's query string
``/basic_auth``            send the request's Authorization header
``/remote-close``          close at once with ``?code=&reason=`` (no code: empty close frame)
``/drop``                  end TCP right after the handshake, with no close frame
``/sleep_10_v13``          never answer the handshake (up to 10 s)
``/handshake_sleep``       answer the handshake after ``?delay=`` seconds (``handshake_sleep_1``);
                           ``max_handshaking`` counts how many waited at once
``/wrong_accept_key``      answer 101 with a wrong ``Sec-WebSocket-Accept``
"""

from __future__ import annotations

import codecs
import struct
import urllib.parse
from collections.abc import Iterator
from typing import Any, Optional

import gevent
import gevent.server
import h11
import pytest

import geventws
from geventws.frames import apply_mask
from geventws.handshake import accept_key, parse_header_list
from geventws.server import read_request

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


class RawConn:
    """The server end of one connection, framed by hand (unmasked out, masked in)."""

    def __init__(self, sock: Any, leftover: bytes) -> None:
        self.sock = sock
        self.buf = bytearray(leftover)

    def _read(self, n: int) -> Optional[bytes]:
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def _frame(self) -> Optional[tuple[int, bool, bytes]]:
        head = self._read(2)
        if head is None:
            return None
        fin, opcode, length = bool(head[0] & 0x80), head[0] & 0x0F, head[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._read(2) or b"\0\0")[0]
        elif length == 127:
            length = struct.unpack("!Q", self._read(8) or b"\0" * 8)[0]
        key = self._read(4) if head[1] & 0x80 else None
        payload = self._read(length) if length else b""
        if payload is None:
            return None
        return opcode, fin, apply_mask(payload, key) if key else payload

    def recv(self) -> Any:
        """A message (``str``/``bytes``), ``("close", code, reason)``, or ``None`` at EOF."""
        parts: list[bytes] = []
        kind = None
        while True:
            frame = self._frame()
            if frame is None:
                return None
            opcode, fin, payload = frame
            if opcode == OP_PING:
                self.send_frame(OP_PONG, payload)
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                if len(payload) >= 2:
                    code = struct.unpack("!H", payload[:2])[0]
                    return ("close", code, payload[2:].decode("utf-8"))
                return ("close", None, "")
            if opcode != OP_CONT:
                kind = opcode
            parts.append(payload)
            if fin:
                data = b"".join(parts)
                return data.decode("utf-8") if kind == OP_TEXT else data

    def send_frame(self, opcode: int, payload: bytes) -> None:
        n = len(payload)
        if n < 126:
            header = struct.pack("!BB", 0x80 | opcode, n)
        elif n < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
        self.sock.sendall(header + payload)

    def send(self, message: Any) -> None:
        if isinstance(message, str):
            self.send_frame(OP_TEXT, message.encode("utf-8"))
        else:
            self.send_frame(OP_BINARY, bytes(message))

    def close(self, code: Optional[int] = 1000, reason: str = "") -> None:
        payload = b"" if code is None else struct.pack("!H", code) + reason.encode("utf-8")
        self.send_frame(OP_CLOSE, payload)

    def close_and_wait(self, code: Optional[int] = 1000, reason: str = "") -> None:
        """Server-initiated close: send ours, wait (bounded) for the client's."""
        self.close(code, reason)
        with gevent.Timeout(5, False):
            while True:
                message = self.recv()
                if message is None or isinstance(message, tuple):
                    return


class WPTServer:
    """The handlers above on 127.0.0.1 and a free port."""

    def __init__(self, ssl_context: Any = None) -> None:
        self.scheme = "wss" if ssl_context is not None else "ws"
        kwargs = {"ssl_context": ssl_context} if ssl_context is not None else {}
        self._server = gevent.server.StreamServer(("127.0.0.1", 0), self._handle, **kwargs)
        self.handshaking = 0
        self.max_handshaking = 0

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://127.0.0.1:{self._server.server_port}{path}"

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop(timeout=1)

    def _handle(self, sock: Any, address: Any) -> None:
        try:
            with gevent.Timeout(15, False):
                self._serve(sock)
        except OSError:
            pass
        finally:
            sock.close()

    def _serve(self, sock: Any) -> None:
        h = h11.Connection(h11.SERVER)
        request = read_request(sock, h)
        if request is None:
            return
        target = request.target.decode("latin-1")
        path, _, query = target.partition("?")
        headers = [(n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in request.headers]
        header = {n: v for n, v in headers}
        if path == "/sleep_10_v13":
            gevent.sleep(10)
            return
        if path == "/handshake_sleep":
            self.handshaking += 1
            self.max_handshaking = max(self.max_handshaking, self.handshaking)
            try:
                gevent.sleep(float(dict(urllib.parse.parse_qsl(query)).get("delay", "1")))
            finally:
                self.handshaking -= 1
        offered = parse_header_list([v for n, v in headers if n == "sec-websocket-protocol"])
        selected = None
        if path == "/handshake_protocols" and offered:
            selected = offered[0]
        elif path == "/wrong_protocol":
            selected = "foobar"
        elif "echo" in offered and path != "/handshake_no_protocol":
            selected = "echo"
        key = header.get("sec-websocket-key", "")
        accept = "d2hhdCBhIHdyb25nIGtleQ==" if path == "/wrong_accept_key" else accept_key(key)
        response = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                    ("Sec-WebSocket-Accept", accept)]
        if selected:
            response.append(("Sec-WebSocket-Protocol", selected))
        sock.sendall(h.send(h11.InformationalResponse(status_code=101, headers=response)))
        conn = RawConn(sock, h.trailing_data[0])
        params = dict(urllib.parse.parse_qsl(query))
        if path == "/drop":
            return
        if path == "/handshake_protocols":
            conn.send(header.get("sec-websocket-protocol", ""))
        elif path == "/echo-query":
            conn.send(query)
        elif path == "/basic_auth":
            conn.send(header.get("authorization", ""))
        elif path == "/remote-close":
            code = int(params["code"]) if "code" in params else None
            conn.close_and_wait(code, params.get("reason", ""))
            return
        self._message_loop(conn, path)

    def _message_loop(self, conn: RawConn, path: str) -> None:
        while True:
            message = conn.recv()
            if message is None:
                return
            if isinstance(message, tuple):  # the client's close: echo code and reason
                _, code, reason = message
                conn.close(code, reason)
                return
            if message == "Goodbye" and path == "/echo_exit":
                conn.close_and_wait(1000)
                return
            if message == "Goodbye" and path == "/echo_close_data":
                conn.close(1000)
                conn.send("data after the close frame")
                with gevent.Timeout(5, False):
                    while not isinstance(conn.recv(), (tuple, type(None))):
                        pass
                return
            if path == "/echo_raw":
                conn.sock.sendall(codecs.decode(message, "unicode_escape").encode("latin-1"))
            elif path == "/empty-message":
                conn.send("pass" if message == "" else "fail")
            else:
                conn.send(message)
                if message == "Goodbye":
                    conn.close_and_wait(1000)
                    return


@pytest.fixture(scope="session")
def wpt() -> Iterator[WPTServer]:
    server = WPTServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tls() -> Any:
    """A throwaway CA (trustme): the server's context and the client's ``ssl`` option."""
    trustme = pytest.importorskip("trustme")
    import ssl

    import gevent.ssl

    ca = trustme.CA()
    # gevent's SSLContext, so the server's TLS handshakes cooperate (the stdlib one would
    # block the hub inside wrap_socket).
    server_context = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    return server_context, client_context


@pytest.fixture(scope="session")
def wpt_wss(tls: Any) -> Iterator[WPTServer]:
    """The same handlers over TLS: the ``?wss`` variants of the WPT files."""
    server = WPTServer(ssl_context=tls[0])
    server.start()
    yield server
    server.stop()


class Recorder:
    """Records every event a WebSocket fires, in order, with readyState at the time."""

    def __init__(self, ws: geventws.WebSocket) -> None:
        self.ws = ws
        self.events: list[Any] = []
        for name in ("open", "message", "error", "close"):
            ws.addEventListener(name, self._record)

    def _record(self, event: Any) -> None:
        self.events.append(event)

    @property
    def types(self) -> list[str]:
        return [e.type for e in self.events]

    def wait(self, timeout: float = 5) -> Recorder:
        assert self.ws.wait_closed(timeout), f"no close event within {timeout} s"
        return self

    def last(self, type: str) -> Any:
        return [e for e in self.events if e.type == type][-1]


@pytest.fixture
def record() -> Any:
    return Recorder


def wait_until(predicate: Any, timeout: float = 5) -> None:
    """Yield to the hub until ``predicate()`` holds (so background greenlets run)."""
    with gevent.Timeout(timeout, AssertionError("condition not met in time")):
        while not predicate():
            gevent.sleep(0.005)


@pytest.fixture
def until() -> Any:
    return wait_until
