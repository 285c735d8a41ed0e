"""The blocking face: :func:`connect` and :class:`ClientConnection`.

This is the I/O layer over the sans-IO engine. Reading has two modes, and the
same code (:meth:`ClientConnection._on_data`) handles what either one reads:

- *foreground*: a greenlet in :meth:`~ClientConnection.recv` that finds no message
  waiting reads the socket itself, as a plain gevent socket user would. A round
  trip then costs what the raw socket costs: no hand-off between greenlets.
- *background*: the rest of the time a gevent I/O watcher on the socket reads
  whatever arrives from the hub, answers pings and close frames, resolves
  :meth:`~ClientConnection.ping` waiters and queues messages. It is a callback,
  not a greenlet, so an idle connection holds no greenlet and no stack.

Writes from any greenlet are serialized by a lock so frames never interleave.
The round trip's shortcut: on plain TCP, :meth:`~ClientConnection.send` of a small
message while nobody holds the lock writes its frame with one non-blocking
``send()`` on the OS socket, lock-free, since nothing can switch greenlets in
between; what the kernel does not take is finished under the lock. The
foreground read uses the OS socket too and waits on the connection's own
watcher. Everything blocking is gevent's, so a caller blocks only its own greenlet.

Flow control: once ``max_queue`` messages wait unread, the watcher stops, so the
kernel's buffers fill and TCP slows the server down.

Write queue: :meth:`ClientConnection.send_nowait` and
:meth:`ClientConnection.close_nowait` return at once and leave the writing to a
writer greenlet, which sends queued items in order through the same code as
:meth:`~ClientConnection.send` (minus the blocking face's codec) and
:meth:`~ClientConnection.close`. A callback per message reports when its bytes
reached the socket: that is what the W3C object's ``bufferedAmount`` counts.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import ssl as ssl_module
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Callable, Optional, Union

import gevent
import gevent.event
import gevent.lock
import gevent.socket
from gevent.hub import Waiter

from . import __version__
from .admission import host_key, one_connecting
from .events import Pong
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidURI,
    OpenTimeout,
    ProtocolError,
    WebSocketException,
)
from .handshake import ClientHandshake, HandshakeResult
from .negotiation import Negotiation, start_negotiation
from .protocol import InvalidState, Protocol, Role, State
from .transport import open_stream, os_socket
from .uri import WebSocketURI, parse_uri

__all__ = ["DEFAULT_USER_AGENT", "ClientConnection", "State", "connect"]

DEFAULT_USER_AGENT = f"geventws/{__version__}"

Data = Union[str, bytes, bytearray, memoryview]
HeadersLike = Union[Mapping[str, str], Iterable[tuple[str, str]]]

_RECV_SIZE = 64 * 1024
_CLOSED = object()  # queue sentinel: the connection ended


class _WriteLock:
    """The connection's write lock: gevent's RLock, plus ``held``, which the send hot
    path reads (an attribute, not a call) to see that no write is under way."""

    __slots__ = ("_lock", "held")

    def __init__(self) -> None:
        self._lock = gevent.lock.RLock()
        self.held = 0

    def __enter__(self) -> None:
        self._lock.acquire()
        self.held += 1

    def __exit__(self, *exc_info: object) -> None:
        self.held -= 1
        self._lock.release()


class _Aborted(Exception):
    """Thrown into a foreground reader waiting on the socket that _abort() closed."""


#: What a socket in non-blocking mode raises when it has nothing to give yet.
_WOULD_BLOCK = (BlockingIOError, ssl_module.SSLWantReadError, ssl_module.SSLWantWriteError)

#: ``callback(None)`` once a queued message reached the socket, ``callback(exc)`` if it never will.
SentCallback = Callable[[Optional[BaseException]], None]


class _CloseRequest:
    """A write-queue item: run the closing handshake after the messages queued before it."""

    __slots__ = ("code", "reason")

    def __init__(self, code: Optional[int], reason: str) -> None:
        self.code = code
        self.reason = reason


class ClientConnection:
    """An open WebSocket connection (use :func:`connect` to make one).

    Iterate over it to receive messages until a normal close; use it as a context
    manager to close it on the way out.
    """

    def __init__(
        self,
        sock: Any,
        protocol: Protocol,
        handshake: HandshakeResult,
        *,
        uri: WebSocketURI,
        negotiation: Optional[Negotiation] = None,
        close_timeout: Optional[float] = 10,
        ping_interval: Optional[float] = 20,
        ping_timeout: Optional[float] = 20,
        max_queue: Optional[int] = 16,
    ) -> None:
        self.uri = uri
        self.protocol = protocol
        self.close_timeout = close_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.max_queue = max_queue
        #: Response headers of the handshake, ``(lower-case name, value)`` pairs.
        self.response_headers = handshake.headers
        #: The subprotocol the server selected, or ``None``.
        self.subprotocol: Optional[str] = handshake.subprotocol
        #: The server's ``Sec-WebSocket-Extensions`` value ("" when none).
        self.extensions: str = handshake.extensions_header
        #: The subprotocol's message codec, set by a plugin (``None``: raw messages).
        #: When set, :meth:`send` encodes with it and :meth:`recv` decodes.
        self.codec: Any = None
        self._negotiation = negotiation
        self._sock = sock
        self._write_lock = _WriteLock()
        self._hub = gevent.get_hub()
        #: Received messages not yet returned by recv(); ``_CLOSED`` last once ended.
        self._messages: deque[Any] = deque()
        #: recv() callers waiting while another greenlet reads in the foreground.
        #: (Lists, not deques: rarely used, and an empty deque costs 600 bytes per connection.)
        self._waiters: list[Waiter] = []
        self._reading = False  # a recv() caller is reading the socket itself
        self._paused = False  # flow control stopped the watcher
        self._close_timer: Any = None
        self._watcher = self._hub.loop.io(sock.fileno(), 1)
        # The OS socket under a plain TCP one: the hot path's reads and writes skip
        # gevent's wrapper (see send, _read_foreground). None for TLS, and when
        # plugins watch the bytes, whose hooks may switch greenlets mid-write.
        self._trace_bytes = negotiation is not None and negotiation.observes_bytes
        self._os_sock = None if self._trace_bytes else os_socket(sock)
        # TLS decrypts a record at a time: data can wait inside the SSL object
        # while the socket itself has nothing more to read.
        self._tls_pending: Optional[Callable[[], int]] = getattr(sock, "pending", None)
        self._pings: dict[bytes, tuple[gevent.event.AsyncResult, float]] = {}
        #: The connection has ended (state CLOSED); ``_closed`` is set once the close
        #: callbacks have run too, which is what wait_closed() waits for.
        self._ended = False
        self._closed = gevent.event.Event()
        self._close_callbacks: list[Callable[[ClientConnection], None]] = []
        self._keepalive: Optional[gevent.Greenlet] = None
        # Write queue of send_nowait()/close_nowait(), drained by a writer greenlet.
        # Created on first use: most connections never queue.
        self._write_queue: Optional[deque[tuple[Any, Optional[SentCallback]]]] = None
        self._queue_idle = gevent.event.Event()
        self._queue_idle.set()
        self._writer: Optional[gevent.Greenlet] = None
        self._close_queued = False
        if handshake.trailing_data:
            self._on_data(handshake.trailing_data)
        self._watch()
        if ping_interval is not None and not self._ended:
            self._keepalive = gevent.spawn_later(ping_interval, self._keepalive_tick)

    # -- public API -----------------------------------------------------------

    @property
    def state(self) -> State:
        """``OPEN``, ``CLOSING`` or ``CLOSED``."""
        return State.CLOSED if self._ended else self.protocol.state

    @property
    def close_code(self) -> Optional[int]:
        """The close code received (1005: frame had none, 1006: no frame); ``None`` while open."""
        if not self._ended:
            return None
        rcvd = self.protocol.close_rcvd  # what ConnectionClosed.code says, without building one
        return 1006 if rcvd is None else rcvd.code

    @property
    def close_reason(self) -> Optional[str]:
        """The close reason received; ``None`` while open."""
        if not self._ended:
            return None
        rcvd = self.protocol.close_rcvd
        return "" if rcvd is None else rcvd.reason

    def send(self, message: Union[Data, Iterable[Data]]) -> None:
        """Send a message: ``str`` as text, bytes-like as binary.

        An iterable of ``str`` or of bytes-likes is sent as one fragmented message,
        a frame per item. Raises :class:`ConnectionClosed` once closing has begun
        and ``TypeError`` for anything else. With a :attr:`codec`, ``message`` is
        first encoded by it, whatever its type. Messages queued with
        :meth:`send_nowait` are sent first, so the order is the order of the calls.
        """
        if self.codec is not None:
            message = self.codec.encode(message)
        if self._writer is not None:
            self._wait_queue()
        os_sock = self._os_sock
        if os_sock is not None and not self._write_lock.held:
            # Hot path: a small whole message, when no write is under way (see
            # _finish_write for why no lock is needed).
            kind = type(message)
            if kind is str:
                frame = self.protocol.frame_message(message.encode("utf-8"), True)  # type: ignore[union-attr]
            elif kind is bytes:
                frame = self.protocol.frame_message(message, False)  # type: ignore[arg-type]
            else:
                frame = None
            if frame is not None:
                try:
                    sent = os_sock.send(frame)
                except BlockingIOError:
                    sent = 0
                except OSError as exc:
                    raise self._write_failed() from exc
                if sent < len(frame):
                    self._finish_write(frame, sent)
                return
        self._send_raw(message)

    def _send_raw(self, message: Union[Data, Iterable[Data]]) -> None:
        if isinstance(message, str):
            with self._write_lock:
                self._call(self.protocol.send_text, message.encode("utf-8"))
        elif isinstance(message, (bytes, bytearray, memoryview)):
            with self._write_lock:
                self._call(self.protocol.send_binary, message)
        elif isinstance(message, Mapping):
            raise TypeError("a mapping is not a message; encode it first")
        elif isinstance(message, Iterable):
            self._send_fragments(message)
        else:
            raise TypeError(f"message must be str or bytes-like, not {type(message).__name__}")

    def _send_fragments(self, fragments: Iterable[Data]) -> None:
        with self._write_lock:
            iterator = iter(fragments)
            first = next(iterator, None)
            if first is None:
                return
            text = isinstance(first, str)
            if not text and not isinstance(first, (bytes, bytearray, memoryview)):
                raise TypeError("fragments must be str or bytes-like")
            pending: Any = first
            started = False
            for fragment in iterator:
                if isinstance(fragment, str) is not text or not isinstance(
                    fragment, (str, bytes, bytearray, memoryview)
                ):
                    self._abort_fragments(started)
                    raise TypeError("all fragments must be str, or all bytes-like")
                self._send_fragment(pending, text, started, fin=False)
                started = True
                pending = fragment
            self._send_fragment(pending, text, started, fin=True)

    def _send_fragment(self, data: Data, text: bool, started: bool, fin: bool) -> None:
        if started:
            self._call(self.protocol.send_continuation, data, fin)
        elif text:
            self._call(self.protocol.send_text, data, fin)
        else:
            self._call(self.protocol.send_binary, data, fin)

    def _abort_fragments(self, started: bool) -> None:
        # A half-sent message cannot be taken back: fail the connection (1011).
        if started:
            self._fail(1011, "error in fragmented message")

    def recv(self, timeout: Optional[float] = None) -> Union[str, bytes]:
        """Return the next message: ``str`` for text, ``bytes`` for binary.

        Raises :class:`ConnectionClosed` once the connection has ended and every
        received message was returned, ``TimeoutError`` when ``timeout`` runs out.
        """
        messages = self._messages
        if not messages:
            if timeout is None and not self._reading:
                self._read_foreground()
            else:
                self._wait_for_message(timeout)
        message = messages[0]
        if message is _CLOSED:  # left in place: every later recv() sees the end too
            raise self.protocol.close_exc
        messages.popleft()
        if self._paused and len(messages) <= self._low_water():
            self._resume()
        if self.codec is not None:
            return self.codec.decode(message)  # type: ignore[no-any-return]
        return message  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[Union[str, bytes]]:
        """Messages until the connection closes; a normal close ends the loop quietly.

        Normal is :class:`ConnectionClosedOK` (both close frames 1000, 1001 or without
        status code), as in ``websockets``: the loop does not depend on whether the peer
        echoed our code, which RFC 6455 §5.5.1 leaves to it. Also quiet: after our own
        1000/1001, a peer that ends TCP without answering.
        """
        while True:
            try:
                yield self.recv()
            except ConnectionClosed as exc:
                if isinstance(exc, ConnectionClosedOK):
                    return
                if exc.rcvd is None and exc.sent is not None and exc.sent.code in (1000, 1001) \
                        and self.protocol.failure is None and self.protocol.eof_received:
                    return
                raise

    def ping(self, data: Union[str, bytes, None] = None) -> gevent.event.AsyncResult:
        """Send a ping; the result resolves to the round-trip time in seconds when the pong
        arrives (``result.get(timeout=...)``), or to :class:`ConnectionClosed`.

        Without ``data`` a unique 4-byte payload is chosen.
        """
        if isinstance(data, str):
            data = data.encode("utf-8")
        with self._write_lock:
            if data is None:
                data = _unique_payload(self._pings)
            elif data in self._pings:
                raise ValueError("a ping with this payload is already waiting for its pong")
            result = gevent.event.AsyncResult()
            self._call(self.protocol.send_ping, data)
            self._pings[data] = (result, time.monotonic())
        return result

    def pong(self, data: Union[str, bytes] = b"") -> None:
        """Send an unsolicited pong (a one-way heartbeat, RFC 6455 §5.5.3)."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        with self._write_lock:
            self._call(self.protocol.send_pong, data)

    def send_nowait(self, message: Data, callback: Optional[SentCallback] = None) -> None:
        """Queue a message and return at once, without blocking on the socket.

        A writer greenlet sends queued messages in order (``str`` as text, bytes-like
        as binary; a bytes-like is copied now, so the caller may reuse its buffer).
        ``callback(None)`` runs once the message's frames were handed to the socket,
        ``callback(exc)`` if it never will be (the connection closed first); keep it
        short, it runs in the writer greenlet. Raises ``TypeError`` for anything else
        and :class:`ConnectionClosed` once closing has begun or a close is queued.
        """
        if isinstance(message, (bytearray, memoryview)):
            message = bytes(message)
        elif not isinstance(message, (str, bytes)):
            raise TypeError(f"message must be str or bytes-like, not {type(message).__name__}")
        if self._close_queued or self.protocol.state is not State.OPEN or self._ended:
            raise self.protocol.close_exc
        self._enqueue(message, callback)

    def close_nowait(self, code: Optional[int] = 1000, reason: str = "") -> None:
        """Queue the closing handshake behind the queued messages and return at once.

        The writer greenlet then runs :meth:`close` (bounded by ``close_timeout``);
        :meth:`wait_closed` tells when it is over. Arguments are checked now, as
        :meth:`close` checks them; a second call does nothing.
        """
        _check_close_args(code, reason)
        if self._close_queued or self._ended:
            return
        self._close_queued = True
        self._enqueue(_CloseRequest(code, reason), None)

    def close(self, code: Optional[int] = 1000, reason: str = "") -> None:
        """Perform the closing handshake and wait (up to ``close_timeout``) for it to end.

        ``code=None`` sends a close frame without a status code (the peer sees 1005).
        Messages queued with :meth:`send_nowait` are sent first. Idempotent: closing
        a closed connection does nothing.
        """
        _check_close_args(code, reason)
        self._wait_queue()
        with self._write_lock:
            if self.protocol.state is State.OPEN and not self._ended:
                try:
                    self.protocol.send_close(code, reason)
                    self._flush()
                except ConnectionClosed:
                    pass  # the write failed; _flush already aborted
        self._resume()  # the close frame must be read, however many messages wait
        self._start_close_timer()
        if not self._reading and not self._ended:
            self._read_foreground(until_ended=True)  # read the answer here: no hand-off
        if not self.wait_closed(self.close_timeout):
            self._abort()  # the peer did not finish the closing handshake in time
            self._closed.wait()

    def wait_closed(self, timeout: Optional[float] = None) -> bool:
        """Block until the connection has fully ended; ``False`` if ``timeout`` ran out."""
        return bool(self._closed.wait(timeout))

    def add_close_callback(self, callback: Callable[[ClientConnection], None]) -> None:
        """Call ``callback(self)`` once the connection has ended (never from the hub)."""
        if self._closed.is_set():
            callback(self)
        else:
            self._close_callbacks.append(callback)

    def __enter__(self) -> ClientConnection:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ClientConnection {self.uri.host}:{self.uri.port} {self.state.name}>"

    # -- internals ------------------------------------------------------------

    def _enqueue(self, item: Any, callback: Optional[SentCallback]) -> None:
        if self._write_queue is None:
            self._write_queue = deque()
        self._write_queue.append((item, callback))
        self._queue_idle.clear()
        if self._writer is None:
            self._writer = gevent.spawn(self._write_loop)

    def _wait_queue(self) -> None:
        """Let queued messages go first (the writer itself never waits for itself)."""
        if not self._queue_idle.is_set() and gevent.getcurrent() is not self._writer:
            self._queue_idle.wait()

    def _write_loop(self) -> None:
        queue = self._write_queue
        assert queue is not None
        try:
            while queue:
                item, callback = queue.popleft()
                if isinstance(item, _CloseRequest):
                    self.close(item.code, item.reason)
                    continue
                error: Optional[BaseException] = None
                try:
                    self._send_raw(item)  # raw: a codec is for the blocking face only
                except ConnectionClosed as exc:
                    error = exc
                if callback is not None:
                    try:
                        callback(error)
                    except Exception:
                        logging.getLogger("geventws").exception("send_nowait callback failed")
        finally:
            self._writer = None
            self._queue_idle.set()

    def _low_water(self) -> int:
        return (self.max_queue or 0) // 4

    def _call(self, method: Callable[..., None], *args: Any) -> None:
        """Run a protocol send method and write its output (write lock held)."""
        try:
            method(*args)
        except InvalidState:
            raise self.protocol.close_exc from None
        self._flush()

    def _finish_write(self, frame: bytes, sent: int) -> None:
        """Write what the hot path's one non-blocking send() left of ``frame``.

        send() took no lock: nothing yielded between checking that no write was
        under way and the send() on the OS socket, so no other greenlet's frame can
        have come between. The lock is still free for the same reason; taking it now
        keeps others out while the rest waits for room in the socket.
        """
        with self._write_lock:
            try:
                self._sock.sendall(memoryview(frame)[sent:])
            except OSError as exc:
                raise self._write_failed() from exc

    def _write_failed(self) -> ConnectionClosed:
        """The socket refused a write: abort the connection; return what to raise."""
        self._abort()
        return self.protocol.close_exc

    def _flush(self) -> None:
        out = self.protocol.data_to_send()
        if not out:
            return
        sock = self._sock
        try:
            if self._trace_bytes:
                self._negotiation.observe_sent(out)  # type: ignore[union-attr]
            for chunk in out:
                _send_all(sock, chunk)
        except OSError as exc:
            raise self._write_failed() from exc

    def _fail(self, code: int, reason: str) -> None:
        with self._write_lock:
            self.protocol.fail(code, reason)
            try:
                self._flush()
            except ConnectionClosed:
                pass

    def _abort(self) -> None:
        """Close the socket now; whoever reads it sees the end and cleans up."""
        try:
            self._sock.close()
        except OSError:  # pragma: no cover
            pass
        if self._reading:  # a foreground reader waiting on the watcher: wake it
            self._hub.cancel_wait(self._watcher, _Aborted())
        else:  # a foreground reader finishes itself, from its own greenlet
            self._finish()

    # -- reading ----------------------------------------------------------------

    def _wait_for_message(self, timeout: Optional[float]) -> None:
        """Block until a message (or the end) is queued, reading the socket if nobody is."""
        timer = gevent.Timeout(timeout) if timeout is not None else None
        if timer is not None:
            timer.start()
        try:
            while not self._messages:
                if self._reading:
                    self._wait_for_reader()
                else:
                    self._read_foreground()
        except gevent.Timeout as exc:
            if exc is not timer:
                raise
            raise TimeoutError(f"no message within {timeout} s") from None
        finally:
            if timer is not None:
                timer.close()

    def _wait_for_reader(self) -> None:
        """Another greenlet reads the socket: wait for it to queue something or leave."""
        waiter = Waiter(self._hub)
        self._waiters.append(waiter)
        try:
            waiter.get()
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _read_foreground(self, until_ended: bool = False) -> None:
        """Read the socket in the calling greenlet until a message is queued (or, for
        :meth:`close`, until the connection has ended)."""
        self._reading = True
        watcher = self._watcher
        watcher.stop()
        os_sock = self._os_sock
        recv = self._sock.recv if os_sock is None else os_sock.recv
        try:
            while not (self._ended if until_ended else self._messages):
                try:
                    data = recv(_RECV_SIZE)
                except BlockingIOError:  # the OS socket has nothing yet: wait for it
                    try:
                        self._hub.wait(watcher)
                    except _Aborted:
                        data = b""
                    else:
                        continue
                except OSError:  # reset, or closed under us by _abort()
                    data = b""
                self._on_data(data)
        finally:
            self._reading = False
            if not (self._paused or self._ended):  # what _watch() checks, inlined
                watcher.start(self._on_readable)
            if self._waiters:  # let one waiter take its message, or take over reading
                self._hub.loop.run_callback(self._waiters.pop(0).switch, None)

    def _on_readable(self) -> None:
        """The watcher's callback, in the hub: read what is there without blocking."""
        sock = self._sock
        os_sock = self._os_sock
        while True:
            if os_sock is not None:
                try:
                    data = os_sock.recv(_RECV_SIZE)
                except BlockingIOError:
                    return
                except OSError:
                    data = b""
            else:
                sock.settimeout(0.0)  # gevent's own non-blocking mode: raise, never wait
                try:
                    data = sock.recv(_RECV_SIZE)
                except _WOULD_BLOCK:
                    return
                except OSError:
                    data = b""
                finally:
                    sock.settimeout(None)
            self._on_data(data)
            pending = self._tls_pending
            if self._ended or self._paused or pending is None or not pending():
                return

    def _on_data(self, data: bytes) -> None:
        """Feed the engine what was read (``b""``: the end) and act on what it says."""
        protocol = self.protocol
        if not data:
            protocol.receive_eof()
            self._finish()
            return
        if self._trace_bytes:
            self._negotiation.observe_received(data)  # type: ignore[union-attr]
        protocol.receive_data(data)
        if protocol._out:  # pongs and close replies
            if gevent.getcurrent() is self._hub:
                gevent.spawn(self._flush_locked)  # never block the hub on a write
            else:
                self._flush_locked()
        messages = self._messages
        for event in protocol.events_received():
            if type(event) is Pong:
                self._pong(event.data)
            elif isinstance(event, (str, bytes)):
                messages.append(event)
        if self._waiters and messages:
            self._wake(len(messages))
        state = protocol.state
        if state is not State.OPEN:
            if state is State.CLOSED:
                self._finish()
            else:
                self._start_close_timer()
        elif self.max_queue is not None and len(messages) >= self.max_queue:
            # Pause reading; TCP pushes back. Never while closing, so the closing
            # handshake completes even if nobody reads.
            self._paused = True
            self._watcher.stop()

    def _start_close_timer(self) -> None:
        """Closing: the peer's close frame and TCP end must come within close_timeout."""
        if self._close_timer is None and self.close_timeout is not None and not self._ended:
            self._close_timer = self._hub.loop.timer(self.close_timeout)
            self._close_timer.start(self._abort)

    def _watch(self) -> None:
        """Let the hub watcher read, unless someone reads in the foreground, flow
        control paused reading, or the connection has ended."""
        if not (self._reading or self._paused or self._ended):
            self._watcher.start(self._on_readable)

    def _resume(self) -> None:
        if self._paused:
            self._paused = False
            self._watch()

    def _wake(self, count: int) -> None:
        run = self._hub.loop.run_callback
        waiters = self._waiters
        while waiters and count > 0:
            run(waiters.pop(0).switch, None)
            count -= 1

    def _flush_locked(self) -> None:
        with self._write_lock:
            try:
                self._flush()
            except ConnectionClosed:
                pass  # _flush aborted the connection; the reader reports it

    def _finish(self) -> None:
        if self._ended:
            return
        self._ended = True
        self._watcher.stop()
        self._watcher.close()
        if self._close_timer is not None:
            self._close_timer.stop()
            self._close_timer.close()
        try:
            self._sock.close()
        except OSError:  # pragma: no cover
            pass
        if self._keepalive is not None:
            self._keepalive.kill(block=False)
        if self._pings:  # close_exc is built afresh on each access: only when needed
            exc = self.protocol.close_exc
            for result, _ in self._pings.values():
                result.set_exception(exc)
            self._pings.clear()
        self._messages.append(_CLOSED)
        self._paused = False
        self._wake(len(self._waiters))
        if self._close_callbacks and gevent.getcurrent() is self._hub:
            gevent.spawn(self._run_close_callbacks)  # user code never runs in the hub
        else:
            self._run_close_callbacks()

    def _run_close_callbacks(self) -> None:
        callbacks, self._close_callbacks = self._close_callbacks, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                logging.getLogger("geventws").exception("close callback failed")
        self._closed.set()

    def _pong(self, data: bytes) -> None:
        """Resolve the ping this pong answers, and every older one (RFC 6455 §5.5.3)."""
        if data not in self._pings:
            return
        now = time.monotonic()
        for key in list(self._pings):
            result, sent_at = self._pings.pop(key)
            result.set(now - sent_at)
            if key == data:
                break

    def _keepalive_tick(self) -> None:
        try:
            waiter = self.ping()
        except ConnectionClosed:
            return
        try:
            waiter.get(timeout=self.ping_timeout)
        except gevent.Timeout:
            self._fail(1011, "keepalive ping timeout")
            self._abort()
            return
        except ConnectionClosed:
            return
        if self.ping_interval is not None and not self._ended:
            self._keepalive = gevent.spawn_later(self.ping_interval, self._keepalive_tick)


