"""Opening the byte stream: DNS, TCP (IPv4/IPv6), TLS, optional HTTP proxy tunnel.

This is the one place geventws creates sockets. It uses ``gevent.socket`` and
``gevent.ssl`` explicitly, so it cooperates with other greenlets whether or not
the application called ``gevent.monkey.patch_all()``: name resolution goes
through gevent's resolver and every wait yields to the hub.
"""

from __future__ import annotations

import base64
import errno
import functools
import ipaddress
import os
import ssl as ssl_module
import urllib.parse
from typing import Any, Optional

import gevent.socket
import gevent.ssl
import h11

from .exceptions import InvalidHandshake, InvalidStatus
from .uri import WebSocketURI

__all__ = ["literal_family", "open_stream", "os_socket"]

_RECV_SIZE = 65536


def open_stream(
    uri: WebSocketURI,
    *,
    ssl: Optional[ssl_module.SSLContext] = None,
    server_hostname: Optional[str] = None,
    proxy: Optional[str] = None,
    sock: Optional[Any] = None,
) -> Any:
    """Return a connected (and, for ``wss``, TLS-wrapped) gevent socket.

    The caller bounds the whole of it with ``open_timeout`` (a ``gevent.Timeout``),
    so nothing here sets its own deadline. ``sock`` lets a caller bring a
    connected socket (a Unix socket, a test double); ``proxy`` is an ``http://``
    proxy reached with ``CONNECT``.
    """
    if sock is None:
        if proxy is not None:
            sock = _connect_via_proxy(proxy, uri.host, uri.port)
        else:
            sock = _connect_tcp(uri.host, uri.port)
    sock.setsockopt(gevent.socket.IPPROTO_TCP, gevent.socket.TCP_NODELAY, 1)
    if uri.secure or ssl is not None:
        if not uri.secure:
            raise ValueError("an ssl context was given for a ws:// URI; use wss://")
        context = ssl if ssl is not None else ssl_module.create_default_context()
        hostname = server_hostname if server_hostname is not None else uri.host
        try:
            sock = gevent.ssl.SSLSocket(sock=sock, server_hostname=hostname, _context=context)
        except BaseException:
            sock.close()
            raise
    return sock


def os_socket(sock: Any) -> Optional[Any]:
    """The non-blocking OS socket under a plain gevent TCP socket; ``None`` for anything
    else (TLS, a caller's own socket type).

    The connection's hot path calls ``send``/``recv`` on it directly: a write that
    takes all its bytes at once (almost every small frame) then needs neither gevent's
    Python-level wrapper nor the connection's write lock. Whatever would block still
    goes through gevent, so nothing ever blocks the loop.
    """
    if type(sock) is not gevent.socket.socket:
        return None
    inner = getattr(sock, "_sock", None)
    if inner is None or inner.gettimeout() != 0.0:  # pragma: no cover - other gevent
        return None
    return inner


def _connect_tcp(host: str, port: int) -> Any:
    """Connect over TCP; an IP literal skips name resolution.

    gevent's default resolver runs ``getaddrinfo`` in its thread pool, a thread
    handoff per connection that an address needs no answer from.
    """
    family = literal_family(host)
    if family is None:
        return gevent.socket.create_connection((host, port))
    sock = gevent.socket.socket(family, gevent.socket.SOCK_STREAM)
    try:
        _connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return sock


_IN_PROGRESS = (errno.EINPROGRESS, errno.EALREADY, errno.EWOULDBLOCK)


def _connect(sock: Any, address: tuple[str, int]) -> None:
    """Connect ``sock``, waiting in the hub only if the connection is not already made.

    gevent's ``connect()`` goes through the hub once whenever the non-blocking
    ``connect()`` answers "in progress", which it does even on loopback, where
    the handshake has completed by the time the call returns: one more
    ``connect()`` tells (``EISCONN``: done), saving a trip through the event loop.
    Still in progress: gevent's ``connect()`` waits for it (and reports its error).
    """
    os_sock = os_socket(sock)
    if os_sock is None:  # pragma: no cover - another gevent
        sock.connect(address)
        return
    err = os_sock.connect_ex(address)
    if err in _IN_PROGRESS:
        err = os_sock.connect_ex(address)
        if err == errno.EISCONN:
            return
    if err in _IN_PROGRESS:
        sock.connect(address)
    elif err:
        raise OSError(err, os.strerror(err))


@functools.lru_cache(maxsize=1024)
def literal_family(host: str) -> Optional[int]:
    """``AF_INET``/``AF_INET6`` for an IP literal, ``None`` for a name (or a scoped IPv6
    address, whose scope getaddrinfo fills in). Cached: parsing one costs microseconds
    and a process connects to the same few hosts over and over."""
    if "%" in host:
        return None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    return int(gevent.socket.AF_INET6 if ip.version == 6 else gevent.socket.AF_INET)


def _connect_via_proxy(proxy: str, host: str, port: int) -> Any:
    """Open a tunnel through an HTTP proxy with ``CONNECT host:port`` (RFC 9110 §9.3.6)."""
    parsed = urllib.parse.urlsplit(proxy)
    if parsed.scheme != "http" or not parsed.hostname:
        raise ValueError(f"unsupported proxy {proxy!r}: only http:// proxies are supported")
    sock = gevent.socket.create_connection((parsed.hostname, parsed.port or 8080))
    try:
        target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        headers = [("Host", target)]
        if parsed.username is not None:
            creds = f"{urllib.parse.unquote(parsed.username)}:" \
                    f"{urllib.parse.unquote(parsed.password or '')}"
            headers.append(("Proxy-Authorization",
                            "Basic " + base64.b64encode(creds.encode()).decode()))
        conn = h11.Connection(h11.CLIENT)
        request = h11.Request(method="CONNECT", target=target, headers=headers)
        sock.sendall(conn.send(request) + conn.send(h11.EndOfMessage()))
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = sock.recv(_RECV_SIZE)
                if not data:
                    raise InvalidHandshake("proxy closed the connection during CONNECT")
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Response):
                if not 200 <= event.status_code < 300:
                    raise InvalidStatus(event.status_code, event.reason.decode("latin-1"))
                if conn.trailing_data[0]:
                    raise InvalidHandshake("proxy sent data after its CONNECT response")
                return sock
    except BaseException:
        sock.close()
        raise
