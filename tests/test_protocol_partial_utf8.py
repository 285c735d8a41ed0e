"""Fail-fast UTF-8 inside a text frame whose payload is still arriving (Autobahn 6.4.3/6.4.4).

RFC 6455 §8.1: a text payload that is not valid UTF-8 fails the connection (1007). The
engine checks the pieces of an incomplete frame as they arrive, so a peer cannot make us
buffer a long frame that is already known to be invalid.
"""

from __future__ import annotations

import struct

from geventws.frames import apply_mask
from geventws.protocol import Protocol, Role, State

KOSME = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"  # "κόσμε", 11 bytes
BAD = b"\xf4\x90\x80\x80"  # would be U+110000: invalid as soon as \x90 follows \xf4


def header(opcode: int, length: int, fin: bool = True, mask: bytes = b"") -> bytes:
    b0 = (0x80 if fin else 0) | opcode
    bit = 0x80 if mask else 0
    if length < 126:
        return struct.pack("!BB", b0, bit | length) + mask
    return struct.pack("!BBH", b0, bit | 126, length) + mask


def sent_close_code(protocol: Protocol) -> int:
    out = b"".join(protocol.data_to_send())
    assert out[0] == 0x88
    payload = out[6:] if out[1] & 0x80 else out[2:]
    mask = out[2:6] if out[1] & 0x80 else b""
    if mask:
        payload = apply_mask(payload, mask)
    return int.from_bytes(payload[:2], "big")


def test_invalid_piece_of_incomplete_text_frame_fails_at_once():
    p = Protocol(Role.CLIENT, max_size=None)
    total = len(KOSME) + len(BAD) + 6
    p.receive_data(header(0x1, total) + KOSME)
    assert p.state is State.OPEN and not p.data_to_send()
    p.receive_data(BAD)  # the frame is not complete yet
    assert p.state is State.CLOSING
    assert sent_close_code(p) == 1007
    assert p.events_received() == []


def test_single_octet_that_makes_the_frame_invalid_fails_at_once():
    p = Protocol(Role.CLIENT, max_size=None)
    payload = KOSME + BAD + b"edited"
    p.receive_data(header(0x1, len(payload)) + payload[:12])  # ends on \xf4: still fine
    assert p.state is State.OPEN
    p.receive_data(payload[12:13])
    assert sent_close_code(p) == 1007


def test_continuation_frame_carries_the_message_decoder_state():
    p = Protocol(Role.CLIENT, max_size=None)
    p.receive_data(header(0x1, len(KOSME) + 1, fin=False) + KOSME + b"\xf4")
    assert p.state is State.OPEN
    p.receive_data(header(0x0, 3) + b"\x90")  # continuation, incomplete
    assert sent_close_code(p) == 1007


def test_valid_text_in_pieces_split_inside_code_points_is_delivered():
    p = Protocol(Role.CLIENT, max_size=None)
    text = "Hello-µ@ßöäüàá-UTF-8!!" * 20
    data = header(0x1, len(text.encode())) + text.encode()
    for i in range(len(data)):
        p.receive_data(data[i : i + 1])
    assert p.state is State.OPEN
    assert p.events_received() == [text]


def test_binary_frames_in_pieces_are_not_checked():
    p = Protocol(Role.CLIENT, max_size=None)
    p.receive_data(header(0x2, 10) + b"\xff\xfe")
    p.receive_data(b"\xf4\x90\x80\x80\xc0\xaf\xff\xff")
    assert p.events_received() == [b"\xff\xfe\xf4\x90\x80\x80\xc0\xaf\xff\xff"]


def test_masked_frame_in_odd_pieces_is_unmasked_at_the_right_offset():
    """Server role: pieces not aligned on the 4-byte mask, header split before its key."""
    mask = b"\x37\xfa\x21\x3d"
    payload = KOSME + BAD + b"edited"
    frame = header(0x1, len(payload), mask=mask) + apply_mask(payload, mask)
    p = Protocol(Role.SERVER, max_size=None)
    cut = 2 + 4 + 12  # header, key, then up to the lone \xf4
    for i in range(0, cut, 3):
        p.receive_data(frame[i : min(i + 3, cut)])
    assert p.state is State.OPEN
    p.receive_data(frame[cut : cut + 1])
    assert p.state is not State.OPEN
    assert sent_close_code(p) == 1007

    valid = Protocol(Role.SERVER, max_size=None)
    good = KOSME * 3
    frame = header(0x1, len(good), mask=mask) + apply_mask(good, mask)
    for i in range(0, len(frame), 5):
        valid.receive_data(frame[i : i + 5])
    assert valid.events_received() == [good.decode()]
