"""The sans-IO WebSocket engine (RFC 6455 §5–§7): bytes in, events and bytes out.

:class:`Protocol` starts where the opening handshake ends. Feed it what the socket
gave with :meth:`~Protocol.receive_data` / :meth:`~Protocol.receive_eof`, collect
:meth:`~Protocol.events_received` and write :meth:`~Protocol.data_to_send`. It
imports no I/O library, so every rule below is tested without a network.

States (one direction per column, read as a table)::

    state     we may send data   we process input     how we get here
    OPEN      yes                yes                  handshake done
    CLOSING   no                 until a close frame  we sent a close frame, or received one
    CLOSED    no                 no                   both close frames crossed, or EOF

Rules enforced on input, each failing the connection with the close code the RFC
names: masked frames from a server or unmasked ones from a client, reserved opcodes,
reserved bits no extension handled, fragmented or oversized (>125) control frames,
continuation frames out of place (1002); invalid UTF-8 in text messages, checked
incrementally so a bad fragment fails at once, and in close reasons (1007);
messages over ``max_size`` (1009), detected from the frame header before the
payload is buffered. After a close frame nothing more is processed.
"""

from __future__ import annotations

import codecs
import enum
from collections.abc import Sequence
from typing import Any, Callable, Optional, Union
from typing import Protocol as TypingProtocol

from .events import Event, Ping, Pong
from .exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    PayloadTooBig,
    ProtocolError,
)
from .extensions.base import Extension
from .frames import (
    JOIN_LIMIT,
    JOIN_MASKED,
    Close,
    Frame,
    apply_mask,
    build_frame,
    build_masked_frame,
    frame_buffers,
    serialize_frame,
)

__all__ = ["InvalidState", "Protocol", "Role", "State"]

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

Data = Union[bytes, bytearray, memoryview]

# Unmasked frames from this size on that arrive in pieces are assembled from their
# payload pieces alone: one allocation and copy instead of two (join, then slice),
# which also keeps malloc from handing megabytes back to the OS between messages.
_BIG_FRAME = 65536


def _wire_bound(room: int) -> int:
    """The largest frame payload that may still carry ``room`` bytes of message.

    An extension can make a frame larger than the data it carries: deflate
    expands incompressible data (by under 1/8 + 1/64 even with fixed Huffman
    codes, plus a few bytes per block), so a message of exactly ``max_size``
    bytes may arrive in a bigger frame. With extensions negotiated the header
    check only bounds buffering by this; the exact ``max_size`` check happens
    once the frame is decoded.
    """
    return room + (room >> 3) + (room >> 6) + 1024


_new_utf8_decoder: Callable[[], codecs.IncrementalDecoder] = codecs.getincrementaldecoder("utf-8")


class Role(enum.Enum):
    """Which end we are: clients mask what they send, servers must not."""

    CLIENT = "client"
    SERVER = "server"


class State(enum.IntEnum):
    """Connection state, numbered as the WHATWG ``readyState`` (CONNECTING is the handshake's)."""

    OPEN = 1
    CLOSING = 2
    CLOSED = 3


class FrameObserver(TypingProtocol):
    """Sees frames as they cross the wire (after extensions when sending, before them
    when receiving), payloads unmasked; it must not change them."""

    def frame_sent(self, frame: Frame) -> None: ...

    def frame_received(self, frame: Frame) -> None: ...


class InvalidState(Exception):
    """An operation the current state does not allow (e.g. sending after close)."""


