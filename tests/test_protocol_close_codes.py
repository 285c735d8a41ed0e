"""Which close codes a peer may send (RFC 6455 §7.4 and the IANA registry).

Autobahn 7.7.x/7.9.x test the codes RFC 6455 defined; 1012–1014 were registered at
IANA afterwards (service restart, try again later, bad gateway), so they are valid on
the wire too, while 1004–1006, 1015 and the unassigned 1016–2999 are not.
"""

from __future__ import annotations

import struct

import pytest

from geventws.protocol import Protocol, Role, State


def close_frame(code: int) -> bytes:
    return struct.pack("!BBH", 0x88, 2, code)


def answered_code(code: int) -> int:
    p = Protocol(Role.CLIENT)
    p.receive_data(close_frame(code))
    out = b"".join(p.data_to_send())
    assert out[0] == 0x88 and out[1] & 0x80  # a masked close frame
    payload = bytes(b ^ out[2 + i % 4] for i, b in enumerate(out[6:]))
    assert p.state is not State.OPEN
    return int.from_bytes(payload[:2], "big")


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                                  1012, 1013, 1014, 3000, 3999, 4000, 4999])
def test_valid_close_code_is_echoed(code: int) -> None:
    assert answered_code(code) == code


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999,
                                  5000, 65535])
def test_invalid_close_code_fails_with_1002(code: int) -> None:
    assert answered_code(code) == 1002
