"""The opening handshake (RFC 6455 §4), sans-IO, with h11 speaking the HTTP/1.1.

:class:`ClientHandshake` writes the upgrade request and reads the answer;
:func:`accept_key` is the §4.2.2 digest both ends compute. What arrives after the
``101`` in the same read (a server may send its first frame at once) is kept in
:attr:`ClientHandshake.trailing_data` for the frame engine, never dropped.

Extension and subprotocol *negotiation* is delegated: the handshake offers what
it is given, and hands the server's selection to the callbacks that created the
offers (the plugin layer). It checks only what RFC 6455 itself fixes.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
from collections.abc import Sequence
from typing import Optional

import h11

from .exceptions import InvalidHandshake, InvalidHeader, InvalidStatus, NegotiationError

__all__ = ["GUID", "ClientHandshake", "HandshakeResult", "accept_key", "parse_header_list"]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: Most of a non-101 response body kept for :class:`InvalidStatus`.
BODY_EXCERPT = 64 * 1024
#: Largest response head accepted (h11's own default is 16 KiB).
MAX_HEAD = 64 * 1024

# RFC 7230 §3.2: field-name = token; field-value = field-vchars separated by SP/HTAB,
# no leading or trailing whitespace (as h11 checks what it writes); request-target
# without spaces or controls. Header text is ASCII, as h11 encodes it.
_FIELD_NAME = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_FIELD_VALUE = re.compile(r"(?:[\x21-\x7e]+(?:[ \t]+[\x21-\x7e]+)*)?")
_TARGET = re.compile(r"[\x21-\x7e]+")

# h11 parses the response, and it only does that for a connection that has sent
# its request. The request we write ourselves (a fixed GET is a few lines of RFC
# 7230, and building it through h11 cost more than the rest of the handshake);
# h11 is told of an equivalent one: a GET that proposes an upgrade is all that
# shapes how it reads the answer (a 101 switches, other responses have bodies).
# Events are immutable, so one instance serves every connection.
_H11_REQUEST = h11.Request(method="GET", target="/", headers=[
    ("Host", "localhost"), ("Upgrade", "websocket"), ("Connection", "Upgrade")])
_H11_END = h11.EndOfMessage()


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def parse_header_list(values: Sequence[str]) -> list[str]:
    """Split comma-separated header values into stripped, non-empty items."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


class HandshakeResult:
    """What a successful handshake established."""

    def __init__(
        self,
        headers: list[tuple[str, str]],
        subprotocol: Optional[str],
        extensions_header: str,
        trailing_data: bytes,
    ) -> None:
        #: Response headers as ``(lower-case name, value)`` pairs.
        self.headers = headers
        self.subprotocol = subprotocol
        #: The server's ``Sec-WebSocket-Extensions`` value, joined, as the W3C ``extensions``.
        self.extensions_header = extensions_header
        self.trailing_data = trailing_data


