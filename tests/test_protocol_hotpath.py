"""The engine's round-trip hot paths give exactly what the general paths give.

``Protocol.frame_message`` builds a small whole message's frame for the I/O layer to
write at once; ``receive_data`` takes a read that is exactly one small whole frame
without buffering it. Each must refuse every case it does not cover.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geventws.extensions.base import Extension
from geventws.frames import Frame
from geventws.protocol import Protocol, Role, State
from tests.wire import frame, unmask_frames

small_text = st.text(max_size=1300).filter(lambda t: len(t.encode()) <= 4096)
# Up to 64 KiB, a client's frame is one buffer: the payload is copied to mask it anyway.
client_sizes = st.sampled_from([0, 125, 126, 4096, 4097, 65535])


@given(text=small_text, data=st.binary(max_size=4096))
def test_frame_message_is_what_send_text_and_send_binary_write(text, data):
    fast, general = Protocol(), Protocol()
    wire = [fast.frame_message(text.encode(), True), fast.frame_message(data, False)]
    general.send_text(text)
    general.send_binary(data)
    assert all(isinstance(w, bytes) for w in wire)
    assert unmask_frames(b"".join(wire)) == unmask_frames(b"".join(general.data_to_send()))
    assert fast.data_to_send() == []  # nothing queued: the caller writes it


@given(size=client_sizes)
def test_frame_message_takes_a_client_message_up_to_64_kib(size):
    data = bytes(range(256)) * (size // 256) + b"\x07" * (size % 256)
    frame = Protocol().frame_message(data, False)
    assert frame is not None
    assert unmask_frames(frame) == [(2, True, 0, data)]


def test_frame_message_from_a_server_is_unmasked():
    assert Protocol(Role.SERVER).frame_message(b"hi", True) == b"\x81\x02hi"


class _Identity(Extension):
    name = "identity"

    def encode(self, frame: Frame) -> Frame:
        return frame

    def decode(self, frame: Frame, *, max_size=None) -> Frame:
        return frame


class _Observer:
    def frame_sent(self, frame: Frame) -> None: ...
    def frame_received(self, frame: Frame) -> None: ...


def test_frame_message_refuses_what_the_general_path_must_handle():
    assert Protocol().frame_message(b"x" * 65536, False) is None  # large: two buffers
    assert Protocol(Role.SERVER).frame_message(b"x" * 4097, False) is None  # not masked
    assert Protocol(extensions=[_Identity()]).frame_message(b"x", True) is None
    assert Protocol(observer=_Observer()).frame_message(b"x", True) is None
    fragmenting = Protocol()
    fragmenting.send_text("first", fin=False)
    assert fragmenting.frame_message(b"x", True) is None  # would land inside the message
    pending = Protocol()
    pending.send_ping(b"p")  # output not yet collected: it goes first
    assert pending.frame_message(b"x", True) is None
    closing = Protocol()
    closing.send_close(1000)
    assert closing.state is State.CLOSING
    assert closing.frame_message(b"x", True) is None


@given(messages=st.lists(st.one_of(small_text.filter(lambda t: len(t.encode()) < 126),
                                   st.binary(max_size=125)), max_size=8))
def test_one_frame_per_read_gives_the_events_of_a_byte_at_a_time(messages):
    wire = [frame(1, m.encode()) if isinstance(m, str) else frame(2, m) for m in messages]
    whole, trickle = Protocol(), Protocol()
    for w in wire:
        whole.receive_data(w)
        for i in range(len(w)):
            trickle.receive_data(w[i : i + 1])
    assert whole.events_received() == trickle.events_received() == messages


@pytest.mark.parametrize(
    ("setup", "wire", "code"),
    [
        (None, frame(1, b"\xff\xfe"), 1007),  # invalid UTF-8
        (None, frame(1, b"caf\xc3"), 1007),  # truncated UTF-8 in a final frame
        ("max_size=3", frame(2, b"four"), 1009),
        ("fragment", frame(1, b"new"), 1002),  # a new message inside a fragmented one
        (None, frame(0, b"cont"), 1002),  # continuation with nothing to continue
        (None, frame(1, b"rsv", rsv=4), 1002),  # reserved bit, no extension
        (None, frame(2, b"masked", mask=b"abcd"), 1002),  # servers must not mask
        (None, frame(3, b"op"), 1002),  # reserved opcode
    ],
)
def test_a_single_frame_read_is_checked_as_strictly_as_any(setup, wire, code):
    p = Protocol(max_size=3) if setup == "max_size=3" else Protocol()
    if setup == "fragment":
        p.receive_data(frame(1, b"start", fin=False))
    p.receive_data(wire)
    assert p.close_sent is not None and p.close_sent.code == code
    assert [e for e in p.events_received() if isinstance(e, (str, bytes))] == []


def test_a_single_frame_read_after_buffered_bytes_goes_the_general_way():
    p = Protocol()
    first = frame(1, b"one")
    p.receive_data(first[:1])  # one byte buffered
    p.receive_data(first[1:] + frame(2, b"two"))
    p.receive_data(frame(1, b"three"))
    assert p.events_received() == ["one", b"two", "three"]


@given(messages=st.lists(st.one_of(st.text(max_size=200), st.binary(max_size=300)), max_size=10),
       cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12))
def test_any_split_of_a_stream_gives_its_messages(messages, cuts):
    """Reads that are whole frames (the hot path), parts of frames and several frames at
    once, in any mix, give the messages in order."""
    wire = b"".join(frame(1, m.encode()) if isinstance(m, str) else frame(2, m)
                    for m in messages)
    points = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})
    p = Protocol(max_size=None)
    for start, end in zip(points, points[1:]):
        p.receive_data(wire[start:end])
    assert p.events_received() == messages
    assert p.close_sent is None