class Protocol:
    """One WebSocket connection's frame engine, for either role."""

    def __init__(
        self,
        role: Role = Role.CLIENT,
        *,
        max_size: Optional[int] = 2**20,
        extensions: Sequence[Extension] = (),
        observer: Optional[FrameObserver] = None,
    ) -> None:
        self.role = role
        self.max_size = max_size
        self.extensions: list[Extension] = list(extensions)
        #: Sees every frame as it crosses the wire, without changing it (tracing plugins).
        #: Unlike an extension it leaves the engine's checks and fast paths as they are.
        self.observer = observer
        self.state = State.OPEN
        #: The close frame received and the one sent, once they are.
        self.close_rcvd: Optional[Close] = None
        self.close_sent: Optional[Close] = None
        self.close_rcvd_then_sent: Optional[bool] = None
        #: Set when we failed the connection (code 1002/1007/1009/...).
        self.failure: Optional[Exception] = None
        self.eof_received = False

        self._mask = role is Role.CLIENT
        # Neither extensions nor the observer change after construction: a client with
        # neither takes the hot paths (frame_message, one-frame reads).
        self._plain = self._mask and not self.extensions and observer is None
        self._events: list[Event] = []
        self._out: list[bytes] = []
        # Input buffering: chunks wait here until ``_need`` bytes are available,
        # so a large frame arriving in pieces is joined once, not re-copied per read.
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._need = 2
        self._discard = False
        # The header length of the large frame being received in pieces, if any.
        self._big: Optional[int] = None
        # The fragmented message being received, if any.
        self._frag_opcode: Optional[int] = None
        self._frag_parts: list[Any] = []
        self._frag_size = 0
        self._frag_decoder: Optional[codecs.IncrementalDecoder] = None
        # A text frame whose payload is still arriving: [decoder, mask key, bytes seen].
        # Its pieces are validated as they come, so invalid UTF-8 fails the connection
        # at once rather than when the (maybe huge, maybe never finished) frame ends.
        self._partial: Optional[list[Any]] = None
        # The fragmented message being sent, if any.
        self._sending_fragments = False

    # -- output ---------------------------------------------------------------

    def data_to_send(self) -> list[bytes]:
        """Bytes to write, in order; an empty list when there is nothing."""
        out = self._out
        if out:
            self._out = []
        return out

    def events_received(self) -> list[Event]:
        """Events parsed since the last call."""
        events = self._events
        if events:
            self._events = []
        return events

    def close_expected(self) -> bool:
        """Whether the TCP connection should end now (or soon) from either side.

        True once a close frame was sent or received, or the engine failed.
        """
        return self.state is not State.OPEN

    @property
    def close_exc(self) -> ConnectionClosed:
        """The exception that describes how the connection ended (or is ending)."""
        rcvd, sent = self.close_rcvd, self.close_sent
        ok_codes = (1000, 1001)
        if (
            self.failure is None
            and rcvd is not None
            and sent is not None
            and rcvd.code in (*ok_codes, 1005)
            and sent.code in (*ok_codes, 1005)
        ):
            exc_type: type[ConnectionClosed] = ConnectionClosedOK
        else:
            exc_type = ConnectionClosedError
        exc = exc_type(rcvd, sent, self.close_rcvd_then_sent)
        if self.failure is not None:
            exc.__cause__ = self.failure
        return exc

    # -- sending --------------------------------------------------------------

    def _check_open(self) -> None:
        if self.state is not State.OPEN:
            raise InvalidState(f"cannot send in state {self.state.name}")

    def send_text(self, data: Union[str, Data], fin: bool = True) -> None:
        """Send a text message, or its first fragment when ``fin`` is false.

        ``data`` may be ``str`` or UTF-8 encoded bytes (not checked again).
        """
        if isinstance(data, str):
            data = data.encode("utf-8")
        self._send_data(OP_TEXT, data, fin)

    def send_binary(self, data: Data, fin: bool = True) -> None:
        """Send a binary message, or its first fragment when ``fin`` is false."""
        self._send_data(OP_BINARY, data, fin)

    def send_continuation(self, data: Union[str, Data], fin: bool) -> None:
        """Send the next fragment of the message started with ``fin=False``."""
        if not self._sending_fragments:
            raise InvalidState("no fragmented message is being sent")
        if isinstance(data, str):
            data = data.encode("utf-8")
        self._send_data(OP_CONT, data, fin)

    def frame_message(self, data: Data, text: bool) -> Optional[bytes]:
        """The bytes of a small whole message, to write at once, or ``None`` when it
        takes :meth:`send_text`/:meth:`send_binary` instead (extensions or an observer,
        not OPEN, a fragmented message being sent, output waiting, over 64 KiB for a
        client, over 4 KiB for a server).

        ``data`` is the payload (UTF-8 for text, not checked again). This is the
        round-trip hot path: one frame built in one go, nothing queued, so the I/O
        layer can write it without taking its lock.
        """
        if self._plain:
            if (
                self.state is State.OPEN
                and not self._sending_fragments
                and not self._out
                and len(data) <= JOIN_MASKED
            ):
                return build_masked_frame(0x81 if text else 0x82, data)
            return None
        if (
            self.state is not State.OPEN
            or self._sending_fragments
            or self._out
            or self.extensions
            or self.observer is not None
            or len(data) > JOIN_LIMIT
        ):
            return None
        return build_frame(0x81 if text else 0x82, data)

    def _send_data(self, opcode: int, data: Data, fin: bool) -> None:
        if self.state is not State.OPEN:
            raise InvalidState(f"cannot send in state {self.state.name}")
        if opcode != OP_CONT and self._sending_fragments:
            raise InvalidState("a fragmented message is being sent; finish it first")
        self._sending_fragments = not fin
        if self.extensions:
            self._send_frame(Frame(opcode, bytes(data), fin))
            return
        # Hot path: no extension, the frame built in one go (C: one allocation).
        if self.observer is not None:
            self.observer.frame_sent(Frame(opcode, bytes(data), fin))
        self._out.extend(frame_buffers(opcode | 0x80 if fin else opcode, data, self._mask))

    def send_ping(self, data: Data = b"") -> None:
        """Send a ping (payload at most 125 bytes)."""
        self._check_open()
        self._send_control(OP_PING, bytes(data))

    def send_pong(self, data: Data = b"") -> None:
        """Send an unsolicited pong (payload at most 125 bytes)."""
        self._check_open()
        self._send_control(OP_PONG, bytes(data))

    def send_close(self, code: Optional[int] = 1000, reason: str = "") -> None:
        """Start (or answer) the closing handshake; ``code=None`` sends no status."""
        if self.close_sent is not None:
            raise InvalidState("a close frame was already sent")
        close = Close(1005 if code is None else code, reason)
        payload = close.serialize()
        self._send_control(OP_CLOSE, payload)
        self.close_sent = close
        if self.close_rcvd is not None and self.close_rcvd_then_sent is None:
            self.close_rcvd_then_sent = True
        elif self.close_rcvd is None:
            self.close_rcvd_then_sent = False
        self.state = State.CLOSING
        if self.close_rcvd is not None and self.role is Role.SERVER:
            self.state = State.CLOSED

    def _send_control(self, opcode: int, payload: bytes) -> None:
        if len(payload) > 125:
            raise ProtocolError("control frame payloads are limited to 125 bytes")
        self._send_frame(Frame(opcode, payload))

    def _send_frame(self, frame: Frame) -> None:
        for ext in self.extensions:
            frame = ext.encode(frame)
        if self.observer is not None:
            self.observer.frame_sent(frame)
        self._out.extend(serialize_frame(frame, mask=self._mask))

    def fail(self, code: int, reason: str = "", exc: Optional[Exception] = None) -> None:
        """Fail the connection (RFC 6455 §7.1.7): send a close frame, then ignore input."""
        if self.failure is None:
            self.failure = exc or ProtocolError(reason or f"failed with code {code}")
        if self.close_sent is None and self.state is State.OPEN:
            self.send_close(code, reason)
        self._stop_input()
        if self.state is State.OPEN:
            self.state = State.CLOSING

    # -- receiving ------------------------------------------------------------

    def receive_eof(self) -> None:
        """The peer closed its side of the TCP connection."""
        self.eof_received = True
        self.state = State.CLOSED
        self._stop_input()

    def _stop_input(self) -> None:
        """Process nothing more: drop what is buffered and every partial-frame state."""
        self._discard = True
        self._chunks = []
        self._buffered = 0
        self._partial = None
        self._big = None

    def receive_data(self, data: Data) -> None:
        """Parse bytes from the socket; events and replies queue up for collection."""
        if self._discard or not data:
            return
        if not isinstance(data, bytes):
            data = bytes(data)
        try:
            # Hot path: the read is exactly one small, whole, unmasked text or binary
            # frame, with nothing buffered, no fragmented message, no extension.
            b1 = data[1] if len(data) > 1 else 126
            if (
                b1 < 126
                and b1 == len(data) - 2
                and self._plain
                and not self._chunks
                and self._frag_opcode is None
                and (self.max_size is None or b1 <= self.max_size)
            ):
                b0 = data[0]
                if b0 == 0x81:
                    self._events.append(data[2:].decode("utf-8"))
                    return
                if b0 == 0x82:
                    self._events.append(data[2:])
                    return
            self._buffered += len(data)
            if self._buffered < self._need:
                self._chunks.append(data)
                if self._partial is not None:
                    self._check_partial(data)
                return
            big = None
            if self._chunks:
                self._chunks.append(data)
                if self._big is None:
                    data = b"".join(self._chunks)
                else:
                    data, big = self._big_frame(self._chunks)
                self._chunks = []
            self._partial = None
            pos = self._parse(data, big)
            if self._partial is not None:
                self._check_partial(memoryview(data)[pos + self._partial[3] :])
        except PayloadTooBig as exc:
            self.fail(1009, str(exc)[:120], exc)
            return
        except UnicodeDecodeError as exc:
            self.fail(1007, "invalid UTF-8", ProtocolError(str(exc)))
            return
        except ProtocolError as exc:
            self.fail(1002, str(exc)[:120], exc)
            return
        if self._discard:
            return
        rest = len(data) - pos
        self._buffered = rest
        if rest:
            self._chunks.append(data[pos:] if pos else data)

    def _big_frame(self, chunks: list[bytes]) -> tuple[bytes, bytes]:
        """Split the chunks that complete a large frame into its header plus what follows
        the frame, and its payload, joined once (:meth:`_parse` takes both).

        Only the last chunk can hold bytes past the frame's end: the ones before it
        left the frame incomplete.
        """
        hlen = self._big or 0
        self._big = None
        remaining = self._need - hlen
        head = b""
        rest = b""
        views = []
        for chunk in chunks:
            view = memoryview(chunk)
            if len(head) < hlen:
                take = hlen - len(head)
                head += bytes(view[:take])
                view = view[take:]
            if len(view) > remaining:
                rest = bytes(view[remaining:])
                view = view[:remaining]
            if view:
                views.append(view)
                remaining -= len(view)
        return head + rest, b"".join(views)

    def _parse(self, data: bytes, big: Optional[bytes] = None) -> int:
        """Handle every complete frame in ``data``; return where the first incomplete one starts.

        With ``big``, ``data`` starts with a large frame's header only and ``big`` is its payload.
        """
        end = len(data)
        pos = 0
        client = self._mask
        extensions = self.extensions
        events = self._events
        max_size = self.max_size
        while True:
            if end - pos < 2:
                self._need = 2
                return pos
            b0 = data[pos]
            b1 = data[pos + 1]
            opcode = b0 & 0x0F
            length = b1 & 0x7F
            hlen = 2
            if length == 126:
                if end - pos < 4:
                    self._need = 4
                    return pos
                length = (data[pos + 2] << 8) | data[pos + 3]
                hlen = 4
            elif length == 127:
                if end - pos < 10:
                    self._need = 10
                    return pos
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
                if length >> 63:
                    raise ProtocolError("frame length has its most significant bit set")
                hlen = 10
            masked = b1 & 0x80
            if masked:
                if client:
                    raise ProtocolError("the server sent a masked frame")
                hlen += 4
            elif not client:
                raise ProtocolError("the client sent an unmasked frame")
            # Everything the header alone can tell is checked before the payload arrives.
            if opcode >= 8:
                if opcode > OP_PONG:
                    raise ProtocolError(f"reserved opcode {opcode:#x}")
                if not b0 & 0x80:
                    raise ProtocolError("fragmented control frame")
                if length > 125:
                    raise ProtocolError("control frame payload over 125 bytes")
            elif opcode > OP_BINARY:
                raise ProtocolError(f"reserved opcode {opcode:#x}")
            elif max_size is not None and self._frag_size + length > max_size and (
                not extensions or length > _wire_bound(max_size - self._frag_size)
            ):
                raise PayloadTooBig(
                    f"message over max_size: {self._frag_size + length} > {max_size} bytes"
                )
            if b0 & 0x70 and not extensions:
                raise ProtocolError("reserved bits set and no extension negotiated")
            frame_end = pos + hlen + length
            if frame_end > end and big is None:
                self._need = frame_end - pos
                if length >= _BIG_FRAME and not masked:
                    self._big = hlen
                if not extensions and (
                    (opcode == OP_TEXT and self._frag_opcode is None)
                    or (opcode == OP_CONT and self._frag_decoder is not None)
                ):
                    if end - pos < hlen:
                        self._need = hlen  # parse again once the mask key is here
                    else:
                        self._watch_text(opcode, data[pos + hlen - 4 : pos + hlen]
                                         if masked else None, hlen)
                return pos
            start = pos + hlen
            payload: Any
            if big is not None:
                payload, big, frame_end = big, None, start
            elif masked:
                payload = apply_mask(
                    data[start:frame_end], data[start - 4 : start]
                )
            else:
                payload = data[start:frame_end]
            pos = frame_end
            fin = b0 & 0x80
            if self.observer is not None:
                self.observer.frame_received(Frame(opcode, payload, bool(fin), bool(b0 & 0x40),
                                                   bool(b0 & 0x20), bool(b0 & 0x10)))
            if extensions:
                frame = Frame(opcode, payload, bool(fin), bool(b0 & 0x40), bool(b0 & 0x20),
                              bool(b0 & 0x10))
                for ext in reversed(extensions):
                    frame = ext.decode(frame, max_size=self._room(frame.opcode))
                if frame.rsv1 or frame.rsv2 or frame.rsv3:
                    raise ProtocolError("reserved bits set that no extension handled")
                payload = frame.data
                fin = frame.fin
            if opcode >= 8:
                self._control(opcode, payload)
                if self._discard:
                    return end
                continue
            # Data frames.
            frag_opcode = self._frag_opcode
            if frag_opcode is None:
                if opcode == OP_CONT:
                    raise ProtocolError("continuation frame without a message to continue")
                if fin:
                    if extensions and max_size is not None and len(payload) > max_size:
                        raise PayloadTooBig(f"message over max_size ({max_size} bytes)")
                    events.append(payload.decode("utf-8") if opcode == OP_TEXT else payload)
                    continue
                if extensions and max_size is not None and len(payload) > max_size:
                    raise PayloadTooBig(f"message over max_size ({max_size} bytes)")
                self._frag_opcode = opcode
                self._frag_size = len(payload)
                if opcode == OP_TEXT:
                    decoder = self._frag_decoder = _new_utf8_decoder()
                    self._frag_parts = [decoder.decode(payload)]
                else:
                    self._frag_parts = [payload]
            else:
                if opcode != OP_CONT:
                    raise ProtocolError("new data frame inside a fragmented message")
                self._frag_size += len(payload)
                if max_size is not None and self._frag_size > max_size:
                    raise PayloadTooBig(f"message over max_size ({max_size} bytes)")
                frag_decoder = self._frag_decoder
                if frag_decoder is not None:
                    self._frag_parts.append(frag_decoder.decode(payload, bool(fin)))
                else:
                    self._frag_parts.append(payload)
                if fin:
                    parts = self._frag_parts
                    events.append(("" if frag_decoder else b"").join(parts))
                    self._frag_opcode = None
                    self._frag_decoder = None
                    self._frag_parts = []
                    self._frag_size = 0

    def _watch_text(self, opcode: int, key: Optional[bytes], hlen: int) -> None:
        """Start validating an incomplete text frame, from where its message stands."""
        decoder = _new_utf8_decoder()
        if opcode == OP_CONT and self._frag_decoder is not None:
            decoder.setstate(self._frag_decoder.getstate())
        self._partial = [decoder, key, 0, hlen]

    def _check_partial(self, data: Data) -> None:
        """Validate more payload of the incomplete text frame (UnicodeDecodeError if bad).

        Only the validity is kept; the whole frame is decoded again once complete.
        """
        partial = self._partial
        assert partial is not None
        key, seen = partial[1], partial[2]
        partial[2] = seen + len(data)
        if key is not None:
            shift = seen % 4
            data = apply_mask(data, key[shift:] + key[:shift])
        partial[0].decode(data)

    def _room(self, opcode: int) -> Optional[int]:
        """How many more payload bytes the current message may grow by."""
        if self.max_size is None or opcode >= 8:
            return None if self.max_size is None else 125
        return self.max_size - (self._frag_size if opcode == OP_CONT else 0)

    def _control(self, opcode: int, payload: bytes) -> None:
        if opcode == OP_PING:
            self._events.append(Ping(payload))
            if self.close_sent is None:
                self._send_control(OP_PONG, payload)
        elif opcode == OP_PONG:
            self._events.append(Pong(payload))
        else:
            close = Close.parse(payload)  # ProtocolError / UnicodeDecodeError fail the connection
            self.close_rcvd = close
            self._events.append(close)
            if self.close_sent is None:
                # Echo the status code (RFC 6455 §5.5.1); a frame without one is echoed empty.
                self.send_close(None if close.code == 1005 else close.code)
            elif self.close_rcvd_then_sent is None:
                self.close_rcvd_then_sent = False
            self.state = State.CLOSED if self.role is Role.SERVER else State.CLOSING
            # Nothing after a close frame is processed (RFC 6455 §5.5.1).
            self._stop_input()
