"""Exceptions of the blocking API, named as in ``websockets`` so that habits carry over.

Every failure a caller can meet is one of these (or a plain ``TimeoutError``
subclass for timeouts), so ``except geventws.WebSocketException`` catches them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from .frames import Close

__all__ = [
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "InvalidHandshake",
    "InvalidHeader",
    "InvalidStatus",
    "InvalidURI",
    "NegotiationError",
    "OpenTimeout",
    "PayloadTooBig",
    "ProtocolError",
    "WebSocketException",
]


class WebSocketException(Exception):
    """Base class of every exception geventws raises on purpose."""


class ConnectionClosed(WebSocketException):
    """The connection is closed; ``rcvd``/``sent`` hold the close frames, if any.

    ``code`` and ``reason`` summarise them the way RFC 6455 §7.1.5 defines the
    *WebSocket Connection Close Code*: the code received, 1005 when the close frame
    carried none, 1006 when no close frame was received at all.
    """

    def __init__(
        self,
        rcvd: Optional[Close],
        sent: Optional[Close],
        rcvd_then_sent: Optional[bool] = None,
    ) -> None:
        self.rcvd = rcvd
        self.sent = sent
        self.rcvd_then_sent = rcvd_then_sent
        super().__init__(str(self))

    @property
    def code(self) -> int:
        return 1006 if self.rcvd is None else self.rcvd.code

    @property
    def reason(self) -> str:
        return "" if self.rcvd is None else self.rcvd.reason

    def __str__(self) -> str:
        if self.rcvd is None and self.sent is None:
            return "no close frame received or sent"
        if self.rcvd is None:
            return f"sent {self.sent}; no close frame received"
        if self.sent is None:
            return f"received {self.rcvd}; no close frame sent"
        if self.rcvd_then_sent:
            return f"received {self.rcvd}; then sent {self.sent}"
        return f"sent {self.sent}; then received {self.rcvd}"


class ConnectionClosedOK(ConnectionClosed):
    """Closed normally: both sides exchanged close frames with code 1000 or 1001 (or none)."""


class ConnectionClosedError(ConnectionClosed):
    """Closed abnormally: a protocol error, an unclean TCP end or an error close code."""


class InvalidURI(WebSocketException):
    """The URI is not a valid ``ws://`` or ``wss://`` URI."""

    def __init__(self, uri: str, msg: str) -> None:
        self.uri = uri
        self.msg = msg
        super().__init__(f"{uri!r} isn't a valid WebSocket URI: {msg}")


class InvalidHandshake(WebSocketException):
    """The opening handshake failed."""


class InvalidStatus(InvalidHandshake):
    """The server answered the upgrade request with a status other than 101.

    ``status_code``, ``reason``, ``headers`` (a list of ``(name, value)`` str pairs)
    and ``body`` (at most the first 64 KiB of the response body) describe the answer.
    """

    def __init__(
        self,
        status_code: int,
        reason: str = "",
        headers: Optional[list[tuple[str, str]]] = None,
        body: bytes = b"",
    ) -> None:
        self.status_code = status_code
        self.reason = reason
        self.headers = headers or []
        self.body = body
        message = f"server rejected WebSocket connection: HTTP {status_code} {reason}"
        super().__init__(message.rstrip())


class InvalidHeader(InvalidHandshake):
    """A header of the 101 response is missing or wrong."""

    def __init__(self, name: str, value: Optional[str] = None, msg: str = "") -> None:
        self.name = name
        self.value = value
        detail = f"missing {name} header" if value is None else f"invalid {name} header: {value!r}"
        super().__init__(f"{detail}{': ' + msg if msg else ''}")


class NegotiationError(InvalidHandshake):
    """The server selected an extension or subprotocol we did not offer, or bad parameters."""


class OpenTimeout(InvalidHandshake, TimeoutError):
    """``open_timeout`` ran out during DNS, TCP, TLS or the HTTP upgrade."""


class ProtocolError(WebSocketException):
    """The peer broke RFC 6455 (raised by the sans-IO engine; the connection fails with 1002)."""


class PayloadTooBig(ProtocolError):
    """A message exceeded ``max_size`` (the connection fails with 1009)."""
