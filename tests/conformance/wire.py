"""The referee's own wire format: frames, masking and the server handshake (RFC 6455).

Written independently of ``geventws.frames``/``geventws.protocol`` on purpose: a bug
shared by the judge and the judged would pass unnoticed. It is deliberately plain
and permissive on output (it must be able to send *invalid* frames) and strict on
input (what the client sends is checked as Autobahn's server checks it).
"""

from __future__ import annotations

import base64
import hashlib
import struct
from dataclasses import dataclass
from typing import Optional

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2)."""
    digest = hashlib.sha1(key.encode("ascii") + GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def xor_mask(data: bytes, key: bytes) -> bytes:
    """Mask or unmask ``data`` with a 4-byte key, as one big-integer XOR (fast enough
    for the 16 MiB messages of section 9 without any C helper)."""
    n = len(data)
    if not n:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(
        n, "little"
    )


def build_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv: int = 0,
    mask: Optional[bytes] = None,
) -> bytes:
    """Encode one frame exactly as asked, valid or not (the fuzzer sends both)."""
    b0 = (0x80 if fin else 0) | ((rsv % 8) << 4) | (opcode % 16)
    n = len(payload)
    mask_bit = 0x80 if mask is not None else 0
    if n <= 125:
        header = struct.pack("!BB", b0, mask_bit | n)
    elif n <= 0xFFFF:
        header = struct.pack("!BBH", b0, mask_bit | 126, n)
    else:
        header = struct.pack("!BBQ", b0, mask_bit | 127, n)
    if mask is not None:
        return header + mask + xor_mask(payload, mask)
    return header + payload


def header_only(opcode: int, length: int, *, fin: bool = True) -> bytes:
    """A frame header announcing ``length`` payload bytes that are written later."""
    b0 = (0x80 if fin else 0) | opcode
    if length <= 125:
        return struct.pack("!BB", b0, length)
    if length <= 0xFFFF:
        return struct.pack("!BBH", b0, 126, length)
    return struct.pack("!BBQ", b0, 127, length)


@dataclass
class RxFrame:
    """A frame the client sent, unmasked; ``problem`` names the first rule it broke."""

    opcode: int
    fin: bool
    rsv: int
    masked: bool
    payload: bytes
    problem: Optional[str] = None


class FrameReader:
    """Incremental reader of client frames: feed bytes, take complete frames.

    Checks only what the header tells (Autobahn's ``processDataHybi``): RSV bits,
    masking, control-frame rules, reserved opcodes, minimal length encoding. Message
    level rules (fragment order, UTF-8) are the caller's. Once permessage-deflate is
    negotiated (``compression``), RSV1 alone is allowed on the first frame of a data
    message, never on a control or continuation frame.
    """

    def __init__(self) -> None:
        self.buf = bytearray()
        self.need = 2
        self.compression = False

    def feed(self, data: bytes) -> list[RxFrame]:
        self.buf += data
        frames: list[RxFrame] = []
        while len(self.buf) >= self.need:
            frame = self._one()
            if frame is None:
                break
            frames.append(frame)
            if frame.problem:
                break
        return frames

    def _one(self) -> Optional[RxFrame]:
        buf = self.buf
        if len(buf) < 2:
            self.need = 2
            return None
        b0, b1 = buf[0], buf[1]
        fin, rsv, opcode = bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F
        masked, n1 = bool(b1 & 0x80), b1 & 0x7F
        hlen = 2 + (2 if n1 == 126 else 8 if n1 == 127 else 0) + (4 if masked else 0)
        if len(buf) < hlen:
            self.need = hlen
            return None
        problem = None
        if n1 == 126:
            length = struct.unpack_from("!H", buf, 2)[0]
            if length < 126:
                problem = "non-minimal 16-bit length"
        elif n1 == 127:
            length = struct.unpack_from("!Q", buf, 2)[0]
            if length >> 63:
                problem = "64-bit length with MSB set"
            elif length < 65536:
                problem = "non-minimal 64-bit length"
        else:
            length = n1
        if len(buf) < hlen + length:
            self.need = hlen + length
            return None
        payload = bytes(buf[hlen : hlen + length])
        if masked:
            payload = xor_mask(payload, bytes(buf[hlen - 4 : hlen]))
        del buf[: hlen + length]
        self.need = 2
        if rsv and not (self.compression and rsv == 4):
            problem = problem or f"RSV={rsv} and no extension negotiated"
        elif rsv and opcode >= 8:
            problem = problem or "compressed control frame"
        elif rsv and opcode == 0:
            problem = problem or "continuation frame with the compress bit set"
        if not masked:
            problem = problem or "unmasked client-to-server frame"
        if opcode >= 8:
            if not fin:
                problem = problem or "fragmented control frame"
            if length > 125:
                problem = problem or "control frame over 125 bytes"
            if opcode not in (8, 9, 10):
                problem = problem or f"reserved control opcode {opcode}"
            if opcode == 8 and length == 1:
                problem = problem or "close frame with a 1-byte payload"
        elif opcode not in (0, 1, 2):
            problem = problem or f"reserved data opcode {opcode}"
        return RxFrame(opcode, fin, rsv, masked, payload, problem)


def parse_request(head: bytes) -> tuple[str, dict[str, str]]:
    """Split an HTTP request head into its target and lower-cased headers."""
    lines = head.decode("iso-8859-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[0] != "GET":
        raise ValueError(f"bad request line {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    return parts[1], headers


def handshake_response(headers: dict[str, str], extensions: str = "") -> bytes:
    """The 101 answer to a valid upgrade request; ``ValueError`` names what is wrong.
    ``extensions`` is the ``Sec-WebSocket-Extensions`` value, if any was accepted."""
    if headers.get("upgrade", "").lower() != "websocket":
        raise ValueError("missing Upgrade: websocket")
    if "upgrade" not in [t.strip().lower() for t in headers.get("connection", "").split(",")]:
        raise ValueError("missing Connection: Upgrade")
    if headers.get("sec-websocket-version") != "13":
        raise ValueError("Sec-WebSocket-Version is not 13")
    key = headers.get("sec-websocket-key", "")
    if len(base64.b64decode(key.encode("ascii"), validate=True)) != 16:
        raise ValueError("Sec-WebSocket-Key is not 16 base64-encoded bytes")
    return (
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Server: geventws-fuzzingserver\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n"
        + (f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else "")
        + "\r\n"
    ).encode("ascii")
