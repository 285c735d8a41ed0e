"""The WHATWG ``WebSocket`` object (websockets.spec.whatwg.org), in Python.

A thin adapter over the blocking :class:`~geventws.connection.ClientConnection`:
it checks arguments the way the standard does, keeps ``readyState`` and
``bufferedAmount``, and turns what the connection reports into DOM events. All
protocol work (framing, masking, the closing handshake, timeouts, extensions)
is the connection's, the same code the blocking API runs.

Each object owns one greenlet. It calls :func:`~geventws.connect`, then reads
messages with ``recv()`` and dispatches events, so events never fire inside the
constructor, :meth:`WebSocket.send` or :meth:`WebSocket.close`: handlers set
right after construction are in place before anything fires, as in a browser.
``send()`` never blocks: it uses the connection's write queue
(:meth:`~geventws.connection.ClientConnection.send_nowait`), whose callbacks
shrink ``bufferedAmount`` as messages reach the socket.
"""

from __future__ import annotations

import inspect
import logging
import urllib.parse
from collections.abc import Sequence
from typing import Any, Optional, Union

import gevent
import gevent.event

from .connection import ClientConnection, State, connect
from .dom import (
    CloseEvent,
    DOMException,
    Event,
    EventHandler,
    EventTarget,
    MessageEvent,
    to_usv_string,
)
from .exceptions import ConnectionClosed, WebSocketException

__all__ = ["WebSocket"]

log = logging.getLogger("geventws.websocket")

_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}
_DEFAULT_PORTS = {"ws": 80, "wss": 443}
# WHATWG URL: forbidden host code points (a space in the host is a SyntaxError).
_FORBIDDEN_HOST = frozenset("\x00\t\n\r #/:<>?@[\\]^|%")
# RFC 2616 token: visible ASCII except separators (the Sec-WebSocket-Protocol grammar).
_SEPARATORS = frozenset('()<>@,;:\\"/[]?={} \t')
# Characters WHATWG URL leaves as they are in a path / a special URL's query.
_PATH_SAFE = "!$%&'()*+,-./:;=@[\\]^_|~"
_QUERY_SAFE = "!$%&()*+,-./:;=?@[\\]^_`{|}~"
_CONNECT_OPTIONS = inspect.signature(connect)
_CONSTANT_NAMES = frozenset({"CONNECTING", "OPEN", "CLOSING", "CLOSED"})


def _syntax_error(message: str) -> DOMException:
    return DOMException(message, "SyntaxError")


def _parse_url(url: str) -> tuple[str, str]:
    """Return the serialized URL and its origin, or raise ``SyntaxError`` (standard steps 1–5)."""
    if not isinstance(url, str):
        raise TypeError(f"url must be str, not {type(url).__name__}")
    # WHATWG URL parsing: trim C0 controls and spaces, drop tabs and newlines.
    text = to_usv_string(url).strip("".join(map(chr, range(0x21))))
    text = text.replace("\t", "").replace("\n", "").replace("\r", "")
    scheme, sep, rest = text.partition(":")
    if not sep or not scheme or not scheme[0].isalpha() or \
            not all(c.isalnum() or c in "+-." for c in scheme):
        raise _syntax_error(f"{url!r} is not an absolute URL (no base URL to resolve it against)")
    scheme = scheme.lower()
    if scheme not in _SCHEMES:
        raise _syntax_error(f"{url!r}: the scheme must be ws, wss, http or https")
    scheme = _SCHEMES[scheme]
    if "#" in rest:
        raise _syntax_error(f"{url!r}: WebSocket URLs cannot have a fragment")
    # Special schemes: any run of slashes or backslashes leads to the authority.
    rest = "//" + rest.replace("\\", "/").lstrip("/")
    try:
        parts = urllib.parse.urlsplit(scheme + ":" + rest)
        port = parts.port
    except ValueError as exc:
        raise _syntax_error(f"{url!r}: {exc}") from None
    host = parts.hostname or ""
    if not host:
        raise _syntax_error(f"{url!r} has no host")
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    else:
        host = urllib.parse.unquote(host)
        if _FORBIDDEN_HOST & set(host):
            raise _syntax_error(f"{url!r}: forbidden character in the host")
        try:
            host = host.encode("idna").decode("ascii") if not host.isascii() else host
        except UnicodeError:
            raise _syntax_error(f"{url!r}: invalid international host name") from None
    authority = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    origin = f"{scheme}://{authority}"
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    path = urllib.parse.quote(parts.path or "/", safe=_PATH_SAFE)
    serialized = f"{scheme}://{userinfo + '@' if userinfo else ''}{authority}{path}"
    if "?" in rest:
        serialized += "?" + urllib.parse.quote(parts.query, safe=_QUERY_SAFE)
    return serialized, origin


