"""Masking and frame building (RFC 6455 §5.2–§5.3): the C accelerator and its pure-Python
twins agree, and the engine sends the same bytes with either."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geventws import _mask, frames, protocol
from geventws.events import Ping
from geventws.protocol import Protocol, Role
from tests.wire import unmask_frames

try:
    from geventws import _speedups
except ImportError:  # pragma: no cover
    _speedups = None  # type: ignore[assignment]

IMPLEMENTATIONS = [_mask.apply_mask] + ([_speedups.apply_mask] if _speedups else [])
BUILDERS = [_mask.build_frame] + ([_speedups.build_frame] if _speedups else [])
KEY_SOURCES = [_mask] + ([_speedups] if _speedups else [])


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
    builder = _speedups.build_frame if _speedups is not None else _mask.build_frame
    assert frames.build_frame is builder
    source = _speedups if _speedups is not None else _mask
    assert frames.new_mask is source.new_mask
    assert frames.build_masked_frame is source.build_masked_frame


def reference_frame(first: int, data: bytes, mask: bytes | None) -> bytes:
    """RFC 6455 §5.2 written out: the length in 7, 7+16 or 7+64 bits, then key and payload."""
    n = len(data)
    bit = 0x80 if mask is not None else 0
    if n < 126:
        head = bytes([first, bit | n])
    elif n < 65536:
        head = bytes([first, bit | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([first, bit | 127]) + n.to_bytes(8, "big")
    if mask is None:
        return head + data
    return head + mask + reference(data, mask)


@pytest.mark.parametrize("build_frame", BUILDERS)
@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 125, 126, 127, 65535, 65536, 70001])
@pytest.mark.parametrize("masked", [True, False])
def test_build_frame_matches_the_rfc_layout_at_every_length_boundary(build_frame, size, masked):
    data = bytes(i * 7 & 0xFF for i in range(size))
    mask = b"\x9a\x01\xfe\x37" if masked else None
    for first in (0x81, 0x02, 0xC1, 0x00, 0x89):
        assert build_frame(first, data, mask) == reference_frame(first, data, mask)


@pytest.mark.parametrize("build_frame", BUILDERS)
@given(first=st.integers(0, 255), data=st.binary(max_size=600),
       mask=st.one_of(st.none(), st.binary(min_size=4, max_size=4)))
def test_build_frame_matches_reference(build_frame, first, data, mask):
    assert build_frame(first, data, mask) == reference_frame(first, data, mask)


@pytest.mark.parametrize("build_frame", BUILDERS)
@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_build_frame_accepts_bytes_likes(build_frame, kind):
    data = bytes(range(256)) * 2
    frame = build_frame(0x82, kind(data), b"\x01\x02\x03\x04")
    assert isinstance(frame, bytes)
    assert frame == reference_frame(0x82, data, b"\x01\x02\x03\x04")
    assert build_frame(0x82, kind(data)) == reference_frame(0x82, data, None)


@pytest.mark.parametrize("build_frame", BUILDERS)
def test_build_frame_rejects_bad_arguments(build_frame):
    with pytest.raises(ValueError):
        build_frame(0x81, b"abc", b"\x00\x01")
    with pytest.raises(ValueError):
        build_frame(256, b"abc", None)
    with pytest.raises(ValueError):
        build_frame(-1, b"abc", None)


@pytest.mark.parametrize("source", KEY_SOURCES)
@given(first=st.integers(0, 255), data=st.binary(max_size=70000))
def test_build_masked_frame_is_build_frame_with_a_fresh_key(source, first, data):
    frame = source.build_masked_frame(first, data)
    head = 2 + (0 if len(data) < 126 else 2 if len(data) < 65536 else 8)
    key = frame[head : head + 4]
    assert frame == reference_frame(first, data, key)


@pytest.mark.parametrize("source", KEY_SOURCES)
def test_build_masked_frame_rejects_bad_arguments(source):
    with pytest.raises(ValueError):
        source.build_masked_frame(256, b"abc")
    with pytest.raises(TypeError):
        source.build_masked_frame(0x81, "text")


@pytest.mark.parametrize("source", KEY_SOURCES)
def test_each_source_draws_fresh_keys_across_its_4_kib_refills(source):
    keys = [source.new_mask() for _ in range(3000)]  # 12 KB: three refills
    keys += [source.build_masked_frame(0x82, b"")[2:6] for _ in range(1100)]
    assert all(len(k) == 4 for k in keys)
    assert len(set(keys)) > len(keys) - 10


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_child_does_not_reuse_its_parents_keys():
    import os

    frames.new_mask()  # the pool now holds keys the child must not take too
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write_end, b"".join(frames.new_mask() for _ in range(8)))
        os._exit(0)
    os.close(write_end)
    child = os.read(read_end, 64)
    os.close(read_end)
    os.waitpid(pid, 0)
    parent = b"".join(frames.new_mask() for _ in range(8))
    assert len(child) == 32
    assert child != parent


@pytest.fixture(params=["c", "python"] if _speedups else ["python"])
def engine_impl(request, monkeypatch):
    """Run the engine with the accelerator or with the pure-Python twins."""
    if request.param == "python":
        for module in (frames, protocol):
            monkeypatch.setattr(module, "apply_mask", _mask.apply_mask)
            monkeypatch.setattr(module, "build_frame", _mask.build_frame)
            monkeypatch.setattr(module, "build_masked_frame", _mask.build_masked_frame)
    return request.param


@pytest.mark.parametrize("role", [Role.CLIENT, Role.SERVER])
def test_engine_sends_identical_frames_with_either_implementation(engine_impl, role):
    p = Protocol(role, max_size=None)
    messages = [b"", b"x", "héllo", b"y" * 126, "z" * 5000, b"w" * 70000]
    for message in messages:
        if isinstance(message, str):
            p.send_text(message)
        else:
            p.send_binary(bytearray(message))
    p.send_text("frag", fin=False)
    p.send_continuation(memoryview(b"ment"), fin=True)
    p.send_ping(b"ping")
    wire = b"".join(p.data_to_send())
    expected = [(1 if isinstance(m, str) else 2, True, 0,
                 m.encode() if isinstance(m, str) else m) for m in messages]
    expected += [(1, False, 0, b"frag"), (0, True, 0, b"ment"), (9, True, 0, b"ping")]
    if role is Role.CLIENT:
        assert unmask_frames(wire) == expected
    else:
        server_view = Protocol(Role.CLIENT, max_size=None)
        server_view.receive_data(wire)
        assert server_view.events_received() == [*messages, "fragment", Ping(b"ping")]


def test_mask_keys_are_fresh():
    keys = {frames.new_mask() for _ in range(2000)}
    assert all(len(k) == 4 for k in keys)
    assert len(keys) > 1990  # 32 random bits: collisions among 2,000 are very unlikely


@pytest.mark.parametrize(("size", "mask", "buffers"), [
    (4096, False, 1), (4097, False, 2),  # unmasked: the payload is written as it is
    (4097, True, 1), (65535, True, 1),  # masked: copied anyway, so into the frame
    (65536, True, 2),  # a large one keeps a buffer of its own (see protocol.py)
])
def test_serialize_frame_joins_masked_payloads_up_to_64_kib(size, mask, buffers):
    """An extension's frame (e.g. a compressed message) is one send() when masked."""
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    out = frames.serialize_frame(frames.Frame(0x2, data), mask=mask)
    assert len(out) == buffers
    wire = b"".join(out)
    proto = Protocol(Role.SERVER if mask else Role.CLIENT)  # who receives such frames
    proto.receive_data(wire)
    assert proto.events_received() == [data]
