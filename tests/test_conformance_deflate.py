"""Autobahn|Testsuite sections 12 and 13 (permessage-deflate) against geventws, one test per case.

12.x: compressed echo of messages cut from five data sets, Autobahn's default offer.
13.x: the JSON set with each offer/acceptance pair of Autobahn's section 13 — the
client offers what the case's ``CLIENT_OFFERS`` say (through the plugin's options),
the fuzzer accepts as the case's accept function does. Every case must be OK, with
exactly the parameters Autobahn's server answers, and with geventws compressing
what it sends (all but the messages under its 32-octet threshold).

The referee's own self-checks are at the end: raw clients that compress with a
larger window or keep their context against the agreement, or set RSV1 where it
does not belong, are not graded OK.
"""

from __future__ import annotations

import base64
import os
import socket
import struct
import zlib
from collections.abc import Iterator
from typing import Any, Optional

import pytest
from plugin_servers import deflate_registered

from tests.conformance import wire
from tests.conformance.cases import CASE_CLASSES, CASE_IDS, FAILED, OK, UNIMPLEMENTED
from tests.conformance.fuzzer import FuzzingServer
from tests.conformance.report import run_one

DEFLATE_CASE_IDS = [c for c in CASE_IDS if c.split(".")[0] in ("12", "13")]

_BOTH_9 = ("permessage-deflate; server_no_context_takeover; server_max_window_bits=9; "
           "client_no_context_takeover; client_max_window_bits=9")
#: What Autobahn's fuzzing server answers, per sub-section, to the offers the case asks for.
EXPECTED_RESPONSE = {
    **{f"12.{i}": "permessage-deflate" for i in range(1, 6)},
    "13.1": "permessage-deflate",
    "13.2": "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
    "13.3": "permessage-deflate; server_max_window_bits=9; client_max_window_bits=9",
    "13.4": "permessage-deflate; server_max_window_bits=15; client_max_window_bits=15",
    "13.5": _BOTH_9,
    "13.6": _BOTH_9.replace("=9", "=15"),
    "13.7": _BOTH_9,  # the first of the three offers is taken
}

#: geventws sends messages shorter than this uncompressed (the plugin's default).
THRESHOLD = 32


@pytest.fixture(scope="module")
def fuzzing_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzingServer]:
    # The agent needs the package's permessage-deflate entry point, installed or not.
    with deflate_registered(tmp_path_factory.mktemp("dist")), \
            FuzzingServer(CASE_CLASSES) as server:
        yield server


def test_sections_12_and_13_have_autobahns_216_cases() -> None:
    assert len(DEFLATE_CASE_IDS) == 5 * 18 + 7 * 18
    assert DEFLATE_CASE_IDS[0] == "12.1.1" and DEFLATE_CASE_IDS[-1] == "13.7.18"


@pytest.mark.timeout(90)
@pytest.mark.parametrize("case_id", DEFLATE_CASE_IDS)
def test_autobahn_deflate_case(fuzzing_server: FuzzingServer, case_id: str) -> None:
    result = run_one(fuzzing_server, case_id, timeout=60)
    why = result.summary()
    assert (result.behavior, result.behavior_close) == (OK, OK), why
    assert result.extensions == EXPECTED_RESPONSE[case_id.rsplit(".", 1)[0]], why
    case = CASE_CLASSES[case_id]
    assert result.compressed_out == case.COUNT, why
    assert result.compressed_in == (case.COUNT if case.LEN >= THRESHOLD else 0), why


# -- the referee is not vacuous -------------------------------------------------------