def _check_protocols(protocols: Union[str, Sequence[str], None]) -> list[str]:
    """The protocol list as the standard checks it (step 6–7): tokens, no repeats (any case)."""
    if protocols is None:
        return []
    items = [protocols] if isinstance(protocols, str) else list(protocols)
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"protocols must be strings, not {type(item).__name__}")
        if not item or any(not "\x21" <= c <= "\x7e" or c in _SEPARATORS for c in item):
            raise _syntax_error(f"{item!r} is not a valid subprotocol name")
        if item.lower() in seen:
            raise _syntax_error(f"subprotocol {item!r} appears more than once")
        seen.add(item.lower())
    return items


def _buffer_size(data: Any) -> int:
    with memoryview(data) as view:
        return view.nbytes


class _ReadOnlyConstants(type):
    """Makes CONNECTING/OPEN/CLOSING/CLOSED read-only on the class, as WebIDL constants are."""

    def __setattr__(cls, name: str, value: Any) -> None:
        if name in _CONSTANT_NAMES:
            raise AttributeError(f"{name} is a constant")
        super().__setattr__(name, value)

    def __delattr__(cls, name: str) -> None:
        if name in _CONSTANT_NAMES:
            raise AttributeError(f"{name} is a constant")
        super().__delattr__(name)


