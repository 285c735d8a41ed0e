"""Pure-Python masking (RFC 6455 §5.3), the fallback twin of ``_speedups.apply_mask``.

XOR-ing through Python's arbitrary-precision integers runs in C loops, so this
stays within a small factor of memory speed even without the accelerator.
"""

from __future__ import annotations

from typing import Union

Buffer = Union[bytes, bytearray, memoryview]


def apply_mask(data: Buffer, mask: bytes) -> bytes:
    """Return ``data`` XOR-ed with the 4-byte ``mask`` repeated (masking is its own inverse)."""
    if len(mask) != 4:
        raise ValueError("mask must contain 4 bytes")
    n = len(data)
    if n == 0:
        return b""
    key = int.from_bytes((mask * ((n >> 2) + 1))[:n], "little")
    return (int.from_bytes(data, "little") ^ key).to_bytes(n, "little")