class RawDeflateClient:
    """A plain-socket client with its own zlib, to misbehave on purpose."""

    def __init__(self, server: FuzzingServer, case_id: str, offer: Optional[str]) -> None:
        server.expect(case_id)
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        ext = f"Sec-WebSocket-Extensions: {offer}\r\n" if offer else ""
        self.sock.sendall(
            f"GET /runCase?casetuple={case_id}&agent=raw HTTP/1.1\r\nHost: x\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"{ext}Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += self.sock.recv(4096)
        head, _, self.buf = buf.partition(b"\r\n\r\n")
        self.head = head.decode()
        self.inflater = zlib.decompressobj(-15)

    def read_frame(self) -> tuple[int, int, bool, bytes]:
        """(opcode, rsv, fin, payload) of the next frame from the server."""
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
                        b0, payload = self.buf[0], self.buf[hlen : hlen + n]
                        self.buf = self.buf[hlen + n :]
                        return b0 & 0x0F, (b0 >> 4) & 7, bool(b0 & 0x80), payload
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def read_message(self) -> tuple[int, bytes]:
        """The next message, inflated; (8, payload) for a close frame."""
        opcode, rsv, fin, payload = self.read_frame()
        if opcode == 8:
            return 8, payload
        parts = [payload]
        while not fin:
            _, _, fin, payload = self.read_frame()
            parts.append(payload)
        data = b"".join(parts)
        if rsv & 4:
            data = self.inflater.decompress(data + b"\x00\x00\xff\xff")
        return opcode, data

    def send(self, opcode: int, payload: bytes, *, rsv: int = 0, fin: bool = True) -> None:
        self.sock.sendall(wire.build_frame(opcode, payload, fin=fin, rsv=rsv, mask=os.urandom(4)))

    def finish(self) -> None:
        """Answer the server's close and wait for it to drop the connection."""
        while True:
            opcode, payload = self.read_message()
            if opcode == 8:
                self.send(8, payload[:2])
                break
        try:
            while self.sock.recv(65536):
                pass
        except OSError:
            pass
        self.sock.close()


def _echo_compressed(client: RawDeflateClient, deflater: Any, rounds: int) -> None:
    """Echo ``rounds`` messages, all through one ``deflater`` (context kept)."""
    for _ in range(rounds):
        opcode, data = client.read_message()
        if opcode == 8:
            client.send(8, data[:2])
            return
        out = deflater.compress(data) + deflater.flush(zlib.Z_SYNC_FLUSH)
        client.send(opcode, out[:-4], rsv=4)
    client.finish()


def test_client_compressing_with_a_larger_window_than_agreed_fails(
        fuzzing_server: FuzzingServer) -> None:
    # 13.3 asks for client_max_window_bits=9; this client deflates with a 15-bit window.
    client = RawDeflateClient(fuzzing_server, "13.3.6",
                              "permessage-deflate; client_max_window_bits; "
                              "server_max_window_bits=9")
    assert "client_max_window_bits=9" in client.head
    _echo_compressed(client, zlib.compressobj(6, zlib.DEFLATED, -15), 3)
    result = fuzzing_server.wait_result("13.3.6", 10)
    assert result.behavior == FAILED, result.summary()
    assert any("invalid compressed message" in v for v in result.violations), result.summary()


def test_client_keeping_its_context_against_the_agreement_fails(
        fuzzing_server: FuzzingServer) -> None:
    # 13.2 answers client_no_context_takeover; this client keeps one deflater throughout.
    client = RawDeflateClient(fuzzing_server, "13.2.4",
                              "permessage-deflate; server_no_context_takeover")
    assert "client_no_context_takeover" in client.head
    _echo_compressed(client, zlib.compressobj(6, zlib.DEFLATED, -15), 5)
    result = fuzzing_server.wait_result("13.2.4", 10)
    assert result.behavior == FAILED, result.summary()
    assert any("invalid compressed message" in v for v in result.violations), result.summary()


def test_client_obeying_the_agreement_passes_the_same_checks(
        fuzzing_server: FuzzingServer) -> None:
    # The control for the two tests above: a fresh 9-bit deflater per message is right
    # for 13.5 (both no context takeover, both windows 9).
    case = CASE_CLASSES["13.5.4"]
    client = RawDeflateClient(fuzzing_server, "13.5.4",
                              "permessage-deflate; client_max_window_bits; "
                              "server_no_context_takeover; server_max_window_bits=9")
    assert f"Sec-WebSocket-Extensions: {_BOTH_9}" in client.head
    client.inflater = zlib.decompressobj(-9)
    for _ in range(case.COUNT):
        opcode, data = client.read_message()
        client.inflater = zlib.decompressobj(-9)  # the server does not keep its context
        deflater = zlib.compressobj(6, zlib.DEFLATED, -9)
        client.send(opcode, (deflater.compress(data) + deflater.flush(zlib.Z_SYNC_FLUSH))[:-4],
                    rsv=4)
    client.finish()
    result = fuzzing_server.wait_result("13.5.4", 10)
    assert (result.behavior, result.behavior_close) == (OK, OK), result.summary()
    assert result.compressed_in == case.COUNT, result.summary()


def test_rsv1_on_a_continuation_frame_fails(fuzzing_server: FuzzingServer) -> None:
    client = RawDeflateClient(fuzzing_server, "12.1.4", "permessage-deflate")
    opcode, data = client.read_message()
    out = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = (out.compress(data) + out.flush(zlib.Z_SYNC_FLUSH))[:-4]
    client.send(opcode, body[:10], rsv=4, fin=False)
    client.send(0, body[10:], rsv=4)
    client.finish()
    result = fuzzing_server.wait_result("12.1.4", 10)
    assert result.behavior == FAILED, result.summary()
    assert any("compress bit" in v for v in result.violations), result.summary()


def test_client_without_deflate_is_unimplemented(fuzzing_server: FuzzingServer) -> None:
    client = RawDeflateClient(fuzzing_server, "12.2.1", None)
    assert "Sec-WebSocket-Extensions" not in client.head
    client.finish()
    result = fuzzing_server.wait_result("12.2.1", 10)
    assert result.behavior == UNIMPLEMENTED, result.summary()


def test_malformed_offer_fails_the_opening_handshake(fuzzing_server: FuzzingServer) -> None:
    client = RawDeflateClient(fuzzing_server, "12.1.1",
                              "permessage-deflate; server_max_window_bits=16")
    assert client.head.startswith("HTTP/1.1 400")
    client.sock.close()
    result = fuzzing_server.wait_result("12.1.1", 10)
    assert result.behavior == FAILED and "opening handshake" in result.result