class WebSocket(EventTarget, metaclass=_ReadOnlyConstants):
    """``WebSocket(url, protocols=None, **options)``: connect at once, in the background.

    ``options`` are :func:`~geventws.connect`'s keywords (``additional_headers``,
    ``open_timeout``, ``ssl``, ``compression`` ...); ``protocols`` replaces its
    ``subprotocols``. Raises :class:`DOMException` ``SyntaxError`` for a bad URL or
    protocol list, ``TypeError`` for an unknown option. As in browsers, connections
    to one host open one at a time (``one_connecting_per_host``, on unless given).
    """

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3

    onopen = EventHandler("open")
    onmessage = EventHandler("message")
    onerror = EventHandler("error")
    onclose = EventHandler("close")

    def __init__(self, url: str, protocols: Union[str, Sequence[str], None] = None,
                 **options: Any) -> None:
        super().__init__()
        self._url, self._origin = _parse_url(url)
        self._protocols = _check_protocols(protocols)
        if "subprotocols" in options:
            raise TypeError("pass subprotocols as the protocols argument")
        _CONNECT_OPTIONS.bind(self._url, **options)  # unknown keywords: TypeError now
        # Browsers open one connection at a time per host (RFC 6455 §4.1; WPT constructor/014).
        self._options = {"one_connecting_per_host": True, **options}
        self._ready_state = WebSocket.CONNECTING
        self._buffered_amount = 0
        self._binary_type = "blob"
        self._protocol = ""
        self._extensions = ""
        self._conn: Optional[ClientConnection] = None
        self._dispatching_message = False
        self._attempt: Optional[gevent.Greenlet] = None  # the greenlet running connect()
        self._cancelled = False
        self._done = gevent.event.Event()
        #: Why the connection failed (the exception, e.g. ``OSError`` or
        #: :class:`~geventws.InvalidStatus`), or ``None``. Set before the ``error`` event.
        self.failure: Optional[BaseException] = None
        self._greenlet = gevent.spawn(self._run)

    # -- attributes -----------------------------------------------------------

    @property
    def url(self) -> str:
        """The URL as parsed and serialized (``http``/``https`` become ``ws``/``wss``)."""
        return self._url

    @property
    def readyState(self) -> int:
        """``CONNECTING`` (0), ``OPEN`` (1), ``CLOSING`` (2) or ``CLOSED`` (3).

        CLOSING from the moment the closing handshake starts (the standard), whichever
        side starts it: after :meth:`close`, or once the server's close frame (or a
        failure) arrived. A ``message`` listener still sees OPEN, as the message
        arrived before the close frame.
        """
        state = self._ready_state
        if (
            state == WebSocket.OPEN
            and not self._dispatching_message
            and self._conn is not None
            and self._conn.state is not State.OPEN
        ):
            return WebSocket.CLOSING
        return state

    @property
    def bufferedAmount(self) -> int:
        """Bytes of message data passed to :meth:`send` and not yet handed to the socket.

        Framing is not counted; UTF-8 bytes of text are. Data sent once closing has
        begun is never sent, so it stays counted (the standard's rule).
        """
        return self._buffered_amount

    @property
    def binaryType(self) -> str:
        """``"blob"`` (binary messages as ``bytes``) or ``"arraybuffer"`` (``bytearray``)."""
        return self._binary_type

    @binaryType.setter
    def binaryType(self, value: str) -> None:
        if value in ("blob", "arraybuffer"):
            self._binary_type = value
        # Other values are ignored, as WebIDL enumeration attributes ignore them.

    @property
    def extensions(self) -> str:
        """The extensions the server selected (its ``Sec-WebSocket-Extensions``), or ``""``."""
        return self._extensions

    @property
    def protocol(self) -> str:
        """The subprotocol the server selected, or ``""``."""
        return self._protocol

    # -- methods --------------------------------------------------------------

    def send(self, data: Union[str, bytes, bytearray, memoryview, Any]) -> None:
        """Queue ``data``: ``str`` as a text message, any bytes-like as a binary one.

        Returns at once. Raises :class:`DOMException` ``InvalidStateError`` while
        CONNECTING and ``TypeError`` for other types. Once closing has begun the data
        is dropped and only counted in :attr:`bufferedAmount`, as the standard says.
        """
        if self._ready_state == WebSocket.CONNECTING:
            raise DOMException("send() before the connection is open", "InvalidStateError")
        message: Union[str, bytes]
        if isinstance(data, str):
            message = to_usv_string(data)
            size = len(message.encode("utf-8"))
        else:
            try:
                size = _buffer_size(data)
            except TypeError:
                raise TypeError(
                    f"data must be str or bytes-like, not {type(data).__name__}") from None
            message = bytes(data)
        self._buffered_amount += size
        if self._ready_state != WebSocket.OPEN or self._conn is None:
            return
        try:
            self._conn.send_nowait(message, lambda error: self._sent(size, error))
        except ConnectionClosed:
            pass  # the peer started closing and we have not seen it yet: as after close()

    def _sent(self, size: int, error: Optional[BaseException]) -> None:
        if error is None:
            self._buffered_amount -= size

    def close(self, code: Optional[int] = None, reason: Optional[str] = None) -> None:
        """Start the closing handshake (or abandon the connection attempt); return at once.

        ``code`` must be 1000 or 3000–4999 (else :class:`DOMException`
        ``InvalidAccessError``), ``reason`` at most 123 bytes of UTF-8 (else
        ``SyntaxError``). Closing while CONNECTING fails the connection: ``error``,
        then ``close`` with code 1006. Closing a closing or closed socket does nothing.
        """
        if code is not None:
            if isinstance(code, bool) or not isinstance(code, int):
                raise TypeError(f"code must be an int, not {type(code).__name__}")
            if code != 1000 and not 3000 <= code <= 4999:
                raise DOMException(f"close code {code} is not 1000 or 3000-4999",
                                   "InvalidAccessError")
        text = ""
        if reason is not None:
            text = to_usv_string(str(reason))
            if len(text.encode("utf-8")) > 123:
                raise DOMException("close reason is longer than 123 bytes of UTF-8",
                                   "SyntaxError")
        if self.readyState in (WebSocket.CLOSING, WebSocket.CLOSED):
            return
        if self._ready_state == WebSocket.CONNECTING:
            self._ready_state = WebSocket.CLOSING
            self._cancelled = True
            if self._attempt is not None:
                self._attempt.kill(block=False)  # connect() cleans up on GreenletExit
            return
        self._ready_state = WebSocket.CLOSING
        if code is None and text:
            code = 1000  # a reason without a code goes out with 1000
        assert self._conn is not None
        self._conn.close_nowait(code, text)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _CONSTANT_NAMES:
            raise AttributeError(f"{name} is a constant")
        super().__setattr__(name, value)

    def wait_closed(self, timeout: Optional[float] = None) -> bool:
        """Block this greenlet until the ``close`` event has been dispatched.

        Beyond the standard, for scripts: ``False`` if ``timeout`` ran out first.
        Not from a listener: events come from the greenlet this would wait for.
        """
        if gevent.getcurrent() is self._greenlet:
            raise RuntimeError("wait_closed() called from this socket's own event listener")
        return bool(self._done.wait(timeout))

    def __repr__(self) -> str:
        state = ("CONNECTING", "OPEN", "CLOSING", "CLOSED")[self._ready_state]
        return f"<WebSocket {self._url} {state}>"

    # -- the socket's greenlet ------------------------------------------------

    def _run(self) -> None:
        cancelled = WebSocketException("close() was called before the connection opened")
        try:
            if self._cancelled:
                self._closed(cancelled)
                return
            # connect() runs in a greenlet of its own, so close() can kill the attempt
            # without ever throwing into this one (which runs the user's listeners).
            self._attempt = gevent.spawn(self._connect)
            result = self._attempt.get()
            if isinstance(result, Exception):
                self._closed(result)
                return
            if not isinstance(result, ClientConnection):  # killed: GreenletExit
                self._closed(cancelled)
                return
            if self._cancelled:  # opened just as close() was called: fail it
                result.close_nowait(1001)
                self._closed(cancelled)
                return
            self._conn = result
            self._serve(result)
        finally:
            self._done.set()

    def _connect(self) -> Union[ClientConnection, Exception]:
        # The failure is returned, not raised, so gevent does not print it as a crash.
        try:
            return connect(self._url, subprotocols=self._protocols or None, **self._options)
        except Exception as exc:
            return exc

    def _serve(self, conn: ClientConnection) -> None:
        self._protocol = conn.subprotocol or ""
        self._extensions = conn.extensions or ""
        self._ready_state = WebSocket.OPEN
        self._fire(Event("open"))
        while True:
            try:
                message = conn.recv()
            except ConnectionClosed as closed:
                end = closed
                break
            if self._ready_state != WebSocket.OPEN:
                continue  # the standard drops messages that arrive after close()
            data: Union[str, bytes, bytearray] = message
            if isinstance(message, bytes) and self._binary_type == "arraybuffer":
                data = bytearray(message)
            self._dispatching_message = True
            try:
                self._fire(MessageEvent("message", data=data, origin=self._origin))
            finally:
                self._dispatching_message = False
        failure = conn.protocol.failure
        clean = failure is None and end.rcvd is not None and end.sent is not None
        self._closed(failure, wasClean=clean, code=end.code, reason=end.reason)

    def _closed(self, failure: Optional[BaseException], *, wasClean: bool = False,
                code: int = 1006, reason: str = "") -> None:
        """The connection is gone: set CLOSED, fire ``error`` if it failed, then ``close``."""
        self._ready_state = WebSocket.CLOSED
        if failure is not None:
            self.failure = failure
            log.debug("WebSocket %s failed: %r", self._url, failure)
            self._fire(Event("error"))
        self._fire(CloseEvent("close", wasClean=wasClean, code=code, reason=reason))

    def _fire(self, event: Event) -> None:
        event.isTrusted = True
        self._dispatch(event)
