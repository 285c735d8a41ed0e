"""The fuzzing server: Autobahn's server-side bookkeeping, re-implemented on plain sockets.

One listening thread accepts; each connection gets a thread running a small select loop
with timers and a paced write queue. The loop reproduces the parts of Autobahn's
``WebSocketProtocol`` (server role, ``failByDrop=False``) that grading depends on:

- ``closedByMe``: we sent the first close frame (``sendClose``/``killAfter``/a failure);
- ``failedByMe``: we failed the connection (``killAfter`` or the client broke a rule);
- ``wasClean``: a close frame was received and no close-handshake timeout (1 s) fired;
- ``remoteCloseCode``: the code in the client's close frame (``None`` if it had none).

A server drops TCP as soon as the closing handshake is done (RFC 6455 §7.1.1): at once
(abort) when the client answers our close, after flushing our answer when the client
closed first. Writes given a ``chopsize`` or ``sync=True`` go out one ``send`` each with
a pause between them (Autobahn re-enters its reactor), so the client sees them apart.
Autobahn pauses 10 µs; we pause 0.5 ms, long enough for the client to read each piece
on its own, except between the thousands of chops of section 9 (TCP_NODELAY still
puts each on the wire as its own segment there, and the cases stay fast).
"""

from __future__ import annotations

import heapq
import itertools
import select
import socket
import struct
import threading
import time
import traceback
import urllib.parse
import zlib
from collections import deque
from typing import Any, Callable, Optional

from . import deflate, wire

OPEN, CLOSING, CLOSED = "OPEN", "CLOSING", "CLOSED"

#: Autobahn 0.10's ``CLOSE_STATUS_CODES_ALLOWED`` (codes 1000–2999 a peer may send).
ALLOWED_CLOSE_CODES = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011))

CLOSE_HANDSHAKE_TIMEOUT = 1.0
OPEN_HANDSHAKE_TIMEOUT = 5.0
#: Pause after each chopped/synced write, and the chop count above which there is none.
WRITE_PACE = 0.0005
MAX_PACED_CHOPS = 256


