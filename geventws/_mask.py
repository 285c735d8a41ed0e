"""Pure-Python masking and frame building (RFC 6455 §5.2–§5.3), the fallback twins
of ``_speedups``: ``apply_mask``, ``build_frame``, ``new_mask``, ``build_masked_frame``
and ``reset_mask_pool``.

XOR-ing through Python's arbitrary-precision integers runs in C loops, so this
stays within a small factor of memory speed even without the accelerator.
"""

from __future__ import annotations

import os
import struct
from typing import Optional, Union

Buffer = Union[bytes, bytearray, memoryview]

_pack_h = struct.Struct("!BB").pack
_pack_h16 = struct.Struct("!BBH").pack
_pack_h64 = struct.Struct("!BBQ").pack


def apply_mask(data: Buffer, mask: bytes) -> bytes:
    """Return ``data`` XOR-ed with the 4-byte ``mask`` repeated (masking is its own inverse)."""
    if len(mask) != 4:
        raise ValueError("mask must contain 4 bytes")
    n = len(data)
    if n == 0:
        return b""
    key = int.from_bytes((mask * ((n >> 2) + 1))[:n], "little")
    return (int.from_bytes(data, "little") ^ key).to_bytes(n, "little")


def build_frame(first: int, data: Buffer, mask: Optional[bytes] = None) -> bytes:
    """One whole frame: header (``first`` is FIN|RSV|opcode), then the mask key and
    the masked payload when ``mask`` is given (clients), else the payload as is."""
    if not 0 <= first <= 255:
        raise ValueError("first must be a byte (0-255)")
    n = len(data)
    mask_bit = 0 if mask is None else 0x80
    if n < 126:
        header = _pack_h(first, mask_bit | n)
    elif n < 65536:
        header = _pack_h16(first, mask_bit | 126, n)
    else:
        header = _pack_h64(first, mask_bit | 127, n)
    if mask is None:
        return header + data
    return header + mask + apply_mask(data, mask)


class _MaskSource:
    """Masking keys from the OS's CSPRNG, fetched 4 KiB at a time.

    RFC 6455 §5.3 wants keys an intermediary cannot predict; slicing a buffer of
    ``os.urandom`` output keeps that while paying one system call per 1,024 frames.
    """

    __slots__ = ("_buf", "_pos")

    def __init__(self) -> None:
        self._buf = b""
        self._pos = 0

    def take(self) -> bytes:
        pos = self._pos
        if pos >= len(self._buf):
            self._buf = os.urandom(4096)
            pos = 0
        self._pos = pos + 4
        return self._buf[pos : pos + 4]

    def reset(self) -> None:
        """Forget the buffered bytes: a forked child must not reuse its parent's keys."""
        self._buf = b""
        self._pos = 0


_source = _MaskSource()
new_mask = _source.take
reset_mask_pool = _source.reset


def build_masked_frame(first: int, data: Buffer) -> bytes:
    """``build_frame`` with a fresh masking key (a client's frame)."""
    return build_frame(first, data, new_mask())
