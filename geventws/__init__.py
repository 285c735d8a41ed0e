"""geventws: a gevent-cooperative WebSocket client.

Two faces over one engine: :func:`connect` returns a blocking
:class:`ClientConnection`; :class:`WebSocket` is the WHATWG WebSocket object.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .connection import ClientConnection, connect
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidHeader,
    InvalidStatus,
    InvalidURI,
    NegotiationError,
    OpenTimeout,
    PayloadTooBig,
    ProtocolError,
    WebSocketException,
)
from .frames import Close, Opcode
from .hookspecs import hookimpl, hookspec
from .protocol import Protocol, Role, State

__all__ = [
    "ClientConnection",
    "Close",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "InvalidHandshake",
    "InvalidHeader",
    "InvalidStatus",
    "InvalidURI",
    "NegotiationError",
    "Opcode",
    "OpenTimeout",
    "PayloadTooBig",
    "Protocol",
    "ProtocolError",
    "Role",
    "State",
    "WebSocketException",
    "__version__",
    "connect",
    "hookimpl",
    "hookspec",
]
