"""geventws: a gevent-cooperative WebSocket client.

Two faces over one engine: :func:`connect` returns a blocking
:class:`ClientConnection`; :class:`WebSocket` is the WHATWG WebSocket object.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .connection import ClientConnection, connect
from .dom import CloseEvent, DOMException, Event, EventTarget, MessageEvent
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
from .websocket import WebSocket

__all__ = [
    "ClientConnection",
    "Close",
    "CloseEvent",
    "ConnectionClosed",
    "ConnectionClosedError",
    "ConnectionClosedOK",
    "DOMException",
    "Event",
    "EventTarget",
    "InvalidHandshake",
    "InvalidHeader",
    "InvalidStatus",
    "InvalidURI",
    "MessageEvent",
    "NegotiationError",
    "Opcode",
    "OpenTimeout",
    "PayloadTooBig",
    "Protocol",
    "ProtocolError",
    "Role",
    "State",
    "WebSocket",
    "WebSocketException",
    "__version__",
    "connect",
    "hookimpl",
    "hookspec",
]
