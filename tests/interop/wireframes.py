"""What crossed the wire from the client, for the Python peers' ``/wire`` route.

The peer libraries hide RSV1 and compressed sizes once they have inflated a
message, so each peer server also hands every raw byte its socket reads to a
:class:`WireFrames` first, which walks the RFC 6455 frame headers itself (the
payload is skipped, never buffered). When the library then delivers a message,
:meth:`WireFrames.take_message` returns the wire frames that carried it.
``ws_server.js`` has the same walker in JavaScript.
"""

from __future__ import annotations

from collections import deque

Header = tuple[int, int, int, int]  # (rsv1, opcode, fin, payload length on the wire)


class WireFrames:
    """Frame headers of one connection's incoming byte stream, in order.

    With ``http=True`` the stream starts with the HTTP upgrade request, which is
    skipped up to its blank line.
    """

    def __init__(self, *, http: bool = True) -> None:
        self.in_http = http
        self.buffer = b""
        self.skip = 0  # payload bytes of the current frame still to come
        self.frames: deque[Header] = deque()
        self.bytes = 0  # bytes after the handshake

    def feed(self, data: bytes) -> None:
        if self.in_http:
            data = self.buffer + data
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = data
                return
            self.in_http = False
            self.buffer = b""
            data = data[end + 4:]
        self.bytes += len(data)
        if self.skip >= len(data):
            self.skip -= len(data)
            return
        data = self.buffer + bytes(data[self.skip:])
        self.skip = 0
        pos = 0
        while len(data) - pos >= 2:
            b0, b1 = data[pos], data[pos + 1]
            length = b1 & 0x7F
            header = 2
            if length == 126:
                header = 4
            elif length == 127:
                header = 10
            if b1 & 0x80:
                header += 4  # the mask key
            if len(data) - pos < header:
                break
            if length == 126:
                length = int.from_bytes(data[pos + 2:pos + 4], "big")
            elif length == 127:
                length = int.from_bytes(data[pos + 2:pos + 10], "big")
            self.frames.append(((b0 >> 6) & 1, b0 & 0x0F, b0 >> 7, length))
            end = pos + header + length
            if end > len(data):
                self.skip = end - len(data)
                pos = len(data)
                break
            pos = end
        self.buffer = data[pos:]

    def take_message(self) -> list[Header]:
        """The data frames of the next message (control frames in between are dropped)."""
        frames: list[Header] = []
        while self.frames:
            frame = self.frames.popleft()
            if frame[1] >= 8:
                continue
            frames.append(frame)
            if frame[2]:
                break
        return frames
