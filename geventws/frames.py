"""WebSocket frames (RFC 6455 §5): opcodes, the frame tuple, close payloads, serialization.

Parsing lives in :mod:`geventws.protocol`, whose hot loop reads headers inline;
this module holds the vocabulary both directions share and the writer.
"""

from __future__ import annotations

import enum
import os
import struct
from typing import NamedTuple, Union

from .exceptions import ProtocolError

try:  # the optional C accelerator, with its pure-Python twins as fallback
    from ._speedups import (
        apply_mask,
        build_frame,
        build_masked_frame,
        new_mask,
        reset_mask_pool,
    )
except ImportError:  # pragma: no cover - exercised when built without a compiler
    from ._mask import apply_mask, build_frame, build_masked_frame, new_mask, reset_mask_pool

if hasattr(os, "register_at_fork"):  # a forked child draws its own keys, not its parent's
    os.register_at_fork(after_in_child=reset_mask_pool)

__all__ = [
    "CLOSE_CODE_EXPLANATIONS",
    "Close",
    "Frame",
    "Opcode",
    "apply_mask",
    "build_frame",
    "build_masked_frame",
    "frame_buffers",
    "is_valid_close_code",
    "new_mask",
    "serialize_frame",
]

Buffer = Union[bytes, bytearray, memoryview]


class Opcode(enum.IntEnum):
    """Frame opcodes (RFC 6455 §5.2); 3–7 and 0xB–0xF are reserved."""

    CONT = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


DATA_OPCODES = frozenset((0x0, 0x1, 0x2))
CONTROL_OPCODES = frozenset((0x8, 0x9, 0xA))


class Frame(NamedTuple):
    """One frame as it crosses the extension chain: payload unmasked, RSV bits as flags."""

    opcode: int
    data: bytes
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False


CLOSE_CODE_EXPLANATIONS = {
    1000: "OK",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "no status received [internal]",
    1006: "connection closed abnormally [internal]",
    1007: "invalid frame payload data",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension",
    1011: "internal error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
    1015: "TLS handshake failure [internal]",
}

# Codes a peer may put on the wire (RFC 6455 §7.4.1 and the IANA registry):
# 1004/1005/1006/1015 are reserved or internal, 1016–2999 are unassigned.
_WIRE_CODES = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014))


def is_valid_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a close frame on the wire."""
    return code in _WIRE_CODES or 3000 <= code <= 4999


class Close(NamedTuple):
    """The payload of a close frame: a status code and a UTF-8 reason."""

    code: int
    reason: str = ""

    def __str__(self) -> str:
        if 3000 <= self.code < 4000:
            explanation = "registered"
        elif 4000 <= self.code < 5000:
            explanation = "private use"
        else:
            explanation = CLOSE_CODE_EXPLANATIONS.get(self.code, "unknown")
        text = f"{self.code} ({explanation})"
        return f"{text} {self.reason}" if self.reason else text

    @classmethod
    def parse(cls, data: bytes) -> Close:
        """Decode a close payload; an empty one means 1005, i.e. no status code.

        Raises :class:`ProtocolError` for a 1-byte payload or a code not allowed on
        the wire, and :class:`UnicodeDecodeError` for a reason that is not UTF-8.
        """
        if not data:
            return cls(1005, "")
        if len(data) == 1:
            raise ProtocolError("close frame with a 1-byte payload")
        code = (data[0] << 8) | data[1]
        if not is_valid_close_code(code):
            raise ProtocolError(f"invalid close code {code}")
        return cls(code, data[2:].decode("utf-8"))

    def serialize(self) -> bytes:
        """Encode as a close payload; 1005 serializes as the empty payload."""
        if self.code == 1005:
            return b""
        return struct.pack("!H", self.code) + self.reason.encode("utf-8")


_pack_h = struct.Struct("!BB").pack
_pack_h16 = struct.Struct("!BBH").pack
_pack_h64 = struct.Struct("!BBQ").pack
# Payloads up to this size are joined to their header: one write beats two.
JOIN_LIMIT = 4096
# A masked payload is copied anyway (to mask it): up to this size it is masked
# straight into the frame, so the frame is one send() (and one wake-up of the peer),
# not two. Extensions' frames take this path: a compressed 64 KiB message is ~10 KiB.
JOIN_MASKED = 65535


def frame_header(first: int, length: int, mask_bit: int) -> bytes:
    """The 2–10 header bytes: ``first`` is FIN|RSV|opcode, ``mask_bit`` 0x80 or 0."""
    if length < 126:
        return _pack_h(first, mask_bit | length)
    if length < 65536:
        return _pack_h16(first, mask_bit | 126, length)
    return _pack_h64(first, mask_bit | 127, length)


def serialize_frame(frame: Frame, *, mask: bool) -> list[bytes]:
    """Encode ``frame`` as a list of buffers to write in order (header, then payload).

    Clients must mask (``mask=True``), servers must not. See :func:`frame_buffers`.
    """
    first = (
        (0x80 if frame.fin else 0)
        | (0x40 if frame.rsv1 else 0)
        | (0x20 if frame.rsv2 else 0)
        | (0x10 if frame.rsv3 else 0)
        | frame.opcode
    )
    return frame_buffers(first, frame.data, mask)


def frame_buffers(first: int, data: Buffer, mask: bool) -> list[bytes]:
    """The buffers of one frame, to write in order; ``first`` is FIN|RSV|opcode.

    A frame of up to 4 KiB, or a masked one of up to 64 KiB (such as a compressed
    message), is one buffer built in one go: one write. A larger payload is its own
    buffer: unmasked, written without a copy; masked, exactly the message's size, so
    an echo-like exchange reuses the block the last received message freed (a
    header-sized difference made malloc take fresh pages).
    """
    n = len(data)
    if mask:
        if n <= JOIN_MASKED:
            return [build_masked_frame(first, data)]
        key = new_mask()
        return [frame_header(first, n, 0x80) + key, apply_mask(data, key)]
    if n <= JOIN_LIMIT:
        return [build_frame(first, data)]
    return [frame_header(first, n, 0), data if isinstance(data, bytes) else bytes(data)]
