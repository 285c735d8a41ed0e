"""Raw frame bytes for tests, written independently of geventws.frames."""

from __future__ import annotations

import struct


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0,
          mask: bytes | None = None, length: int | None = None) -> bytes:
    """Encode one frame by hand; ``length`` overrides the declared payload length."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mbit = 0x80 if mask is not None else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if mask is not None:
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head += mask
    return head + payload


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


def unmask_frames(data: bytes) -> list[tuple[int, bool, int, bytes]]:
    """Decode masked client frames: (opcode, fin, rsv, payload) each."""
    out = []
    pos = 0
    while pos < len(data):
        b0, b1 = data[pos], data[pos + 1]
        assert b1 & 0x80, "client frames must be masked"
        n = b1 & 0x7F
        pos += 2
        if n == 126:
            (n,) = struct.unpack("!H", data[pos:pos + 2])
            pos += 2
        elif n == 127:
            (n,) = struct.unpack("!Q", data[pos:pos + 8])
            pos += 8
        mask = data[pos:pos + 4]
        pos += 4
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(data[pos:pos + n]))
        pos += n
        out.append((b0 & 0x0F, bool(b0 & 0x80), (b0 >> 4) & 7, payload))
    return out
