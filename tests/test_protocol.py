"""The sans-IO engine, rule by rule of RFC 6455 (no network)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geventws.events import Ping, Pong
from geventws.exceptions import ConnectionClosedError, ConnectionClosedOK
from geventws.frames import Close
from geventws.protocol import InvalidState, Protocol, Role, State
from tests.wire import close_payload, frame, unmask_frames

TEXT, BINARY, CONT, CLOSE, PING, PONG = 1, 2, 0, 8, 9, 10


def client(**kwargs) -> Protocol:
    return Protocol(Role.CLIENT, **kwargs)


def sent(p: Protocol) -> list[tuple[int, bool, int, bytes]]:
    return unmask_frames(b"".join(p.data_to_send()))


def sent_close_code(p: Protocol) -> int:
    frames = [f for f in sent(p) if f[0] == CLOSE]
    assert len(frames) == 1
    return int.from_bytes(frames[0][3][:2], "big")


# -- receiving data ------------------------------------------------------------


def test_text_and_binary_messages():
    p = client()
    p.receive_data(frame(TEXT, "héllo".encode()) + frame(BINARY, b"\x00\x01"))
    assert p.events_received() == ["héllo", b"\x00\x01"]


def test_empty_messages():
    p = client()
    p.receive_data(frame(TEXT) + frame(BINARY))
    assert p.events_received() == ["", b""]


@pytest.mark.parametrize("size", [125, 126, 65535, 65536, 200_000])
def test_length_encodings(size):
    p = client(max_size=None)
    p.receive_data(frame(BINARY, b"x" * size))
    assert p.events_received() == [b"x" * size]


def test_byte_by_byte_delivery():
    p = client()
    data = frame(TEXT, b"a" * 300) + frame(PING, b"p") + frame(BINARY, b"b" * 70000)
    for i in range(len(data)):
        p.receive_data(data[i:i + 1])
    assert p.events_received() == ["a" * 300, Ping(b"p"), b"b" * 70000]


def test_fragmented_message_with_interleaved_control_frames():
    p = client()
    p.receive_data(
        frame(TEXT, b"fra", fin=False)
        + frame(PING, b"1")
        + frame(CONT, b"gmen", fin=False)
        + frame(PONG, b"2")
        + frame(CONT, b"ted", fin=True)
    )
    assert p.events_received() == [Ping(b"1"), Pong(b"2"), "fragmented"]
    assert sent(p) == [(PONG, True, 0, b"1")]


def test_fragmented_utf8_split_inside_a_code_point():
    data = "€uro".encode()
    p = client()
    p.receive_data(frame(TEXT, data[:1], fin=False) + frame(CONT, data[1:2], fin=False)
                   + frame(CONT, data[2:], fin=True))
    assert p.events_received() == ["€uro"]


def test_fragmented_binary():
    p = client()
    p.receive_data(frame(BINARY, b"ab", fin=False) + frame(CONT, b"", fin=False)
                   + frame(CONT, b"cd"))
    assert p.events_received() == [b"abcd"]


def test_ping_is_answered_with_identical_pong():
    p = client()
    p.receive_data(frame(PING, b"payload"))
    assert p.events_received() == [Ping(b"payload")]
    assert sent(p) == [(PONG, True, 0, b"payload")]


# -- protocol errors: 1002 ----------------------------------------------------


@pytest.mark.parametrize(
    "data, why",
    [
        (frame(TEXT, b"x", mask=b"abcd"), "masked frame from a server"),
        (frame(3, b""), "reserved data opcode"),
        (frame(0xB, b""), "reserved control opcode"),
        (frame(TEXT, b"x", rsv=1), "RSV1 without extension"),
        (frame(TEXT, b"x", rsv=2), "RSV2 without extension"),
        (frame(TEXT, b"x", rsv=4), "RSV3 without extension"),
        (frame(PING, b"x" * 126), "control payload over 125"),
        (frame(PING, b"x", fin=False), "fragmented control frame"),
        (frame(CONT, b"x"), "continuation without a message"),
        (frame(TEXT, b"a", fin=False) + frame(TEXT, b"b"), "new message inside a fragmented one"),
        (frame(CLOSE, b"\x03"), "1-byte close payload"),
        (frame(CLOSE, close_payload(1005)), "close code 1005 on the wire"),
        (frame(CLOSE, close_payload(999)), "close code below 1000"),
        (frame(CLOSE, close_payload(2000)), "unassigned close code"),
        (frame(CLOSE, close_payload(5000)), "close code above 4999"),
        (b"\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x00", "64-bit length with the top bit set"),
    ],
)
def test_protocol_errors_fail_with_1002(data, why):
    p = client(max_size=None)
    p.receive_data(data)
    assert sent_close_code(p) == 1002, why
    assert p.state is State.CLOSING
    assert isinstance(p.close_exc, ConnectionClosedError)
    # Nothing more is processed.
    p.receive_data(frame(TEXT, b"after"))
    assert [e for e in p.events_received() if e == "after"] == []


def test_control_frame_checks_happen_before_the_payload_arrives():
    p = client()
    p.receive_data(frame(PING, b"x" * 126)[:4])  # header only
    assert sent_close_code(p) == 1002


def test_client_frame_must_be_masked_for_a_server():
    p = Protocol(Role.SERVER)
    p.receive_data(frame(TEXT, b"x"))
    assert int.from_bytes(unmasked_payloads(p)[0][:2], "big") == 1002


def unmasked_payloads(p: Protocol) -> list[bytes]:
    data = b"".join(p.data_to_send())
    assert data[1] & 0x80 == 0, "server frames are never masked"
    return [data[2:2 + (data[1] & 0x7F)]]


# -- invalid UTF-8: 1007 ------------------------------------------------------


def test_invalid_utf8_text_fails_with_1007():
    p = client()
    p.receive_data(frame(TEXT, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"))
    assert sent_close_code(p) == 1007


def test_invalid_utf8_in_first_fragment_fails_before_the_message_ends():
    p = client()
    p.receive_data(frame(TEXT, b"ok\xff", fin=False))
    assert sent_close_code(p) == 1007


def test_truncated_utf8_at_message_end_fails_with_1007():
    p = client()
    p.receive_data(frame(TEXT, b"\xe2\x82", fin=False) + frame(CONT, b"", fin=True))
    assert sent_close_code(p) == 1007


def test_invalid_utf8_close_reason_fails_with_1007():
    p = client()
    p.receive_data(frame(CLOSE, close_payload(1000, b"\xff")))
    assert sent_close_code(p) == 1007


# -- max_size: 1009 -----------------------------------------------------------


def test_oversized_frame_fails_from_its_header():
    p = client(max_size=1000)
    p.receive_data(frame(BINARY, b"x" * 1001)[:4])  # the header declares 1001 bytes
    assert sent_close_code(p) == 1009
    assert p._chunks == []  # nothing buffered


def test_oversized_fragmented_message_fails():
    p = client(max_size=1000)
    p.receive_data(frame(BINARY, b"x" * 600, fin=False) + frame(CONT, b"x" * 600)[:4])
    assert sent_close_code(p) == 1009


def test_message_of_exactly_max_size_is_accepted():
    p = client(max_size=1000)
    p.receive_data(frame(BINARY, b"x" * 500, fin=False) + frame(CONT, b"x" * 500))
    assert p.events_received() == [b"x" * 1000]


# -- closing handshake --------------------------------------------------------


def test_server_initiated_close_is_echoed():
    p = client()
    p.receive_data(frame(CLOSE, close_payload(1001, "bye ✓".encode())))
    assert p.events_received() == [Close(1001, "bye ✓")]
    assert sent_close_code(p) == 1001
    assert p.state is State.CLOSING  # until the server closes TCP
    p.receive_eof()
    assert p.state is State.CLOSED
    exc = p.close_exc
    assert isinstance(exc, ConnectionClosedOK)
    assert (exc.code, exc.reason, exc.rcvd_then_sent) == (1001, "bye ✓", True)


def test_empty_close_is_echoed_empty_and_reported_as_1005():
    p = client()
    p.receive_data(frame(CLOSE))
    assert [f for f in sent(p)] == [(CLOSE, True, 0, b"")]
    assert p.close_rcvd == Close(1005, "")
    assert isinstance(p.close_exc, ConnectionClosedOK)


def test_client_initiated_close():
    p = client()
    p.send_close(4000, "done")
    assert sent(p) == [(CLOSE, True, 0, close_payload(4000, b"done"))]
    assert p.state is State.CLOSING
    p.receive_data(frame(TEXT, b"late message") + frame(CLOSE, close_payload(4000, b"done")))
    assert p.events_received() == ["late message", Close(4000, "done")]
    assert p.data_to_send() == []  # no second close frame
    p.receive_eof()
    exc = p.close_exc
    assert isinstance(exc, ConnectionClosedError)  # 4000 is not a normal closure
    assert exc.rcvd_then_sent is False


def test_nothing_is_processed_after_a_close_frame():
    p = client()
    p.receive_data(frame(CLOSE, close_payload(1000)) + frame(TEXT, b"ignored") + b"\xff\xff")
    assert p.events_received() == [Close(1000, "")]


def test_no_sending_after_close():
    p = client()
    p.send_close()
    with pytest.raises(InvalidState):
        p.send_text("x")
    with pytest.raises(InvalidState):
        p.send_ping()


def test_eof_without_close_is_abnormal():
    p = client()
    p.receive_eof()
    exc = p.close_exc
    assert isinstance(exc, ConnectionClosedError)
    assert exc.code == 1006


# -- sending ------------------------------------------------------------------


def test_client_frames_are_masked_with_fresh_keys():
    p = client()
    p.send_text("same")
    p.send_text("same")
    a, b = p.data_to_send()
    assert a[1] & 0x80 and b[1] & 0x80
    assert a[2:6] != b[2:6]
    assert unmask_frames(a + b) == [(TEXT, True, 0, b"same")] * 2


def test_sending_fragments():
    p = client()
    p.send_binary(b"ab", fin=False)
    with pytest.raises(InvalidState):
        p.send_text("interleaved message")
    p.send_ping(b"ok")  # control frames may interleave
    p.send_continuation(b"cd", fin=True)
    assert sent(p) == [(BINARY, False, 0, b"ab"), (PING, True, 0, b"ok"), (CONT, True, 0, b"cd")]
    with pytest.raises(InvalidState):
        p.send_continuation(b"x", fin=True)


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 100_000])
def test_sent_lengths(size):
    p = client()
    p.send_binary(b"z" * size)
    assert sent(p) == [(BINARY, True, 0, b"z" * size)]


def test_server_role_does_not_mask():
    p = Protocol(Role.SERVER)
    p.send_binary(b"abc")
    assert b"".join(p.data_to_send()) == frame(BINARY, b"abc")


def test_control_payload_limit_on_send():
    from geventws.exceptions import ProtocolError

    with pytest.raises(ProtocolError):
        client().send_ping(b"x" * 126)


# -- properties ---------------------------------------------------------------

messages = st.one_of(st.text(max_size=300), st.binary(max_size=300))


@settings(max_examples=200, deadline=None)
@given(msgs=st.lists(messages, max_size=8), cuts=st.lists(st.integers(1, 50), max_size=30))
def test_round_trip_server_to_client(msgs, cuts):
    """Whatever a server sends, cut wherever, a client gets the same messages back."""
    server = Protocol(Role.SERVER, max_size=None)
    for m in msgs:
        if isinstance(m, str):
            server.send_text(m)
        else:
            server.send_binary(m)
    data = b"".join(server.data_to_send())
    c = client(max_size=None)
    pos = 0
    for cut in cuts:
        c.receive_data(data[pos:pos + cut])
        pos += cut
    c.receive_data(data[pos:])
    assert c.events_received() == msgs


@settings(max_examples=200, deadline=None)
@given(msgs=st.lists(messages, max_size=8), frag=st.integers(1, 40))
def test_round_trip_client_to_server_fragmented(msgs, frag):
    c = client()
    for m in msgs:
        raw = m.encode() if isinstance(m, str) else m
        pieces = [raw[i:i + frag] for i in range(0, len(raw), frag)] or [raw]
        first, *rest = pieces
        (c.send_text if isinstance(m, str) else c.send_binary)(first, fin=not rest)
        for i, piece in enumerate(rest):
            c.send_continuation(piece, fin=i == len(rest) - 1)
    server = Protocol(Role.SERVER, max_size=None)
    server.receive_data(b"".join(c.data_to_send()))
    assert server.events_received() == msgs


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_never_crash_the_parser(data):
    """Garbage ends in events or a clean failure with a proper close code, never an exception."""
    p = client(max_size=1000)
    p.receive_data(data)
    p.events_received()
    if p.failure is not None:
        assert p.close_sent is not None and p.close_sent.code in (1002, 1007, 1009)


class Recorder:
    def __init__(self) -> None:
        self.sent: list = []
        self.received: list = []

    def frame_sent(self, frame) -> None:
        self.sent.append(frame)

    def frame_received(self, frame) -> None:
        self.received.append(frame)


def test_observer_sees_frames_and_changes_nothing():
    from geventws.frames import Frame

    recorder = Recorder()
    p = client(observer=recorder)
    p.send_text("hi")
    p.receive_data(frame(TEXT, b"a", fin=False) + frame(PING, b"p") + frame(CONT, b"b"))
    assert p.events_received() == [Ping(b"p"), "ab"]
    assert recorder.received == [Frame(TEXT, b"a", False), Frame(PING, b"p"), Frame(CONT, b"b")]
    assert recorder.sent == [Frame(TEXT, b"hi"), Frame(PONG, b"p")]
    assert sent(p) == [(TEXT, True, 0, b"hi"), (PONG, True, 0, b"p")]


def test_observer_keeps_fail_fast_checks():
    p = client(observer=Recorder())
    p.receive_data(frame(TEXT, b"ok\xff" + b"x" * 100)[:10])  # bad UTF-8 in an incomplete frame
    assert sent_close_code(p) == 1007
    p = client(observer=Recorder())
    p.receive_data(frame(TEXT, b"x", rsv=1))
    assert sent_close_code(p) == 1002
