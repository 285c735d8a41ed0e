"""Large frames arriving in pieces: assembled from their payload pieces, with identical events."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from geventws.frames import Close, Frame, serialize_frame
from geventws.protocol import Protocol, Role, State

BIG = 70_000  # over the engine's large-frame threshold (64 KiB)


def wire(*frames: Frame) -> bytes:
    return b"".join(b"".join(serialize_frame(f, mask=False)) for f in frames)


def feed(data: bytes, cuts: list[int], max_size: int | None = None) -> Protocol:
    proto = Protocol(Role.CLIENT, max_size=max_size)
    pos = 0
    for cut in [*sorted(set(c % (len(data) + 1) for c in cuts)), len(data)]:
        proto.receive_data(data[pos:cut])
        pos = max(pos, cut)
    return proto


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0), max_size=12))
def test_big_frames_in_pieces_give_the_same_events(cuts):
    binary = bytes(range(256)) * (BIG // 256 + 1)
    text = "é€😀a" * (BIG // 10 + 1)  # multi-byte characters land on every kind of cut
    data = wire(
        Frame(0x2, binary),
        Frame(0x1, b"small"),
        Frame(0x1, text.encode()[:BIG], fin=False),  # a fragmented large text message
        Frame(0x0, text.encode()[BIG:]),
        Frame(0x1, b"after"),
    )
    proto = feed(data, cuts)
    assert proto.events_received() == [binary, "small", text, "after"]
    assert proto.state is State.OPEN and proto.failure is None


def test_header_split_byte_by_byte_then_payload_and_next_frames_in_one_chunk():
    payload = b"\x07" * (BIG * 3)
    data = wire(Frame(0x2, payload), Frame(0x2, b"x"), Frame(0x8, Close(1000, "bye").serialize()))
    proto = Protocol(Role.CLIENT, max_size=None)
    for i in range(10):  # the 10-byte header, a byte at a time
        proto.receive_data(data[i : i + 1])
    proto.receive_data(data[10:5000])
    proto.receive_data(data[5000:])  # the payload's end, the next frame and a close frame
    events = proto.events_received()
    assert events[:2] == [payload, b"x"]
    assert events[2] == Close(1000, "bye")
    assert proto.close_rcvd == Close(1000, "bye")


def test_invalid_utf8_in_a_big_text_frame_fails_with_1007():
    data = wire(Frame(0x1, b"a" * BIG + b"\xff"))
    proto = feed(data, [3, 40_000])
    assert proto.events_received() == []
    assert proto.close_sent is not None and proto.close_sent.code == 1007


def test_big_frame_over_max_size_fails_before_its_payload_arrives():
    data = wire(Frame(0x2, b"z" * BIG))
    proto = Protocol(Role.CLIENT, max_size=BIG - 1)
    proto.receive_data(data[:100])
    assert proto.close_sent is not None and proto.close_sent.code == 1009
