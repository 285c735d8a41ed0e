"""Per-connection negotiation of extensions and subprotocols, driven by plugins.

The connection layer asks a :class:`Negotiation` what to offer and hands it the
server's answer; the negotiation asks the plugins (through the hooks of
:mod:`geventws.hookspecs`) and turns the answer into extension objects for the
frame engine. The core never names an extension: permessage-deflate arrives
through the same entry-point group as any third-party plugin.

The rule RFC 6455 §9.1 leaves to the client is enforced here, once for every
plugin: each extension in the server's response must be one we offered, listed
once, and accepted by the plugin that offered it; otherwise the handshake fails
with :class:`~geventws.NegotiationError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional, Protocol, Union, runtime_checkable

from .exceptions import InvalidHeader, NegotiationError, ProtocolError
from .extensions.base import Extension
from .frames import Frame
from .handshake import HandshakeResult
from .headers import ExtensionHeader, parse_extension_header, serialize_extension_header
from .plugins import HookRelay, get_plugin_manager
from .uri import WebSocketURI

__all__ = [
    "ConnectionContext",
    "MessageCodec",
    "Negotiation",
    "negotiated_extensions",
    "start_negotiation",
]

log = logging.getLogger("geventws.plugins")


@runtime_checkable
class MessageCodec(Protocol):
    """Turns application objects into WebSocket messages and back (for a subprotocol)."""

    def encode(self, message: Any) -> Union[str, bytes]:
        """The message to send for ``message``: ``str`` goes as text, ``bytes`` as binary."""
        ...

    def decode(self, message: Union[str, bytes]) -> Any:
        """The object a received message stands for."""
        ...


class ConnectionContext:
    """Everything a plugin may know about the connection being made (``ctx`` in hooks).

    Filled in as the connection progresses: options first, ``request_headers``
    once the request is built, ``response_headers``/``subprotocol``/``extensions``
    once the ``101`` arrived, ``connection`` once open.
    """

    def __init__(
        self,
        uri: WebSocketURI,
        *,
        subprotocols: Sequence[str] = (),
        compression: Optional[str] = "deflate",
        max_size: Optional[int] = 2**20,
        open_timeout: Optional[float] = 10,
        plugin_options: Optional[Mapping[str, Any]] = None,
    ) -> None:
        #: The parsed ``ws://``/``wss://`` URI (``.host``, ``.port``, ``.secure``...).
        self.uri = uri
        #: The subprotocols the user asked for (before plugins add theirs).
        self.subprotocols: list[str] = list(subprotocols)
        #: ``"deflate"`` (the default) or ``None``: whether compression is wanted.
        self.compression = compression
        #: The largest message the user accepts (``None``: no limit).
        self.max_size = max_size
        #: The user's ``open_timeout``: bound your opening exchange by it.
        self.open_timeout = open_timeout
        #: ``plugin_options`` as passed to ``connect()``: plugin name -> options.
        self.plugin_options: Mapping[str, Any] = plugin_options or {}
        #: The upgrade request's extra headers (the user's and the plugins').
        self.request_headers: list[tuple[str, str]] = []
        #: The ``101`` response's headers, lower-case names.
        self.response_headers: list[tuple[str, str]] = []
        #: The subprotocol the server selected, or ``None``.
        self.subprotocol: Optional[str] = None
        #: The negotiated extension objects, in the server's order.
        self.extensions: list[Extension] = []
        #: The :class:`~geventws.ClientConnection`, once open.
        self.connection: Any = None
        #: ``time.monotonic()`` when ``connect()`` began and when the connection opened.
        self.started_at = time.monotonic()
        self.opened_at: Optional[float] = None
        #: Free room for plugins' per-connection state; key it by your plugin's name.
        self.data: dict[str, Any] = {}

    def options(self, name: str) -> Mapping[str, Any]:
        """The options the user passed for plugin ``name`` (``{}`` when none)."""
        options = self.plugin_options.get(name)
        return {} if options is None else options

    def __repr__(self) -> str:
        return f"<ConnectionContext {self.uri.host}:{self.uri.port}{self.uri.resource_name}>"


class _FrameObserver:
    """Relays the engine's frame observations to the frame hooks.

    It is only installed when some plugin implements a frame hook; otherwise the
    engine keeps its fast path for connections without extensions.
    """

    def __init__(self, negotiation: Negotiation) -> None:
        self._negotiation = negotiation

    def frame_sent(self, frame: Frame) -> None:
        self._negotiation._observe("geventws_frame_sent", frame=frame)

    def frame_received(self, frame: Frame) -> None:
        self._negotiation._observe("geventws_frame_received", frame=frame)


class Negotiation:
    """What one connection offers, and how it accepts the server's selection."""

    def __init__(
        self,
        ctx: ConnectionContext,
        hooks: HookRelay,
    ) -> None:
        self.ctx = ctx
        self.hooks = hooks
        self._observers: dict[str, Callable[..., None]] = {}
        subprotocols = list(ctx.subprotocols)
        for result in hooks.call("geventws_offer_subprotocols", ctx=ctx):
            for name in result or ():
                if name not in subprotocols:
                    subprotocols.append(name)
        #: What ``Sec-WebSocket-Protocol`` offers, the user's first.
        self.subprotocols = subprotocols
        offers: list[ExtensionHeader] = []
        for result in hooks.call("geventws_offer_extensions", ctx=ctx):
            for name, params in result or ():
                offers.append(ExtensionHeader(name, list(params)))
        self.offers = offers
        #: The ``Sec-WebSocket-Extensions`` value we send ("" for none).
        self.extensions_offer = serialize_extension_header(offers)
        self._observe_frames = hooks.implemented("geventws_frame_sent") or \
            hooks.implemented("geventws_frame_received")
        #: Whether a plugin traces raw bytes (the connection then writes through its
        #: lock only: a hook may switch greenlets in the middle of a write).
        traces_sent = hooks.implemented("geventws_bytes_sent")
        traces_received = hooks.implemented("geventws_bytes_received")
        self.observes_bytes = traces_sent or traces_received
        if not traces_sent:
            self.observe_sent = _ignore  # type: ignore[method-assign,assignment]
        if not traces_received:
            self.observe_received = _ignore  # type: ignore[method-assign]

    def request_headers(self, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """Headers to send with the upgrade request: the user's, then the plugins'."""
        headers = list(headers)
        self.ctx.request_headers = headers
        for result in self.hooks.call("geventws_request_headers", ctx=self.ctx):
            for name, value in result or ():
                headers.append((str(name), str(value)))
        return headers

    def accept(self, result: HandshakeResult) -> list[Extension]:
        """Check the server's selection and build the negotiated extensions, in its order."""
        ctx = self.ctx
        ctx.response_headers = result.headers
        ctx.subprotocol = result.subprotocol
        self.hooks.call("geventws_handshake_response", ctx=ctx, headers=result.headers)
        try:
            selected = parse_extension_header(result.extensions_header)
        except InvalidHeader as exc:
            raise NegotiationError(str(exc)) from exc
        offered: dict[str, list[list[tuple[str, Optional[str]]]]] = {}
        for name, params in self.offers:
            offered.setdefault(name.lower(), []).append(params)
        extensions: list[Extension] = []
        seen: set[str] = set()
        for name, params in selected:
            key = name.lower()
            if key not in offered:
                raise NegotiationError(f"server selected an extension we did not offer: {name}")
            if key in seen:
                raise NegotiationError(f"server selected extension {name} more than once")
            seen.add(key)
            extension = self.hooks.call("geventws_accept_extension", ctx=ctx, name=name,
                                        params=params, offers=offered[key])
            if extension is None:
                raise NegotiationError(f"no plugin accepted the server's {name} extension")
            extensions.append(extension)
        ctx.extensions = list(extensions)
        return extensions

    def frame_observer(self) -> Optional[_FrameObserver]:
        """What the engine should report frames to (``None``: no plugin wants frames)."""
        return _FrameObserver(self) if self._observe_frames else None

    def opened(self, connection: Any) -> None:
        """The connection is open: set its codec, run the plugins' opening hooks.

        If a plugin raises, the connection is closed and the exception propagates
        out of ``connect()``.
        """
        ctx = self.ctx
        ctx.connection = connection
        ctx.opened_at = time.monotonic()
        try:
            if ctx.subprotocol is not None:
                codec = self.hooks.call("geventws_message_codec", ctx=ctx,
                                        subprotocol=ctx.subprotocol)
                if codec is not None:
                    connection.codec = codec
            if self.hooks.implemented("geventws_connection_closed"):
                connection.add_close_callback(self._closed)
            self.hooks.call("geventws_connection_opened", ctx=ctx, connection=connection)
        except BaseException as exc:
            code = 1002 if isinstance(exc, (ProtocolError, NegotiationError)) else 1011
            try:
                connection.close(code, "opening exchange failed")
            except Exception:  # already closed, or the socket died: the exception says why
                pass
            raise

    def _closed(self, connection: Any) -> None:
        self._observe("geventws_connection_closed", connection=connection)

    def _observe(self, hook: str, /, **kwargs: Any) -> None:
        observers = self._observers
        observe = observers.get(hook)
        if observe is None:
            observe = observers[hook] = self.hooks.observer(hook)
        try:
            observe(ctx=self.ctx, **kwargs)
        except Exception:
            log.exception("plugin hook %s failed (ignored)", hook)

    def observe_sent(self, chunks: Sequence[bytes]) -> None:
        """Bytes about to be written (for tracing plugins)."""
        self._observe("geventws_bytes_sent", data=chunks)

    def observe_received(self, data: bytes) -> None:
        """Bytes just read (for tracing plugins)."""
        self._observe("geventws_bytes_received", data=data)


def negotiated_extensions(connection: Any) -> list[Extension]:
    """The extension objects a connection negotiated, in the server's order."""
    negotiation = getattr(connection, "_negotiation", None)
    return [] if negotiation is None else list(negotiation.ctx.extensions)


def _ignore(data: Any) -> None:
    """Stands in for the observe methods when no plugin listens (one call, nothing done)."""


def start_negotiation(
    uri: WebSocketURI,
    *,
    subprotocols: Sequence[str],
    compression: Optional[str],
    max_size: Optional[int],
    plugins: Any,
    disable_plugins: Sequence[str],
    plugin_options: Mapping[str, Any],
    open_timeout: Optional[float] = 10,
) -> Negotiation:
    """Create the negotiation for one connection from ``connect()``'s options.

    ``plugins`` is a plugin object or a sequence of them, used for this
    connection only; ``disable_plugins`` names installed plugins to leave out.
    """
    if isinstance(disable_plugins, str):
        raise TypeError("disable_plugins takes a list of plugin names, not a string")
    if plugins is None:
        extra: Sequence[Any] = ()
    elif isinstance(plugins, (list, tuple)):
        extra = plugins
    else:
        extra = [plugins]
    hooks = HookRelay(get_plugin_manager(), extra, disable_plugins)
    ctx = ConnectionContext(
        uri,
        subprotocols=subprotocols,
        compression=compression,
        max_size=max_size,
        open_timeout=open_timeout,
        plugin_options=plugin_options,
    )
    return Negotiation(ctx, hooks)
