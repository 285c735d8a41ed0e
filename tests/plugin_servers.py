"""Test servers for the plugin tests: the embedded engine in its server role, with extensions.

``geventws.server`` negotiates no extension, so these tests bring their own tiny
server whose handshake answer is a function of the request (``respond``): it
picks the response headers and the server-side extension objects, which lets a
test play any server, including a malformed or malicious one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any, Callable, Optional

import gevent
import gevent.server
import h11

from geventws.events import Close
from geventws.extensions.base import Extension
from geventws.extensions.permessage_deflate import server_accept
from geventws.handshake import accept_key
from geventws.headers import parse_extension_header
from geventws.protocol import Protocol, Role, State
from geventws.server import read_request

Headers = list[tuple[str, str]]
Respond = Callable[[Headers], tuple[Headers, Sequence[Extension]]]
Handler = Callable[[Any, Protocol], None]


def no_extensions(request: Headers) -> tuple[Headers, Sequence[Extension]]:
    return [], []


def deflate(**options: Any) -> Respond:
    """Answer a permessage-deflate offer the way a server configured with ``options`` would."""

    def respond(request: Headers) -> tuple[Headers, Sequence[Extension]]:
        value = ", ".join(v for n, v in request if n == "sec-websocket-extensions")
        offers = [params for name, params in parse_extension_header(value)
                  if name == "permessage-deflate"]
        accepted = server_accept(offers, **options)
        if accepted is None:
            return [], []
        params, ext = accepted
        header = "; ".join(["permessage-deflate"] + [k if v is None else f"{k}={v}"
                                                     for k, v in params])
        return [("Sec-WebSocket-Extensions", header)], [ext]

    return respond


def fixed(header: str, extensions: Sequence[Extension] = ()) -> Respond:
    """Always answer with this ``Sec-WebSocket-Extensions`` value (right or wrong)."""
    return lambda request: ([("Sec-WebSocket-Extensions", header)], list(extensions))


def flush(sock: Any, protocol: Protocol) -> None:
    for chunk in protocol.data_to_send():
        sock.sendall(chunk)


def echo(sock: Any, protocol: Protocol) -> None:
    """Echo every message until the closing handshake is done."""
    while protocol.state is State.OPEN or protocol.close_rcvd is None:
        for event in protocol.events_received():
            if isinstance(event, str) and protocol.state is State.OPEN:
                protocol.send_text(event)
            elif isinstance(event, bytes) and protocol.state is State.OPEN:
                protocol.send_binary(event)
        flush(sock, protocol)
        if protocol.close_rcvd is not None or protocol.state is State.CLOSED:
            break
        data = sock.recv(65536)
        if not data:
            protocol.receive_eof()
            break
        protocol.receive_data(data)
    flush(sock, protocol)


def read_close(sock: Any, timeout: float = 10) -> Optional[Close]:
    """Read (and discard data) until the client's close frame; return it."""
    protocol = Protocol(Role.SERVER, max_size=None)
    with gevent.Timeout(timeout, False):
        while True:
            data = sock.recv(65536)
            if not data:
                return protocol.close_rcvd
            protocol.receive_data(data)
            for event in protocol.events_received():
                if isinstance(event, Close):
                    flush(sock, protocol)
                    return event
    return protocol.close_rcvd


class ExtensionServer:
    """A one-purpose server: handshake by ``respond``, then ``handler(sock, protocol)``."""

    def __init__(self, respond: Respond = no_extensions, handler: Handler = echo,
                 subprotocol: Optional[str] = None) -> None:
        self.respond = respond
        self.handler = handler
        self.subprotocol = subprotocol
        self.requests: list[Headers] = []
        self.errors: list[BaseException] = []
        self._server = gevent.server.StreamServer(("127.0.0.1", 0), self._handle)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._server.server_port}/"

    def _handle(self, sock: Any, address: Any) -> None:
        try:
            h = h11.Connection(h11.SERVER)
            request = read_request(sock, h)
            if request is None:
                return
            headers = [(n.decode("latin-1").lower(), v.decode("latin-1"))
                       for n, v in request.headers]
            self.requests.append(headers)
            key = next(v for n, v in headers if n == "sec-websocket-key")
            extra, extensions = self.respond(headers)
            response = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                        ("Sec-WebSocket-Accept", accept_key(key)), *extra]
            if self.subprotocol is not None:
                response.append(("Sec-WebSocket-Protocol", self.subprotocol))
            sock.sendall(h.send(h11.InformationalResponse(status_code=101, headers=response)))
            protocol = Protocol(Role.SERVER, max_size=None, extensions=extensions)
            if h.trailing_data[0]:
                protocol.receive_data(h.trailing_data[0])
            self.handler(sock, protocol)
        except Exception as exc:  # recorded for the test to see
            self.errors.append(exc)
        finally:
            sock.close()


@contextlib.contextmanager
def serving(respond: Respond = no_extensions, handler: Handler = echo,
            subprotocol: Optional[str] = None) -> Iterator[ExtensionServer]:
    server = ExtensionServer(respond, handler, subprotocol)
    server._server.start()
    try:
        yield server
    finally:
        server._server.stop(timeout=1)


# -- entry points without pip ---------------------------------------------------


def write_dist(root: Any, dist: str, entry_points: dict[str, str]) -> None:
    """Write ``dist``'s dist-info under ``root`` declaring ``geventws`` entry points.

    ``importlib.metadata`` finds it once ``root`` is on ``sys.path``: the same
    lookup pip-installed plugins go through.
    """
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[geventws]\n{lines}")


@contextlib.contextmanager
def on_sys_path(root: Any) -> Iterator[None]:
    """Put ``root`` on ``sys.path`` and reload the plugin manager, both undone after."""
    import importlib
    import sys

    from geventws.plugins import reset_plugin_manager

    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    reset_plugin_manager()
    try:
        yield
    finally:
        sys.path.remove(str(root))
        importlib.invalidate_caches()
        reset_plugin_manager()


def deflate_entry_point_installed() -> bool:
    import importlib.metadata

    return any(ep.name == "permessage-deflate" and ep.group == "geventws"
               for dist in importlib.metadata.distributions() for ep in dist.entry_points)


@contextlib.contextmanager
def deflate_registered(tmp_path: Any) -> Iterator[None]:
    """Make sure the package's own permessage-deflate entry point is visible.

    An installed geventws (``pip install -e .``, as CI does) declares it in its
    metadata; a checkout imported from the source tree without that install has
    no metadata, so the same declaration is written to a temporary dist-info.
    """
    if deflate_entry_point_installed():
        from geventws.plugins import reset_plugin_manager

        reset_plugin_manager()
        yield
        return
    write_dist(tmp_path, "geventws-checkout",
               {"permessage-deflate": "geventws.extensions.permessage_deflate"})
    with on_sys_path(tmp_path):
        yield
