"""The referee judges: misbehaving raw-socket clients must not be graded OK.

These clients are written on plain sockets (no geventws), each breaking one thing the
grading is meant to catch, so a vacuous referee would show up here.
"""

from __future__ import annotations

import base64
import os
import socket
import struct
from collections.abc import Iterator

import pytest

from tests.conformance import wire
from tests.conformance.cases import CASE_CLASSES, FAILED, OK, UNCLEAN, WRONG_CODE
from tests.conformance.fuzzer import FuzzingServer


@pytest.fixture(scope="module")
def server() -> Iterator[FuzzingServer]:
    with FuzzingServer(CASE_CLASSES) as srv:
        yield srv


class RawClient:
    """Just enough of a client to misbehave on purpose."""

    def __init__(self, server: FuzzingServer, case_id: str) -> None:
        server.expect(case_id)
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /runCase?casetuple={case_id}&agent=raw HTTP/1.1\r\nHost: x\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += self.sock.recv(4096)
        head, _, self.buf = buf.partition(b"\r\n\r\n")
        assert wire.accept_key(key) in head.decode()

    def read_frame(self) -> tuple[int, bytes]:
        while True:
            if len(self.buf) >= 2:
                n = self.buf[1] & 0x7F
                hlen = 2 + (2 if n == 126 else 8 if n == 127 else 0)
                if len(self.buf) >= hlen:
                    if n == 126:
                        n = struct.unpack_from("!H", self.buf, 2)[0]
                    elif n == 127:
                        n = struct.unpack_from("!Q", self.buf, 2)[0]
                    if len(self.buf) >= hlen + n:
                        opcode, payload = self.buf[0] & 0x0F, self.buf[hlen : hlen + n]
                        self.buf = self.buf[hlen + n :]
                        return opcode, payload
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def send(self, opcode: int, payload: bytes = b"") -> None:
        self.sock.sendall(wire.build_frame(opcode, payload, mask=os.urandom(4)))

    def close(self) -> None:
        self.sock.close()


def test_client_that_does_not_echo_fails(server: FuzzingServer) -> None:
    client = RawClient(server, "1.1.2")
    assert client.read_frame()[0] == 1  # the text message: not echoed
    opcode, payload = client.read_frame()  # killAfter(1) closes with 1001
    assert (opcode, payload[:2]) == (8, b"\x03\xe9")
    client.send(8, b"\x03\xe8")
    client.close()
    result = server.wait_result("1.1.2", 10)
    assert result.behavior == FAILED, result.summary()
    assert result.behavior_close == OK, result.summary()


def test_client_that_ignores_a_protocol_error_fails_the_close(server: FuzzingServer) -> None:
    client = RawClient(server, "2.5")  # ping with 126 bytes: the client must fail
    assert client.read_frame()[0] == 9
    opcode, payload = client.read_frame()  # the fuzzer gives up and closes first
    assert opcode == 8
    client.send(8, payload[:2])
    client.close()
    result = server.wait_result("2.5", 10)
    assert result.behavior_close == FAILED  # closed by the wrong endpoint
    assert result.closed_by_me


def test_client_that_accepts_an_invalid_close_code_fails(server: FuzzingServer) -> None:
    client = RawClient(server, "7.9.1")  # close code 0
    assert client.read_frame() == (8, b"\x00\x00")
    client.send(8, b"\x03\xe8")  # answers 1000 instead of 1002
    client.close()
    result = server.wait_result("7.9.1", 10)
    assert (result.behavior, result.behavior_close) == (FAILED, WRONG_CODE), result.summary()


def test_client_that_never_answers_the_close_is_unclean(server: FuzzingServer) -> None:
    client = RawClient(server, "7.3.3")
    assert client.read_frame() == (8, b"\x03\xe8")
    with pytest.raises((EOFError, ConnectionResetError)):
        client.read_frame()  # the fuzzer drops TCP after its 1 s close timeout
    client.close()
    result = server.wait_result("7.3.3", 10)
    assert result.behavior_close == UNCLEAN, result.summary()
    assert not result.was_clean
