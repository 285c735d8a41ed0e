"""The extension seam of the frame engine (RFC 6455 §9).

An :class:`Extension` is what a negotiated ``Sec-WebSocket-Extensions`` entry
becomes once the handshake is done: an object that rewrites frames on their way
out (``encode``) and on their way in (``decode``). The engine applies the
negotiated extensions in the order the server listed them when sending, and in
reverse order when receiving. An extension that uses a reserved bit (RSV1–3)
clears it in ``decode``; any bit still set after every decoder has run fails the
connection with 1002, so an extension claims a bit simply by handling it.

Plugins create these objects; the engine never knows which ones exist.
"""

from __future__ import annotations

from typing import Optional, Protocol, runtime_checkable

from ..frames import Frame

__all__ = ["Extension"]


@runtime_checkable
class Extension(Protocol):
    """What the frame engine needs of a negotiated extension."""

    #: The extension token, e.g. ``"permessage-deflate"``.
    name: str

    def decode(self, frame: Frame, *, max_size: Optional[int] = None) -> Frame:
        """Turn a received frame back into what the layer above expects.

        ``max_size`` is the most payload the engine will accept for the message
        (``None``: no limit); an extension that expands data must stop before
        producing more and raise :class:`geventws.PayloadTooBig`. Malformed input
        raises :class:`geventws.ProtocolError`.
        """
        ...

    def encode(self, frame: Frame) -> Frame:
        """Transform an outgoing frame (control frames included: leave them be)."""
        ...
