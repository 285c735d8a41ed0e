"""RFC 6455 §4.1: one connection at a time in CONNECTING to each remote host.

"If the client already has a WebSocket connection to the remote host (IP address)
identified by /host/ and port /port/ pair, even if the remote host is known by
another name, the client MUST wait until that connection has been established or
for that connection to have failed." It keeps a client from flooding a server with
handshakes; browsers honour it (WPT ``constructor/014``), so the W3C object does.
The blocking :func:`~geventws.connect` leaves it off by default, as websockets,
websocket-client and aiohttp do: an application that opens a thousand connections
to one service would otherwise open them one handshake at a time.
``one_connecting_per_host=True`` turns it on.

The host is the first address the name resolves to (the one a connection tries
first; a name costs one more lookup, as the connection resolves it again). A
host that does not resolve is keyed by its name; the connection then fails on
its own. Through a proxy, which resolves names itself, each name counts
as a host of its own (the RFC's rule for that case).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gevent.lock
import gevent.socket

from .transport import literal_family

__all__ = ["host_key", "one_connecting"]

#: (address or name, port) -> [the gate, how many connections hold or wait for it]
_gates: dict[tuple[str, int], list[Any]] = {}


def host_key(host: str, port: int, *, resolve: bool = True) -> tuple[str, int]:
    """The remote host as RFC 6455 §4.1 counts it: its IP address and the port."""
    if literal_family(host) is not None:
        return host.lower(), port
    if resolve:
        try:
            infos = gevent.socket.getaddrinfo(host, port, 0, gevent.socket.SOCK_STREAM)
        except OSError:
            infos = []
        if infos:
            return str(infos[0][4][0]), port
    return host.lower(), port


@contextmanager
def one_connecting(key: tuple[str, int]) -> Iterator[None]:
    """Wait until no other connection to ``key`` is CONNECTING, then be the one that is.

    Leaving the block (open, failed or cancelled) lets the next one in, in the
    order they came.
    """
    gate = _gates.get(key)
    if gate is None:
        gate = _gates[key] = [gevent.lock.Semaphore(1), 0]
    gate[1] += 1
    try:
        with gate[0]:
            yield
    finally:
        gate[1] -= 1
        if not gate[1]:
            del _gates[key]
