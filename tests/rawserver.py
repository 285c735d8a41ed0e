"""A misbehaving-server kit: a gevent TCP server whose handler the test writes by hand."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

import gevent.pool
import gevent.server

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def read_request(sock: Any) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def accept_for(request: bytes) -> str:
    match = re.search(rb"(?i)sec-websocket-key:\s*(\S+)", request)
    assert match, request
    return base64.b64encode(hashlib.sha1(match.group(1) + GUID).digest()).decode()


def upgrade(sock: Any, *extra: str, accept: str | None = None) -> bytes:
    """Read the request and answer 101 (with ``extra`` header lines); return the request."""
    request = read_request(sock)
    lines = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Accept: {accept or accept_for(request)}", *extra]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return request


@contextmanager
def raw_server(handler: Callable[[Any], None]) -> Iterator[str]:
    """Serve ``handler(sock)`` on 127.0.0.1; yield the ws:// URL."""

    def handle(sock: Any, address: Any) -> None:
        try:
            handler(sock)
        except OSError:
            pass
        finally:
            sock.close()

    server = gevent.server.StreamServer(("127.0.0.1", 0), handle, spawn=gevent.pool.Pool())
    server.start()
    try:
        yield f"ws://127.0.0.1:{server.server_port}/"
    finally:
        server.stop(timeout=0.1)