class FuzzingConnection:
    """One client connection running one case (the ``self.p`` of Autobahn's cases)."""

    def __init__(self, server: FuzzingServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.state = "CONNECTING"
        self.case: Any = None
        self.case_id: Optional[str] = None
        self.agent: Optional[str] = None
        # Autobahn's close bookkeeping.
        self.connection_was_open = False
        self.closed_by_me = False
        self.failed_by_me = False
        self.dropped_by_me = False
        self.was_clean = False
        self.was_close_handshake_timeout = False
        self.local_close_code: Optional[int] = None
        self.local_close_reason: Optional[bytes] = None
        self.remote_close_code: Optional[int] = None
        self.remote_close_reason: Optional[bytes] = None
        self.violations: list[str] = []
        # Frames we sent, by opcode (case 10.1.1 counts them).
        self.tx_frame_stats: dict[int, int] = {}
        self.auto_fragment_size = 0
        #: The negotiated permessage-deflate (``None``: not negotiated).
        self.pmce: Optional[deflate.ServerDeflate] = None
        self.started = 0.0
        self.ended = 0.0
        # I/O machinery.
        self._reader = wire.FrameReader()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._outq: deque[list[Any]] = deque()  # [memoryview, paced, pause after]
        self._write_ready = 0.0
        self._close_after_flush = False
        self._close_timer_armed = False
        self._in_message = False
        self._msg_opcode = 0
        self._msg_compressed = False
        self._msg_parts: list[bytes] = []

    # -- actions the cases use -------------------------------------------------

    def send_data(self, data: bytes, *, sync: bool = False, chopsize: Optional[int] = None
                  ) -> None:
        """Queue raw octets; chopped or synced pieces are written one by one, paced."""
        if self.state == CLOSED:
            return
        if chopsize:
            pause = WRITE_PACE if len(data) <= chopsize * MAX_PACED_CHOPS else 0.0
            for i in range(0, len(data), chopsize):
                self._outq.append([memoryview(data[i : i + chopsize]), True, pause])
        elif data:
            self._outq.append([memoryview(data), sync, WRITE_PACE if sync else 0.0])

    def send_frame(
        self,
        opcode: int,
        payload: bytes = b"",
        *,
        fin: bool = True,
        rsv: int = 0,
        payload_len: Optional[int] = None,
        chopsize: Optional[int] = None,
        sync: bool = False,
    ) -> None:
        """Send one frame, valid or not; ``payload_len`` repeats ``payload`` to that length."""
        if payload_len is not None:
            reps, rest = divmod(payload_len, len(payload))
            payload = payload * reps + payload[:rest]
        self.tx_frame_stats[opcode] = self.tx_frame_stats.get(opcode, 0) + 1
        self.send_data(wire.build_frame(opcode, payload, fin=fin, rsv=rsv), sync=sync,
                       chopsize=chopsize)

    def send_message(self, payload: bytes, *, binary: bool = False,
                     fragment_size: Optional[int] = None, sync: bool = False) -> None:
        """Send a message, fragmented as Autobahn's ``sendMessage`` does (an exact multiple
        of the fragment size ends with an empty final frame). With permessage-deflate the
        whole message is compressed first and the compressed octets are fragmented, RSV1
        on the first frame only."""
        opcode = 2 if binary else 1
        rsv = 0
        if self.pmce is not None:
            payload, rsv = self.pmce.compress(payload), 4
        size = fragment_size or self.auto_fragment_size or None
        if size is None or len(payload) <= size:
            self.send_frame(opcode, payload, rsv=rsv, sync=sync)
            return
        n, i, first, done = len(payload), 0, True, False
        while not done:
            j = i + size
            if j > n:
                done, j = True, n
            self.send_frame(opcode if first else 0, payload[i:j], fin=done,
                            rsv=rsv if first else 0, sync=sync)
            first = False
            i += size

    def begin_message_frame(self, opcode: int, length: int) -> None:
        """Send only the header of a frame; its payload follows via :meth:`send_data`."""
        self.tx_frame_stats[opcode] = self.tx_frame_stats.get(opcode, 0) + 1
        self.send_data(wire.header_only(opcode, length))

    def send_close_frame(self, code: Optional[int] = None, reason: Optional[bytes] = None,
                         *, is_reply: bool = False) -> None:
        """Autobahn's ``sendCloseFrame``: any code/reason, even invalid ones; OPEN only."""
        if self.state != OPEN:
            return
        payload = b""
        if code is not None:
            payload += struct.pack("!H", code)
        if reason is not None:
            payload += reason
        self.send_frame(8, payload)
        self.state = CLOSING
        self.closed_by_me = not is_reply
        self.local_close_code = code
        self.local_close_reason = reason
        if self.closed_by_me and not self._close_timer_armed:
            self._close_timer_armed = True
            self.call_later(CLOSE_HANDSHAKE_TIMEOUT, self._close_handshake_timeout)

    def send_close(self, code: Optional[int] = None, reason: Optional[str] = None) -> None:
        """Autobahn's public ``sendClose``: start the closing handshake."""
        raw = reason.encode("utf-8")[:123] if reason is not None else None
        self.send_close_frame(code, raw)

    def fail_connection(self, code: int = 1001, reason: str = "Going Away") -> None:
        """Fail the connection (``failByDrop=False``): close frame, or drop if closing."""
        if self.state == CLOSED:
            return
        self.failed_by_me = True
        if self.state != CLOSING:
            self.send_close_frame(code, reason.encode("utf-8")[:123])
        else:
            self.drop_connection(abort=False)

    def drop_connection(self, *, abort: bool) -> None:
        """Close the TCP connection: now (abort), or once queued writes are out."""
        if self.state == CLOSED:
            return
        self.dropped_by_me = True
        self.state = CLOSED
        if abort:
            self._outq.clear()
        self._close_after_flush = True

    def call_later(self, delay: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._seq), fn))

    def continue_later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` after ``delay`` unless the connection is gone by then."""
        self.call_later(delay, lambda: fn() if self.state != CLOSED else None)

    def kill_after(self, delay: float) -> None:
        """Fail the connection after ``delay`` (code 1001) unless it is gone by then."""
        self.call_later(delay, lambda: self.fail_connection() if self.state != CLOSED else None)

    def close_after(self, delay: float) -> None:
        """Start a closing handshake (no status code) after ``delay``, if still there."""
        self.call_later(delay, lambda: self.send_close() if self.state != CLOSED else None)

    # -- events from the client ------------------------------------------------

    def _protocol_violation(self, reason: str) -> None:
        self.violations.append(reason)
        self.fail_connection(1002, reason)

    def _invalid_payload(self, reason: str) -> None:
        self.violations.append(reason)
        self.fail_connection(1007, reason)

    def _close_handshake_timeout(self) -> None:
        if self.state != CLOSED:
            self.was_clean = False
            self.was_close_handshake_timeout = True
            self.drop_connection(abort=True)

    def _on_frame(self, frame: wire.RxFrame) -> None:
        if frame.problem:
            self._protocol_violation(frame.problem)
            return
        op = frame.opcode
        if op >= 8:
            if op == 8:
                code = reason = None
                if len(frame.payload) >= 2:
                    code = struct.unpack("!H", frame.payload[:2])[0]
                    reason = frame.payload[2:] or None
                self._on_close_frame(code, reason)
            elif op == 9:
                if self.state == OPEN:
                    self.send_frame(10, frame.payload)
            else:
                self.case.on_pong(frame.payload)
            return
        if not self._in_message:
            if op == 0:
                self._protocol_violation("continuation frame outside a fragmented message")
                return
            self._in_message, self._msg_opcode, self._msg_parts = True, op, []
            self._msg_compressed = bool(frame.rsv & 4)
        elif op != 0:
            self._protocol_violation("new data frame inside a fragmented message")
            return
        self._msg_parts.append(frame.payload)
        if not frame.fin:
            return
        self._in_message = False
        payload = b"".join(self._msg_parts)
        self._msg_parts = []
        if self._msg_compressed:
            assert self.pmce is not None  # the reader refuses RSV1 otherwise
            try:
                payload = self.pmce.decompress(payload)
            except zlib.error as exc:
                self._protocol_violation(f"invalid compressed message: {exc}")
                return
        if self._msg_opcode == 1:
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError:
                self._invalid_payload("text message is not valid UTF-8")
                return
        if not self.failed_by_me:
            self.case.on_message(payload, self._msg_opcode == 2)

    def _on_close_frame(self, code: Optional[int], reason: Optional[bytes]) -> None:
        # Autobahn 0.10 records the code before judging it.
        self.remote_close_code = code
        if code is not None and (
            code < 1000 or (code <= 2999 and code not in ALLOWED_CLOSE_CODES) or code >= 5000
        ):
            self._protocol_violation(f"invalid close code {code}")
        if reason is not None:
            try:
                reason.decode("utf-8")
                self.remote_close_reason = reason
            except UnicodeDecodeError:
                self._invalid_payload("close reason is not UTF-8")
        if self.state == CLOSING:
            self.was_clean = True
            self.drop_connection(abort=True)
        elif self.state == OPEN:
            self.was_clean = True
            self.send_close_frame(1000, is_reply=True)
            self.drop_connection(abort=False)

    # -- the loop ----------------------------------------------------------------

    def run(self) -> None:
        try:
            leftover = self._handshake()
        except Exception as exc:
            self.server.handshake_failed(self, f"{type(exc).__name__}: {exc}")
            self.sock.close()
            return
        self.sock.setblocking(False)
        self.state = OPEN
        self.connection_was_open = True
        self.started = time.monotonic()
        try:
            self.case.on_open()
            if leftover:
                self._on_bytes(leftover)
            self._loop()
        except Exception:
            self.violations.append("fuzzer error: " + traceback.format_exc())
        finally:
            self.state = CLOSED
            try:
                self.sock.close()
            except OSError:
                pass
            self.ended = time.monotonic()
            self.server.finished(self)

    def _handshake(self) -> bytes:
        self.sock.settimeout(OPEN_HANDSHAKE_TIMEOUT)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("client closed during the opening handshake")
            buf += chunk
            if len(buf) > 65536:
                raise ValueError("request head too large")
        head, _, leftover = buf.partition(b"\r\n\r\n")
        target, headers = wire.parse_request(head)
        url = urllib.parse.urlsplit(target)
        query = urllib.parse.parse_qs(url.query)
        if url.path != "/runCase" or "casetuple" not in query or "agent" not in query:
            raise ValueError(f"expected /runCase?casetuple=X&agent=Y, got {target!r}")
        self.case_id = query["casetuple"][0]
        self.agent = query["agent"][0]
        case_class = self.server.case_classes[self.case_id]
        self.case = case_class(self)
        try:
            extensions = self._negotiate(headers.get("sec-websocket-extensions", ""))
            response = wire.handshake_response(headers, extensions)
        except ValueError:
            self.sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            raise
        self.sock.sendall(response)
        return leftover

    def _negotiate(self, header: str) -> str:
        """Autobahn's ``processHandshake`` for permessage-deflate: parse the client's
        offers (an illegal one fails the handshake), let the case's accept function pick
        one (``None`` declines), and answer with the accepted parameters."""
        offers = deflate.client_offers(header)
        if not offers:
            return ""
        accept = self.case.accept_deflate(offers)
        if accept is None:
            return ""
        self.pmce = deflate.ServerDeflate(accept)
        self._reader.compression = True
        return accept.response()

    def _on_bytes(self, data: bytes) -> None:
        if self.state == CLOSED:
            return
        for frame in self._reader.feed(data):
            self._on_frame(frame)
            if self.state == CLOSED:
                return

    def _loop(self) -> None:
        sock = self.sock
        while True:
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, fn = heapq.heappop(self._timers)
                fn()
                now = time.monotonic()
            if self._close_after_flush and not self._outq:
                self._shutdown()
                return
            want_write = bool(self._outq) and now >= self._write_ready
            timeout = 5.0
            if self._timers:
                timeout = min(timeout, self._timers[0][0] - now)
            if self._outq and not want_write:
                timeout = min(timeout, self._write_ready - now)
            rlist = [sock] if self.state != CLOSED else []
            r, w, _ = select.select(rlist, [sock] if want_write else [], [], max(timeout, 0))
            if w:
                self._write_some()
            if r:
                try:
                    data = sock.recv(1 << 20)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:  # the client closed TCP (or reset it)
                    self.state = CLOSED
                    return
                self._on_bytes(data)

    def _write_some(self) -> None:
        outq = self._outq
        if not outq[0][1] and len(outq) > 1 and not outq[1][1]:
            # Unpaced writes are one stream (Autobahn hands them to the transport's
            # buffer at once): join them instead of one system call per frame.
            parts, total = [], 0
            while outq and not outq[0][1] and total < 1 << 22:
                total += len(outq[0][0])
                parts.append(outq.popleft()[0])
            outq.appendleft([memoryview(b"".join(parts)), False, 0.0])
        item = outq[0]
        try:
            sent = self.sock.send(item[0])
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._outq.clear()
            self.state = CLOSED
            self._close_after_flush = True
            return
        if sent < len(item[0]):
            item[0] = item[0][sent:]
            return
        self._outq.popleft()
        if item[2]:
            self._write_ready = time.monotonic() + item[2]

    def _shutdown(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class FuzzingServer:
    """Listens on 127.0.0.1; runs the case named in each ``/runCase`` request."""

    def __init__(self, case_classes: dict[str, Any], host: str = "127.0.0.1", port: int = 0
                 ) -> None:
        self.case_classes = case_classes
        self._listener = socket.create_server((host, port))
        self.port = self._listener.getsockname()[1]
        self.url = f"ws://{host}:{self.port}"
        self._lock = threading.Lock()
        self._results: dict[str, Any] = {}
        self._done: dict[str, threading.Event] = {}
        self._thread = threading.Thread(target=self._accept_loop, daemon=True,
                                        name="fuzzingserver")
        self._stopped = False

    def case_url(self, case_id: str, agent: str = "geventws") -> str:
        return f"{self.url}/runCase?casetuple={case_id}&agent={agent}"

    def start(self) -> FuzzingServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped = True
        try:
            self._listener.close()
        except OSError:
            pass

    def __enter__(self) -> FuzzingServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _event(self, case_id: str) -> threading.Event:
        with self._lock:
            return self._done.setdefault(case_id, threading.Event())

    def expect(self, case_id: str) -> None:
        """Forget any earlier result of ``case_id`` before running it again."""
        with self._lock:
            self._results.pop(case_id, None)
            self._done[case_id] = threading.Event()

    def wait_result(self, case_id: str, timeout: float) -> Any:
        """The graded :class:`~.cases.CaseResult`, or ``None`` if the case did not end."""
        if not self._event(case_id).wait(timeout):
            return None
        with self._lock:
            return self._results.get(case_id)

    def _accept_loop(self) -> None:
        while not self._stopped:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = FuzzingConnection(self, sock)
            threading.Thread(target=conn.run, daemon=True, name="fuzzconn").start()

    def handshake_failed(self, conn: FuzzingConnection, why: str) -> None:
        if conn.case_id is None:
            return
        from .cases import CaseResult

        result = CaseResult.handshake_failure(conn.case_id, why)
        with self._lock:
            self._results[conn.case_id] = result
        self._event(conn.case_id).set()

    def finished(self, conn: FuzzingConnection) -> None:
        result = conn.case.grade()
        assert conn.case_id is not None
        with self._lock:
            self._results[conn.case_id] = result
        self._event(conn.case_id).set()