def _send_all(sock: Any, data: bytes) -> None:
    """Write all of ``data``. One plain send() usually takes it whole; gevent's sendall()
    costs a getsockopt() system call and a chunking loop on every call."""
    sent = sock.send(data)
    if sent < len(data):
        sock.sendall(memoryview(data)[sent:])


def _check_close_args(code: Optional[int], reason: str) -> None:
    if code is None:
        if reason:
            raise ValueError("a close reason needs a close code")
    elif not 1000 <= code <= 4999 or code in (1004, 1005, 1006, 1015):
        raise ValueError(f"invalid close code {code}")
    if len(reason.encode("utf-8")) > 123:
        raise ValueError("close reason is limited to 123 bytes of UTF-8")


def _unique_payload(taken: Mapping[bytes, Any]) -> bytes:
    import os

    while True:
        data = os.urandom(4)
        if data not in taken:
            return data


#: URIs parsed before (a process connects to the same few over and over; parsing costs
#: microseconds, and a WebSocketURI is immutable). Invalid ones raise again each time.
_parse_uri = functools.lru_cache(maxsize=256)(parse_uri)


def connect(
    uri: str,
    *,
    subprotocols: Optional[Sequence[str]] = None,
    additional_headers: Optional[HeadersLike] = None,
    origin: Optional[str] = None,
    user_agent_header: Optional[str] = DEFAULT_USER_AGENT,
    compression: Optional[str] = "deflate",
    open_timeout: Optional[float] = 10,
    close_timeout: Optional[float] = 10,
    ping_interval: Optional[float] = 20,
    ping_timeout: Optional[float] = 20,
    max_size: Optional[int] = 2**20,
    max_queue: Optional[int] = 16,
    ssl: Any = None,
    server_hostname: Optional[str] = None,
    proxy: Optional[str] = None,
    sock: Any = None,
    plugins: Any = None,
    disable_plugins: Sequence[str] = (),
    plugin_options: Optional[Mapping[str, Any]] = None,
    one_connecting_per_host: bool = False,
) -> ClientConnection:
    """Open a WebSocket connection to ``uri`` and return it once the handshake is done.

    Options are named as in ``websockets`` (see the README's option table). Raises
    :class:`InvalidURI`, :class:`InvalidHandshake` (and its :class:`InvalidStatus`,
    :class:`OpenTimeout` subclasses), or ``OSError`` for a refused connection,
    DNS failure or TLS verification failure. Only ``open_timeout`` bounds the
    whole opening: DNS, TCP, TLS, and the HTTP upgrade (and, with
    ``one_connecting_per_host``, the wait for other connections to the same host
    to finish opening: RFC 6455 §4.1, see :mod:`geventws.admission`).
    """
    parsed = _parse_uri(uri)
    if compression not in ("deflate", None):
        raise ValueError(f"unsupported compression {compression!r}: use 'deflate' or None")
    if max_size is not None and max_size < 0:
        raise ValueError("max_size must be None or >= 0")
    headers: list[tuple[str, str]] = []
    if additional_headers is not None:
        items = additional_headers.items() if isinstance(additional_headers, Mapping) \
            else additional_headers
        headers = [(str(k), str(v)) for k, v in items]
    if parsed.user_info is not None and not any(k.lower() == "authorization" for k, _ in headers):
        import base64

        creds = ":".join(parsed.user_info).encode("utf-8")
        headers.append(("Authorization", "Basic " + base64.b64encode(creds).decode("ascii")))
    negotiation = start_negotiation(
        parsed,
        subprotocols=list(subprotocols or ()),
        compression=compression,
        max_size=max_size,
        plugins=plugins,
        disable_plugins=disable_plugins,
        plugin_options=plugin_options or {},
        open_timeout=open_timeout,
    )
    headers = negotiation.request_headers(headers)
    handshake = ClientHandshake(
        parsed.host_header,
        parsed.resource_name,
        origin=origin,
        subprotocols=negotiation.subprotocols,
        extensions_offer=negotiation.extensions_offer,
        additional_headers=headers,
        user_agent=user_agent_header,
    )
    timer = gevent.Timeout(open_timeout)  # OpenTimeout is built only if it fires
    stream: Any = None
    timer.start()
    try:
        admitted: Any = contextlib.nullcontext()
        if one_connecting_per_host:
            key = host_key(parsed.host, parsed.port, resolve=proxy is None and sock is None)
            admitted = one_connecting(key)
        with admitted:
            stream = open_stream(parsed, ssl=ssl, server_hostname=server_hostname, proxy=proxy,
                                 sock=sock)
            _send_all(stream, handshake.request_bytes())
            result: Optional[HandshakeResult] = None
            while result is None:
                data = stream.recv(_RECV_SIZE)
                result = handshake.receive_data(data)
                if result is None and not data:  # pragma: no cover - receive_data raises
                    raise InvalidHandshake("connection closed during the opening handshake")
        extensions = negotiation.accept(result)
        protocol = Protocol(Role.CLIENT, max_size=max_size, extensions=extensions,
                            observer=negotiation.frame_observer())
    except BaseException as exc:
        if stream is not None:
            stream.close()
        elif sock is not None:
            sock.close()
        if exc is timer:
            raise OpenTimeout(f"opening handshake timed out after {open_timeout} s") from None
        raise
    finally:
        timer.close()
    connection = ClientConnection(
        stream,
        protocol,
        result,
        uri=parsed,
        negotiation=negotiation,
        close_timeout=close_timeout,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        max_queue=max_queue,
    )
    negotiation.opened(connection)
    return connection


__all__ += ["ConnectionClosed", "InvalidURI", "ProtocolError", "WebSocketException"]
