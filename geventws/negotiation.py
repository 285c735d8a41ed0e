"""Per-connection negotiation of extensions and subprotocols.

The connection layer asks a :class:`Negotiation` what to offer and hands it the
server's answer; the negotiation turns the answer into extension objects for the
frame engine. This is the seam the plugin layer fills: the core never names an
extension.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Optional

from .exceptions import NegotiationError
from .extensions.base import Extension
from .handshake import HandshakeResult
from .uri import WebSocketURI

__all__ = ["Negotiation", "start_negotiation"]


class Negotiation:
    """What one connection offers, and how it accepts the server's selection."""

    def __init__(self, uri: WebSocketURI, subprotocols: Sequence[str]) -> None:
        self.uri = uri
        self.subprotocols = list(subprotocols)
        self.extensions_offer = ""

    def request_headers(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Headers to send with the upgrade request (plugins may add some)."""
        return headers

    def accept(self, result: HandshakeResult) -> list[Extension]:
        """Check the server's selection and build the negotiated extensions."""
        if result.extensions_header:
            raise NegotiationError(f"unexpected extensions: {result.extensions_header}")
        return []

    def opened(self, connection: Any) -> None:
        """The connection is open."""

    def observe_sent(self, chunks: Sequence[bytes]) -> None:
        """Bytes about to be written (for tracing plugins)."""

    def observe_received(self, data: bytes) -> None:
        """Bytes just read (for tracing plugins)."""


def start_negotiation(
    uri: WebSocketURI,
    *,
    subprotocols: Sequence[str],
    compression: Optional[str],
    max_size: Optional[int],
    plugins: Any,
    disable_plugins: Sequence[str],
    plugin_options: Mapping[str, Any],
) -> Negotiation:
    """Create the negotiation for one connection (no plugins yet: offers nothing)."""
    return Negotiation(uri, subprotocols)
