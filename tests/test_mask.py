"""Masking (RFC 6455 §5.3): the C accelerator and its pure-Python twin agree."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geventws import _mask, frames

try:
    from geventws import _speedups
except ImportError:  # pragma: no cover
    _speedups = None  # type: ignore[assignment]

IMPLEMENTATIONS = [_mask.apply_mask] + ([_speedups.apply_mask] if _speedups else [])


def reference(data: bytes, mask: bytes) -> bytes:
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


@pytest.mark.parametrize("apply_mask", IMPLEMENTATIONS)
@given(data=st.binary(max_size=2000), mask=st.binary(min_size=4, max_size=4))
def test_matches_reference(apply_mask, data, mask):
    assert apply_mask(data, mask) == reference(data, mask)


@pytest.mark.parametrize("apply_mask", IMPLEMENTATIONS)
@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_accepts_bytes_likes_and_is_an_involution(apply_mask, kind):
    data = bytes(range(256)) * 3 + b"tail"
    masked = apply_mask(kind(data), b"\x01\x02\x03\x04")
    assert isinstance(masked, bytes)
    assert apply_mask(masked, b"\x01\x02\x03\x04") == data


@pytest.mark.parametrize("apply_mask", IMPLEMENTATIONS)
def test_rejects_bad_mask_length(apply_mask):
    with pytest.raises(ValueError):
        apply_mask(b"abc", b"\x00\x01")


def test_accelerator_is_used_when_built_else_the_python_twin():
    expected = _speedups.apply_mask if _speedups is not None else _mask.apply_mask
    assert frames.apply_mask is expected


def test_mask_keys_are_fresh():
    keys = {frames.new_mask() for _ in range(2000)}
    assert all(len(k) == 4 for k in keys)
    assert len(keys) > 1990  # 32 random bits: collisions among 2,000 are very unlikely
