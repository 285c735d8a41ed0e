"""Every hook a geventws plugin can implement: the plugin author's reference.

A plugin is a module or object with functions named after these hooks and marked
with :data:`geventws.hookimpl`. Publish it with an entry point in the ``geventws``
group and installing the distribution is all a user does to enable it::

    # setup.cfg of your distribution
    [options.entry_points]
    geventws =
        my-extension = my_package.plugin

The entry point's name (``my-extension``) is the plugin's name: users switch it
off with ``connect(..., disable_plugins=["my-extension"])`` and pass it options
with ``connect(..., plugin_options={"my-extension": {...}})``, which the plugin
reads with ``ctx.options("my-extension")``. ``connect(..., plugins=[obj])``
adds plugin objects to one connection only.

Every hook receives ``ctx``, the :class:`~geventws.negotiation.ConnectionContext`
of the connection being made; a hook only declares the arguments it uses (pluggy
passes them by name). Keep per-connection state in ``ctx.data``, never in module
globals: one process may open thousands of connections at once, each in its own
greenlet. Opening hooks run in the greenlet that calls :func:`geventws.connect`
and may block briefly (:func:`geventws_connection_opened` may talk to the server).
Traffic hooks (frames, bytes) run wherever the connection reads or writes: a
greenlet in ``recv()``/``send()``, or the gevent hub itself when a message arrives
while nobody is receiving, so they must never block.

Hooks are called in LIFO registration order; ``tryfirst``/``trylast`` on
:data:`hookimpl` change that, as in pytest. "firstresult" hooks stop at the first
plugin that returns something other than ``None``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional

import pluggy

if TYPE_CHECKING:
    from .extensions.base import Extension
    from .frames import Frame
    from .headers import ExtensionHeader, ExtensionParam
    from .negotiation import ConnectionContext, MessageCodec

__all__ = ["hookimpl", "hookspec"]

#: Marks a function as a hook specification (used in this module only).
hookspec = pluggy.HookspecMarker("geventws")
#: Marks a plugin function as the implementation of a geventws hook.
hookimpl = pluggy.HookimplMarker("geventws")


# -- the opening handshake ------------------------------------------------------


@hookspec
def geventws_request_headers(ctx: ConnectionContext) -> Optional[Sequence[tuple[str, str]]]:
    """Return extra ``(name, value)`` headers for the upgrade request, or ``None``.

    Use it for credentials (``Authorization``), cookies, tracing ids. The headers
    the user passed are in ``ctx.request_headers``; headers the handshake sets
    itself (``Sec-WebSocket-*``, ``Upgrade``...) cannot be overridden here.
    """


@hookspec
def geventws_offer_extensions(
    ctx: ConnectionContext,
) -> Optional[Sequence[ExtensionHeader | tuple[str, Sequence[ExtensionParam]]]]:
    """Return the extensions to offer in ``Sec-WebSocket-Extensions``, or ``None``.

    Each offer is an :class:`~geventws.headers.ExtensionHeader` (or a ``(token,
    params)`` pair) where ``params`` is a list of ``(name, value)`` and ``value``
    is ``None`` for a bare parameter: ``("permessage-deflate",
    [("client_max_window_bits", None)])``. Offer the same token more than once to
    give the server alternatives, preferred first. Offers of all plugins are sent
    in the order the hooks return them.

    Check ``ctx.compression`` or ``ctx.options(name)`` if your extension should
    only be offered on request. Whatever you offer, implement
    :func:`geventws_accept_extension` for it.
    """


@hookspec(firstresult=True)
def geventws_accept_extension(
    ctx: ConnectionContext,
    name: str,
    params: list[ExtensionParam],
    offers: list[list[ExtensionParam]],
) -> Optional[Extension]:
    """Turn the server's acceptance of extension ``name`` into an extension object.

    Called once per element of the server's ``Sec-WebSocket-Extensions``, in the
    server's order, only for tokens some plugin offered. ``params`` are the
    parameters the server answered with, ``offers`` the parameter lists offered
    for this token (each plugin's, in order). Return ``None`` when ``name`` is not
    yours.

    Return an object with the :class:`~geventws.extensions.base.Extension`
    interface: ``encode(frame)`` transforms outgoing frames, ``decode(frame,
    max_size=)`` incoming ones, and an extension that uses a reserved bit clears
    it in ``decode``. If the parameters are malformed, duplicated, out of range
    or not what you offered, raise :class:`geventws.NegotiationError` with a
    clear message: the handshake then fails and the connection is not opened.
    """


@hookspec
def geventws_offer_subprotocols(ctx: ConnectionContext) -> Optional[Sequence[str]]:
    """Return subprotocols to offer in ``Sec-WebSocket-Protocol`` (after the user's), or ``None``.

    A subprotocol changes what messages mean, so a plugin should offer one only
    when the user asked for it, e.g. when ``ctx.options(name)`` is given. The
    user may also list your subprotocol in ``connect(subprotocols=[...])``
    themselves; handle it in :func:`geventws_message_codec` and
    :func:`geventws_connection_opened` either way.
    """


@hookspec
def geventws_handshake_response(ctx: ConnectionContext, headers: list[tuple[str, str]]) -> None:
    """See the headers of the server's ``101`` response (lower-case names).

    Called before extensions are accepted; ``ctx.subprotocol`` is already set.
    Use it to store cookies or server metadata; raise
    :class:`geventws.InvalidHandshake` (or :class:`geventws.NegotiationError`)
    to refuse the connection.
    """


# -- the open connection --------------------------------------------------------


@hookspec(firstresult=True)
def geventws_message_codec(ctx: ConnectionContext, subprotocol: str) -> Optional[MessageCodec]:
    """Return the message codec for the negotiated ``subprotocol``, or ``None``.

    A codec has ``encode(obj) -> str | bytes`` and ``decode(str | bytes) -> obj``
    (see :class:`~geventws.negotiation.MessageCodec`). When one is set, every
    ``connection.send(obj)`` goes through ``encode`` and every ``recv()`` (and
    iteration) returns ``decode(message)``. Only called when the server
    selected a subprotocol.
    """


@hookspec
def geventws_connection_opened(ctx: ConnectionContext, connection: Any) -> None:
    """The connection is open; ``connect()`` returns it once every plugin returned.

    ``connection`` is the :class:`~geventws.ClientConnection` (its codec already
    set). This is where a subprotocol runs its opening exchange (send an init
    message, wait for the server's acknowledgement with ``connection.recv(timeout=
    ...)``), or where an observer starts its clock. Raising here closes the
    connection (1002 for :class:`geventws.ProtocolError` and
    :class:`geventws.NegotiationError`, 1011 otherwise) and ``connect()`` raises
    the exception.
    """


@hookspec
def geventws_connection_closed(ctx: ConnectionContext, connection: Any) -> None:
    """The connection has ended; ``connection.close_code`` tells how.

    Called once, in a greenlet that saw the end (or a short-lived one), never in the hub.
    """


# -- traffic ------------------------------------------------------------------
#
# Implementing one of the frame hooks makes geventws route that connection's
# frames through the extension path (a little slower), so only observers that
# need frames should implement them. Exceptions raised by these four hooks are
# logged and otherwise ignored: an observer never breaks a connection.


@hookspec
def geventws_frame_sent(ctx: ConnectionContext, frame: Frame) -> None:
    """A frame is about to be written, as it goes on the wire (after every extension).

    ``frame.data`` is the unmasked payload; control frames are included.
    """


@hookspec
def geventws_frame_received(ctx: ConnectionContext, frame: Frame) -> None:
    """A frame arrived, as it came off the wire (before any extension decoded it).

    Called before the frame is validated, so it may be one that fails the
    connection.
    """


@hookspec
def geventws_bytes_sent(ctx: ConnectionContext, data: Sequence[bytes]) -> None:
    """Chunks of bytes about to be written to the socket (frames, after the handshake)."""


@hookspec
def geventws_bytes_received(ctx: ConnectionContext, data: bytes) -> None:
    """Bytes just read from the socket after the handshake (frames, possibly partial)."""