class ClientHandshake:
    """Drive one client upgrade: :meth:`request_bytes`, then :meth:`receive_data` until done."""

    def __init__(
        self,
        host: str,
        resource: str,
        *,
        origin: Optional[str] = None,
        subprotocols: Sequence[str] = (),
        extensions_offer: str = "",
        additional_headers: Sequence[tuple[str, str]] = (),
        user_agent: Optional[str] = None,
        key: Optional[str] = None,
    ) -> None:
        self.key = key or base64.b64encode(os.urandom(16)).decode("ascii")
        self.subprotocols = list(subprotocols)
        self.extensions_offer = extensions_offer
        self._conn = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        headers: list[tuple[str, str]] = [
            ("Host", host),
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", self.key),
            ("Sec-WebSocket-Version", "13"),
        ]
        if origin is not None:
            headers.append(("Origin", origin))
        if self.subprotocols:
            headers.append(("Sec-WebSocket-Protocol", ", ".join(self.subprotocols)))
        if extensions_offer:
            headers.append(("Sec-WebSocket-Extensions", extensions_offer))
        reserved = {name.lower() for name, _ in headers}
        for name, value in additional_headers:
            if name.lower() in reserved and name.lower() not in ("origin",):
                raise ValueError(f"header {name!r} is set by the handshake itself")
            headers.append((name, value))
        if user_agent is not None and not any(n.lower() == "user-agent" for n, _ in headers):
            headers.append(("User-Agent", user_agent))
        self.request_headers = headers
        if key is not None and not _FIELD_VALUE.fullmatch(key):
            raise ValueError(f"illegal Sec-WebSocket-Key {key!r}")
        # The key (index 3) is the only line that changes from one connection to the
        # next: the lines around it are checked and encoded once per distinct set.
        before, after = _request_parts(resource, tuple(headers[:3]), tuple(headers[4:]))
        self._request = b"%sSec-WebSocket-Key: %s\r\n%s" % (before, self.key.encode("ascii"),
                                                               after)
        self._response: Optional[h11.Response] = None
        self._body = bytearray()
        self.result: Optional[HandshakeResult] = None

    def request_bytes(self) -> bytes:
        """The upgrade request, to write once."""
        conn = self._conn
        conn.send(_H11_REQUEST)  # h11's state: request sent, ready to read the answer
        conn.send(_H11_END)
        return self._request

    def receive_data(self, data: bytes) -> Optional[HandshakeResult]:
        """Feed response bytes (``b""`` for EOF); return the result once the 101 is in.

        Raises :class:`InvalidStatus` for another status (after reading up to
        :data:`BODY_EXCERPT` bytes of its body or until EOF), :class:`InvalidHeader`
        or :class:`NegotiationError` for a bad 101, :class:`InvalidHandshake` for
        malformed HTTP or an early EOF.
        """
        try:
            self._conn.receive_data(data)
            while True:
                event = self._conn.next_event()
                if event is h11.NEED_DATA:
                    if data == b"" and self._response is None:
                        raise InvalidHandshake("connection closed during the opening handshake")
                    return None
                if isinstance(event, h11.InformationalResponse):
                    if event.status_code == 101:
                        self.result = self._accept(event)
                        return self.result
                    continue  # 1xx other than 101: keep reading
                if isinstance(event, h11.Response):
                    self._response = event
                    continue
                if isinstance(event, h11.Data):
                    room = BODY_EXCERPT - len(self._body)
                    self._body += event.data[:room]
                    if len(self._body) >= BODY_EXCERPT:
                        self._reject()
                    continue
                if isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    self._reject()
                if event is h11.PAUSED:  # pragma: no cover - not reached for a client
                    return None
        except h11.RemoteProtocolError as exc:
            if self._response is not None:  # a body cut short: report the status anyway
                self._reject()
            raise InvalidHandshake(f"malformed HTTP response: {exc}") from exc

    def _reject(self) -> None:
        response = self._response
        assert response is not None
        raise InvalidStatus(
            response.status_code,
            response.reason.decode("latin-1"),
            _str_headers(response.headers),
            bytes(self._body),
        )

    def _accept(self, response: h11.InformationalResponse) -> HandshakeResult:
        headers = _str_headers(response.headers)
        found: dict[str, list[str]] = {}
        for name, value in headers:
            if name in _CHECKED:
                found.setdefault(name, []).append(value)
        get = found.get

        upgrade = parse_header_list(get("upgrade", ()))
        if [u.lower() for u in upgrade] != ["websocket"]:
            raise InvalidHeader("Upgrade", ", ".join(upgrade) if upgrade else None)
        connection = parse_header_list(get("connection", ()))
        if "upgrade" not in (c.lower() for c in connection):
            raise InvalidHeader("Connection", ", ".join(connection) if connection else None)
        accept = get("sec-websocket-accept", [])
        if len(accept) != 1:
            raise InvalidHeader("Sec-WebSocket-Accept", ", ".join(accept) if accept else None)
        if accept[0].strip() != accept_key(self.key):
            raise InvalidHeader("Sec-WebSocket-Accept", accept[0], "does not match the key")
        subprotocol: Optional[str] = None
        if "sec-websocket-protocol" in found:
            protocols = parse_header_list(found["sec-websocket-protocol"])
            if len(protocols) > 1:
                raise NegotiationError(f"server selected several subprotocols: {protocols}")
            if protocols and protocols[0] not in self.subprotocols:
                raise NegotiationError(f"server selected a subprotocol we did not offer: "
                                       f"{protocols[0]!r}")
            subprotocol = protocols[0] if protocols else None
        extensions = ""
        if "sec-websocket-extensions" in found:
            extensions = ", ".join(v.strip() for v in found["sec-websocket-extensions"]
                                   if v.strip())
        if extensions and not self.extensions_offer:
            raise NegotiationError(f"server selected extensions we did not offer: {extensions}")
        return HandshakeResult(headers, subprotocol, extensions, bytes(self._conn.trailing_data[0]))


_CHECKED = frozenset(("upgrade", "connection", "sec-websocket-accept", "sec-websocket-protocol",
                      "sec-websocket-extensions"))


def _str_headers(headers: h11._headers.Headers) -> list[tuple[str, str]]:
    # raw_items() is one list; iterating Headers goes through Sequence.__getitem__ per item.
    return [(n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in headers.raw_items()]


@functools.lru_cache(maxsize=256)
def _request_parts(resource: str, before: tuple[tuple[str, str], ...],
                   after: tuple[tuple[str, str], ...]) -> tuple[bytes, bytes]:
    """The request's bytes before and after the ``Sec-WebSocket-Key`` line.

    Cached: a process opens connections with the same few header sets over and
    over, and checking each line costs more than the rest of building the request.
    """
    marker = ("Sec-WebSocket-Key", "k")
    whole = _serialize_request(resource, (*before, marker, *after))
    head, _, tail = whole.partition(b"\r\nSec-WebSocket-Key: k\r\n")
    return head + b"\r\n", tail


def _serialize_request(resource: str, headers: Sequence[tuple[str, str]]) -> bytes:
    """``GET resource HTTP/1.1`` and ``headers`` in order (Host first), as RFC 7230 §3 writes them.

    Raises ``ValueError`` for a name, value or target HTTP does not allow (CR, LF,
    other controls, non-ASCII, a value with leading or trailing whitespace), so no
    header can smuggle in another line.
    """
    if not _TARGET.fullmatch(resource):
        raise ValueError(f"illegal request target {resource!r}")
    lines = [f"GET {resource} HTTP/1.1"]
    for name, value in headers:
        if not _FIELD_NAME.fullmatch(name):
            raise ValueError(f"illegal header name {name!r}")
        if not _FIELD_VALUE.fullmatch(value):
            raise ValueError(f"illegal value for header {name!r}: {value!r}")
        lowered = name.lower()
        if lowered == "transfer-encoding" or (lowered == "content-length" and value != "0"):
            raise ValueError(f"header {name!r}: the upgrade request has no body")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("ascii")
