"""Interop: geventws against real servers it did not write — `websockets`, `aiohttp`, Node `ws`.

Each peer runs as a subprocess (``tests/interop/*_server.*``) started once per test
session on 127.0.0.1. It listens three times: without permessage-deflate ("plain"),
with it ("deflate"), and over TLS ("tls", a certificate minted by ``trustme``), and
serves the same routes on each (see ``tests/interop/websockets_server.py``). Every
behaviour runs against every peer, with the server's compression off and on.

Every behaviour also runs with the client offering permessage-deflate
(``compression="deflate"``, the default) and without (``None``): against the
"deflate" listener the extension is negotiated and both sides compress; against
"plain" the offer is declined. The section "permessage-deflate over the wire"
below proves the compression really happened (RSV1 and wire sizes seen on both
ends) across each peer's context-takeover and window-bits settings.

Nothing can hang: every ``recv`` has a timeout, connections have open/close
timeouts, server start-up is bounded, and pytest-timeout caps each test.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple, Optional
from urllib.parse import urlencode

import gevent
import pytest

import geventws
from geventws import ConnectionClosedError, ConnectionClosedOK, InvalidStatus
from geventws.negotiation import negotiated_extensions

pytestmark = pytest.mark.timeout(60)

HERE = Path(__file__).parent / "interop"
PEERS = ["websockets", "aiohttp", "ws"]
SERVER_COMPRESSION = ["plain", "deflate"]
CLIENT_COMPRESSION: list[Optional[str]] = [None, "deflate"]
STARTUP_TIMEOUT = 30.0
T = 10.0  # recv timeout: generous, only reached when something is broken
BIG = 16 * 2**20

# What the /fragments route sends (split inside UTF-8 sequences) and the /reject body.
FRAGMENTED_TEXT = "fragmenté 🚀"
FRAGMENTED_BINARY = b"\x00\x01\x02\x03"
REJECT_BODY = b"go away: this route always answers 403"


def pattern(n: int) -> bytes:
    """The bytes /send?n=N sends: byte i is i % 256."""
    return bytes(range(256)) * (n // 256) + bytes(range(n % 256))


class Peer:
    """One running peer server process and the ports of its listeners."""

    def __init__(self, name: str, command: list[str]) -> None:
        self.name = name
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
        )
        try:
            self.ports: dict[str, int] = json.loads(self._readline(STARTUP_TIMEOUT))
        except BaseException:
            self.stop()
            raise

    def _readline(self, timeout: float) -> str:
        """The readiness line, waited for at most ``timeout`` seconds."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            buffer = b""
            while b"\n" not in buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise RuntimeError(f"{self.name} server not ready in {timeout} s: "
                                       f"{self.stderr()}")
                chunk = os.read(self.process.stdout.fileno(), 4096)
                if not chunk:
                    raise RuntimeError(f"{self.name} server exited: {self.stderr()}")
                buffer += chunk
        return buffer.decode()

    def stderr(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-4000:]

    def url(self, path: str, listener: str = "plain") -> str:
        scheme = "wss" if listener == "tls" else "ws"
        return f"{scheme}://127.0.0.1:{self.ports[listener]}{path}"

    def stop(self) -> None:
        """Close its stdin (it exits on EOF); kill it if it does not within 5 s."""
        try:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(5)
        for stream in (self.process.stdout,):
            if stream is not None:
                stream.close()
        self._log.close()


def peer_command(name: str, tls: list[str]) -> list[str]:
    if name == "ws":
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("Node.js is needed for the ws interop peer")
        if not (HERE / "node_modules" / "ws").is_dir():
            raise RuntimeError("run `npm ci --prefix tests/interop` to install the ws peer")
        return [node, str(HERE / "ws_server.js"), *tls]
    return [sys.executable, str(HERE / f"{name}_server.py"), *tls]


class PeerPool:
    """Starts each peer on first use, once per session, and stops them all at the end.

    A CA and a server certificate for 127.0.0.1 are minted with ``trustme`` (the
    ``test`` extra) for the TLS listeners; without it only the TLS tests fail.
    """

    def __init__(self, tmp: Path) -> None:
        self.peers: dict[str, Peer] = {}
        self.tls_args: list[str] = []
        try:
            import trustme
        except ImportError:
            self.ca: Any = None
            return
        self.ca = trustme.CA()
        cert = self.ca.issue_cert("127.0.0.1", "localhost")
        certfile, keyfile = str(tmp / "server.pem"), str(tmp / "server.key")
        cert.private_key_and_cert_chain_pem.write_to_path(certfile)
        cert.private_key_pem.write_to_path(keyfile)
        self.tls_args = ["--certfile", certfile, "--keyfile", keyfile]

    def get(self, name: str) -> Peer:
        if name not in self.peers:
            self.peers[name] = Peer(name, peer_command(name, self.tls_args))
        return self.peers[name]

    def trust(self, context: ssl.SSLContext) -> ssl.SSLContext:
        """Make ``context`` trust the test CA."""
        if self.ca is None:
            raise RuntimeError("the TLS tests need trustme: pip install -e '.[test]'")
        self.ca.configure_trust(context)
        return context

    def stop(self) -> None:
        for peer in self.peers.values():
            peer.stop()


@pytest.fixture(scope="session")
def peer_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PeerPool]:
    pool = PeerPool(tmp_path_factory.mktemp("interop-tls"))
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture(scope="session", params=PEERS)
def peer(request: pytest.FixtureRequest, peer_pool: PeerPool) -> Peer:
    return peer_pool.get(request.param)


@pytest.fixture(params=SERVER_COMPRESSION)
def listener(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=CLIENT_COMPRESSION, ids=lambda c: f"client-{c}")
def client_compression(request: pytest.FixtureRequest) -> Optional[str]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def open_ws(peer: Peer, listener: str, client_compression: Optional[str]) -> Iterator[Any]:
    """``open_ws(path, **options)`` connects to the peer; every connection is closed afterwards."""
    opened: list[geventws.ClientConnection] = []

    def open_(path: str, **options: Any) -> geventws.ClientConnection:
        options = {"compression": client_compression, "open_timeout": T,
                   "close_timeout": 5, "ping_interval": None, **options}
        ws = geventws.connect(peer.url(path, listener), **options)
        opened.append(ws)
        return ws

    yield open_
    for ws in opened:
        ws.close()


def server_record(open_ws: Any, token: str) -> dict[str, Any]:
    """What the server recorded about the close of connection ``token``."""
    ws = open_ws(f"/closed?id={token}")
    record: dict[str, Any] = json.loads(ws.recv(timeout=T))
    assert "error" not in record, record
    return record


# -- messages -------------------------------------------------------------------


def test_text(open_ws):
    ws = open_ws("/echo")
    ws.send("hello, interop")
    assert ws.recv(timeout=T) == "hello, interop"


def test_binary(open_ws):
    ws = open_ws("/echo")
    ws.send(b"\x00\x01\xfe\xff" * 1000)
    assert ws.recv(timeout=T) == b"\x00\x01\xfe\xff" * 1000
    ws.send(bytearray(b"from a bytearray"))
    assert ws.recv(timeout=T) == b"from a bytearray"
    ws.send(memoryview(b"from a memoryview"))
    assert ws.recv(timeout=T) == b"from a memoryview"


def test_empty_text_and_binary(open_ws):
    ws = open_ws("/echo")
    ws.send("")
    message = ws.recv(timeout=T)
    assert message == "" and isinstance(message, str)
    ws.send(b"")
    message = ws.recv(timeout=T)
    assert message == b"" and isinstance(message, bytes)


def test_unicode_text(open_ws):
    text = "héllo wörld — 中文 — Ελληνικά — 🚀🎉 — \u0000 — \U0010ffff"
    ws = open_ws("/echo")
    ws.send(text)
    assert ws.recv(timeout=T) == text
    ws.send(text * 5000)  # ~250 KB, several TCP segments
    assert ws.recv(timeout=T) == text * 5000


def test_16_mib_binary(open_ws):
    """A 16 MiB message each way, with ``max_size`` raised on both sides."""
    data = pattern(BIG)
    ws = open_ws("/echo", max_size=BIG)
    ws.send(data)
    assert ws.recv(timeout=30) == data


def test_server_sends_n_bytes(open_ws):
    n = 1_000_003
    ws = open_ws(f"/send?n={n}")
    assert ws.recv(timeout=T) == pattern(n)


def test_message_over_max_size_fails_with_1009(open_ws):
    token = uuid.uuid4().hex
    ws = open_ws(f"/send?n={2**20 + 1}&id={token}", max_size=2**20)
    with pytest.raises(ConnectionClosedError) as info:
        ws.recv(timeout=T)
    assert info.value.sent is not None and info.value.sent.code == 1009
    assert isinstance(info.value.__cause__, geventws.PayloadTooBig)
    assert server_record(open_ws, token)["code"] == 1009


# -- fragmentation ----------------------------------------------------------------


def test_fragmented_text_from_us(open_ws):
    ws = open_ws("/echo")
    ws.send(["a", "b", "c"])
    assert ws.recv(timeout=T) == "abc"
    ws.send(["fr", "", "agmenté", " 🚀"])
    assert ws.recv(timeout=T) == "fragmenté 🚀"


def test_fragmented_binary_from_us(open_ws):
    ws = open_ws("/echo")
    ws.send([b"a", b"", bytearray(b"bc"), memoryview(b"d")])
    assert ws.recv(timeout=T) == b"abcd"
    ws.send([pattern(100_000), pattern(70_000)])
    assert ws.recv(timeout=T) == pattern(100_000) + pattern(70_000)


def test_fragmented_messages_from_server(open_ws):
    """Text fragments split inside UTF-8 sequences and interleaved with a ping, binary
    fragments with an empty one."""
    ws = open_ws("/fragments")
    assert ws.recv(timeout=T) == FRAGMENTED_TEXT
    assert ws.recv(timeout=T) == FRAGMENTED_BINARY
    # The server pinged between two text fragments; our pong came back mid-message.
    assert ws.recv(timeout=T) == "pong:mid-message"
    ws.send("still open")
    assert ws.recv(timeout=T) == "still open"


# -- ping / pong ------------------------------------------------------------------


def test_our_ping_resolves(open_ws):
    ws = open_ws("/echo")
    assert ws.ping().get(timeout=T) >= 0
    assert ws.ping(b"with payload").get(timeout=T) >= 0
    assert ws.ping("text payload").get(timeout=T) >= 0
    assert ws.ping(b"\xff" * 125).get(timeout=T) >= 0  # the largest control payload
    ws.pong(b"heartbeat")  # unsolicited (RFC 6455 §5.5.3): the peer ignores it
    ws.send("still fine")
    assert ws.recv(timeout=T) == "still fine"


def test_server_ping_gets_our_pong(open_ws):
    ws = open_ws("/ping")
    assert ws.recv(timeout=T) == "pong:srv-ping"


# -- closing ------------------------------------------------------------------------


def test_we_close_with_4000_bye(open_ws, peer):
    token = uuid.uuid4().hex
    ws = open_ws(f"/echo?id={token}")
    ws.send("before closing")
    assert ws.recv(timeout=T) == "before closing"
    ws.close(4000, "bye")
    assert ws.state is geventws.State.CLOSED
    # RFC 6455 §5.5.1: the answer *typically* echoes the code; aiohttp answers 1000.
    assert ws.close_code == (1000 if peer.name == "aiohttp" else 4000)
    with pytest.raises(ConnectionClosedError) as info:
        ws.recv(timeout=T)
    assert info.value.sent is not None and info.value.sent.code == 4000
    assert server_record(open_ws, token) == {"code": 4000, "reason": "bye"}


def test_we_close_normally(open_ws):
    token = uuid.uuid4().hex
    ws = open_ws(f"/echo?id={token}")
    ws.close()
    assert ws.close_code == 1000
    with pytest.raises(ConnectionClosedOK):
        ws.recv(timeout=T)
    assert server_record(open_ws, token) == {"code": 1000, "reason": ""}


@pytest.mark.parametrize(
    ("code", "reason", "exc_type"),
    [
        (1000, "done", ConnectionClosedOK),
        (1001, "going away", ConnectionClosedOK),
        (4001, "bye", ConnectionClosedError),
        (1011, "server error — é", ConnectionClosedError),
        (4002, "é" * 61 + "!", ConnectionClosedError),  # the longest reason: 123 bytes
    ],
    ids=["1000", "1001", "4001", "1011", "4002-long-reason"],
)
def test_server_closes(open_ws, code, reason, exc_type):
    token = uuid.uuid4().hex
    ws = open_ws("/close?" + urlencode({"code": code, "reason": reason, "id": token}))
    with pytest.raises(exc_type) as info:
        ws.recv(timeout=T)
    assert type(info.value) is exc_type
    assert (info.value.code, info.value.reason) == (code, reason)
    assert ws.wait_closed(T)
    assert (ws.close_code, ws.close_reason) == (code, reason)
    # We echoed the code (RFC 6455 §5.5.1), and the server saw it.
    assert info.value.sent is not None and info.value.sent.code == code
    with pytest.raises(exc_type):
        ws.send("too late")
    assert server_record(open_ws, token)["code"] == code


@pytest.mark.parametrize("code", [1000, 1001])
def test_iteration_ends_cleanly(open_ws, code):
    ws = open_ws(f"/close?code={code}&reason=enough&send=3")
    with gevent.Timeout(T):
        assert list(ws) == ["message 0", "message 1", "message 2"]
    assert ws.close_code == code


def test_flow_control_keeps_every_message_in_order(open_ws):
    """The server sends 3000 messages (~12 MB, more than socket buffers hold) then closes,
    while we hold off reading (``max_queue=4``): TCP backpressure pauses it, nothing is
    lost or reordered, the close still completes."""
    ws = open_ws("/close?code=1000&send=3000&pad=4000", max_queue=4)
    gevent.sleep(0.3)
    pad = "." * 4000
    with gevent.Timeout(30):
        assert list(ws) == [f"message {i}{pad}" for i in range(3000)]
    assert ws.close_code == 1000


def test_server_closes_without_status_code(open_ws):
    """An empty close frame: code 1005 (RFC 6455 §7.1.5), a normal closure, echoed empty."""
    ws = open_ws("/close?send=1")
    with gevent.Timeout(T):
        assert list(ws) == ["message 0"]
    assert (ws.close_code, ws.close_reason) == (1005, "")
    with pytest.raises(ConnectionClosedOK) as info:
        ws.recv(timeout=T)
    assert info.value.sent is not None and info.value.sent.code == 1005


def test_server_drops_tcp_without_close_frame(open_ws):
    ws = open_ws("/abort")
    assert ws.recv(timeout=T) == "last words"
    with pytest.raises(ConnectionClosedError) as info:
        ws.recv(timeout=T)
    assert info.value.rcvd is None
    assert ws.close_code == 1006


def test_iteration_raises_after_we_close_with_an_error_code(open_ws, peer):
    """Whatever code the peer answers (aiohttp: 1000, the others echo 4000), a connection we
    closed with 4000 did not close OK: the loop raises, as ``recv()`` does."""
    ws = open_ws("/echo")
    reader = gevent.spawn(lambda: list(ws))
    gevent.sleep(0.05)  # the reader is waiting in recv()
    ws.close(4000, "bye")
    reader.join(T)
    assert ws.close_code == (1000 if peer.name == "aiohttp" else 4000)
    assert isinstance(reader.exception, ConnectionClosedError)


def test_iteration_raises_on_error_close(open_ws):
    ws = open_ws("/close?code=4001&reason=bye&send=2")
    received = []
    with gevent.Timeout(T), pytest.raises(ConnectionClosedError) as info:
        for message in ws:
            received.append(message)
    assert received == ["message 0", "message 1"]
    assert (info.value.code, info.value.reason) == (4001, "bye")


# -- handshake ------------------------------------------------------------------------


def test_extension_negotiation(open_ws, peer, listener, client_compression):
    """Without an offer (``compression=None``) even a server willing to compress selects
    nothing; with ``"deflate"`` on both sides, permessage-deflate is negotiated with the
    peer's default parameters (``EXPECTED`` below)."""
    ws = open_ws("/echo")
    if client_compression == "deflate" and listener == "deflate":
        assert ws.extensions == EXPECTED[(peer.name, "defaults")].header
    else:
        assert ws.extensions == ""
        assert not any(name == "sec-websocket-extensions" for name, _ in ws.response_headers)
    ws.send("x" * 10_000)  # compressible: a server compressing anyway would set RSV1
    assert ws.recv(timeout=T) == "x" * 10_000


def test_request_headers_reach_the_server(open_ws):
    ws = open_ws("/headers", additional_headers={"X-Token": "abc123"},
                 origin="https://app.example")
    headers = json.loads(ws.recv(timeout=T))
    assert headers["x-token"] == "abc123"
    assert headers["origin"] == "https://app.example"
    assert headers["user-agent"] == geventws.connection.DEFAULT_USER_AGENT
    assert headers["sec-websocket-version"] == "13"
    assert headers["host"] == f"127.0.0.1:{ws.uri.port}"


def test_subprotocol_selected(open_ws):
    ws = open_ws("/subprotocol", subprotocols=["other.v9", "chat.v1"])
    assert ws.subprotocol == "chat.v1"
    assert ws.recv(timeout=T) == "chat.v1"


def test_no_common_subprotocol(open_ws):
    ws = open_ws("/subprotocol", subprotocols=["other.v9"])
    assert ws.subprotocol is None
    assert ws.recv(timeout=T) == ""


def test_non_101_answer(open_ws):
    with pytest.raises(InvalidStatus) as info:
        open_ws("/reject")
    assert info.value.status_code == 403
    assert info.value.body.startswith(REJECT_BODY)
    assert ("x-interop", "rejected") in info.value.headers


# -- many connections ---------------------------------------------------------------


def test_200_concurrent_connections(open_ws):
    """200 greenlets, each with its own connection, doing round trips at the same time."""
    def client(i: int) -> int:
        ws = open_ws("/echo")
        for j in range(10):
            ws.send(f"{i}:{j}")
            assert ws.recv(timeout=30) == f"{i}:{j}"
            ws.send(i.to_bytes(2, "big") * j)
            assert ws.recv(timeout=30) == i.to_bytes(2, "big") * j
        ws.close()
        assert ws.close_code == 1000
        return i

    greenlets = [gevent.spawn(client, i) for i in range(200)]
    gevent.joinall(greenlets, timeout=45)
    assert all(g.ready() for g in greenlets), "some clients did not finish in 45 s"
    failures = [g.exception for g in greenlets if not g.successful()]
    assert not failures, failures[:3]
    assert sorted(g.value for g in greenlets) == list(range(200))


# -- TLS -------------------------------------------------------------------------------


def tls_connect(peer: Peer, context: Optional[ssl.SSLContext], **options: Any) -> Any:
    return geventws.connect(peer.url("/echo", "tls"), ssl=context, compression=None,
                            open_timeout=T, close_timeout=5, ping_interval=None, **options)


def test_tls_verified_with_user_context(peer, peer_pool):
    context = peer_pool.trust(ssl.create_default_context())
    with tls_connect(peer, context) as ws:
        ws.send("over TLS")
        assert ws.recv(timeout=T) == "over TLS"
        ws.send(pattern(300_000))
        assert ws.recv(timeout=T) == pattern(300_000)
    assert ws.close_code == 1000


def test_tls_fails_without_the_ca(peer, peer_pool):
    """The default context does not trust the test CA: the handshake fails verification."""
    peer_pool.trust(ssl.create_default_context())  # the TLS listener is there
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_connect(peer, None)
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_connect(peer, ssl.create_default_context())


def test_tls_fails_for_the_wrong_hostname(peer, peer_pool):
    context = peer_pool.trust(ssl.create_default_context())
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_connect(peer, context, server_hostname="not-the-server.example")


# -- permessage-deflate over the wire ------------------------------------------------
#
# Proof that compression really happened, from both ends of the wire:
# - what we received: a per-connection observer plugin (``plugins=[WireLog()]``) sees
#   every frame as it came off the socket, before permessage-deflate inflated it
#   (RSV1, opcode, FIN, payload length on the wire);
# - what we sent: each peer server hands every raw byte its socket reads to a frame
#   walker of its own (``tests/interop/wireframes.py``, its twin in ``ws_server.js``)
#   before the peer library sees it, and ``/wire`` answers the text "wire?" with the
#   frames every earlier message arrived in. Those must equal what our observer saw
#   us send, and show RSV1 and compressed lengths.
# Sizes are asserted only where deflate leaves no doubt: random bytes never shrink,
# and a repeat inside the window shrinks to a few bytes.


class WireLog:
    """Observer plugin for one connection: frames as ``[rsv1, opcode, fin, wire length]``."""

    def __init__(self) -> None:
        self.sent: list[list[int]] = []
        self.received: list[list[int]] = []

    @geventws.hookimpl
    def geventws_frame_sent(self, frame: Any) -> None:
        self.sent.append([int(frame.rsv1), frame.opcode, int(frame.fin), len(frame.data)])

    @geventws.hookimpl
    def geventws_frame_received(self, frame: Any) -> None:
        self.received.append([int(frame.rsv1), frame.opcode, int(frame.fin), len(frame.data)])

    @staticmethod
    def messages(frames: list[list[int]]) -> list[list[list[int]]]:
        """Data frames grouped by message (control frames left out)."""
        messages: list[list[list[int]]] = []
        current: list[list[int]] = []
        for frame in frames:
            if frame[1] >= 8:
                continue
            current.append(frame)
            if frame[2]:
                messages.append(current)
                current = []
        return messages


class Negotiated(NamedTuple):
    """What a peer answers for one parameter set: its Sec-WebSocket-Extensions value and
    the parameters in force (server = how the peer compresses, client = how we do)."""

    header: str
    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15


# Parameter sets: the peer's listener (its server-side settings, see tests/interop/) and
# our plugin options (what we request).
DEFLATE_SETS: dict[str, tuple[str, dict[str, Any]]] = {
    "defaults": ("deflate", {}),
    "ask-no-context-takeover": ("deflate", {"server_no_context_takeover": True,
                                            "client_no_context_takeover": True}),
    "ask-client-no-context-takeover": ("deflate", {"client_no_context_takeover": True}),
    "ask-window-bits-10": ("deflate", {"server_max_window_bits": 10,
                                       "client_max_window_bits": 10}),
    "ask-window-bits-9": ("deflate", {"server_max_window_bits": 9, "client_max_window_bits": 9}),
    "server-no-context-takeover": ("deflate-nct", {}),
    "server-window-bits-10": ("deflate-bits", {}),
}
PMD = "permessage-deflate"
NCT = "server_no_context_takeover; client_no_context_takeover"
EXPECTED: dict[tuple[str, str], Negotiated] = {
    # websockets: compression="deflate" caps both windows at 12 bits; it grants what we ask.
    ("websockets", "defaults"): Negotiated(
        f"{PMD}; server_max_window_bits=12; client_max_window_bits=12", False, False, 12, 12),
    ("websockets", "ask-no-context-takeover"): Negotiated(
        f"{PMD}; {NCT}; server_max_window_bits=12; client_max_window_bits=12", True, True, 12, 12),
    ("websockets", "ask-client-no-context-takeover"): Negotiated(
        f"{PMD}; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=12",
        False, True, 12, 12),
    ("websockets", "ask-window-bits-10"): Negotiated(
        f"{PMD}; server_max_window_bits=10; client_max_window_bits=10", False, False, 10, 10),
    ("websockets", "ask-window-bits-9"): Negotiated(
        f"{PMD}; server_max_window_bits=9; client_max_window_bits=9", False, False, 9, 9),
    ("websockets", "server-no-context-takeover"): Negotiated(f"{PMD}; {NCT}", True, True),
    ("websockets", "server-window-bits-10"): Negotiated(
        f"{PMD}; server_max_window_bits=10; client_max_window_bits=10", False, False, 10, 10),
    # aiohttp grants server_no_context_takeover and server_max_window_bits and never answers
    # the client_* parameters: what we offered for ourselves binds us alone (RFC 7692 §7.1).
    ("aiohttp", "defaults"): Negotiated(PMD),
    ("aiohttp", "ask-no-context-takeover"): Negotiated(
        f"{PMD}; server_no_context_takeover", True, True),
    ("aiohttp", "ask-client-no-context-takeover"): Negotiated(PMD, False, True),
    ("aiohttp", "ask-window-bits-10"): Negotiated(
        f"{PMD}; server_max_window_bits=10", False, False, 10, 10),
    ("aiohttp", "ask-window-bits-9"): Negotiated(
        f"{PMD}; server_max_window_bits=9", False, False, 9, 9),
    # Node ws: defaults are full windows with context takeover; it echoes what we ask.
    ("ws", "defaults"): Negotiated(PMD),
    ("ws", "ask-no-context-takeover"): Negotiated(f"{PMD}; {NCT}", True, True),
    ("ws", "ask-client-no-context-takeover"): Negotiated(
        f"{PMD}; client_no_context_takeover", False, True),
    ("ws", "ask-window-bits-10"): Negotiated(
        f"{PMD}; server_max_window_bits=10; client_max_window_bits=10", False, False, 10, 10),
    ("ws", "ask-window-bits-9"): Negotiated(
        f"{PMD}; server_max_window_bits=9; client_max_window_bits=9", False, False, 9, 9),
    ("ws", "server-no-context-takeover"): Negotiated(f"{PMD}; {NCT}", True, True),
    ("ws", "server-window-bits-10"): Negotiated(
        f"{PMD}; client_max_window_bits=10; server_max_window_bits=10", False, False, 10, 10),
}
DEFLATE_MATRIX = [pytest.param(peer, name, id=f"{peer}-{name}") for peer, name in EXPECTED]
DEFLATE_PEERS = [pytest.param(peer, id=peer) for peer in PEERS]


def server_compresses(peer: str, pset: str, size: int) -> bool:
    """Whether the peer compresses a message of ``size`` bytes under parameter set ``pset``.

    websockets and aiohttp compress every message. Node ws applies its ``threshold``
    (1024 by default, 100 on its "deflate-nct" listener) only when it resets its
    context after each message, i.e. under server_no_context_takeover.
    """
    if peer != "ws" or not EXPECTED[(peer, pset)].server_no_context_takeover:
        return True
    return size >= (100 if DEFLATE_SETS[pset][0] == "deflate-nct" else 1024)


@pytest.fixture
def connect_deflate(peer_pool: PeerPool) -> Iterator[Any]:
    """``connect_deflate(peer, pset, path, **options) -> (ws, log)`` with compression on and a
    :class:`WireLog` plugged in; every connection is closed afterwards."""
    opened: list[geventws.ClientConnection] = []

    def open_(peer: str, pset: str, path: str, *, plugin_options: Optional[dict[str, Any]] = None,
              **options: Any) -> tuple[geventws.ClientConnection, WireLog]:
        listener, requested = DEFLATE_SETS[pset]
        log = WireLog()
        ws = geventws.connect(
            peer_pool.get(peer).url(path, listener), compression="deflate", plugins=[log],
            plugin_options={PMD: {**requested, **(plugin_options or {})}},
            open_timeout=T, close_timeout=5, ping_interval=None, **options)
        opened.append(ws)
        return ws, log

    yield open_
    for ws in opened:
        ws.close()


def server_saw(ws: geventws.ClientConnection) -> list[list[list[int]]]:
    """The frames of each message so far, as the peer read them off its socket (/wire)."""
    ws.send("wire?")
    report = json.loads(ws.recv(timeout=T))
    messages: list[list[list[int]]] = report["messages"]
    return messages


def wire_size(message: list[list[int]]) -> int:
    return sum(frame[3] for frame in message)


@pytest.mark.parametrize(("peer_name", "pset"), DEFLATE_MATRIX)
def test_deflate_negotiated(connect_deflate, peer_name, pset):
    """The server's Sec-WebSocket-Extensions value, exactly, and the parameters in force."""
    expected = EXPECTED[(peer_name, pset)]
    ws, _ = connect_deflate(peer_name, pset, "/echo")
    assert ws.extensions == expected.header
    (extension,) = negotiated_extensions(ws)
    assert (extension.remote_no_context_takeover, extension.local_no_context_takeover,
            extension.remote_max_window_bits, extension.local_max_window_bits) == expected[1:]


@pytest.mark.parametrize(("peer_name", "pset"), DEFLATE_MATRIX)
def test_deflate_compressed_frames_both_ways(connect_deflate, peer_name, pset, zlib_backend):
    """A compressible message crosses in one RSV1 frame, a small fraction of its size, each way."""
    text = "compress me — héllo wörld; " * 5000  # 145,000 bytes of UTF-8
    size = len(text.encode())
    ws, log = connect_deflate(peer_name, pset, "/wire")
    ws.send(text)
    assert ws.recv(timeout=T) == text
    # A tenth: zlib at 9 bits with aiohttp's settings gets 6 % on this text, the others ~1 %.
    (sent,) = WireLog.messages(log.sent)
    assert sent[0][:3] == [1, 1, 1] and sent[0][3] < size // 10
    (received,) = WireLog.messages(log.received)
    assert received[0][:3] == [1, 1, 1] and received[0][3] < size // 10
    assert server_saw(ws) == [sent]


@pytest.mark.parametrize(("peer_name", "pset"), DEFLATE_MATRIX)
def test_deflate_window_bits(connect_deflate, peer_name, pset, zlib_backend):
    """A 2000-byte random block said 8 times: with a window of 12 bits or more each repeat
    is a back-reference (the message shrinks to about one block); with 10 or fewer the
    repeats are out of reach (zlib reaches 2**bits - 262 bytes back) and nothing shrinks.
    Our inflater is sized to the negotiated server window, so a peer that used a larger
    one would fail the connection here ("invalid distance too far back")."""
    expected = EXPECTED[(peer_name, pset)]
    data = os.urandom(2000) * 8
    ws, log = connect_deflate(peer_name, pset, "/wire")
    ws.send(data)
    assert ws.recv(timeout=T) == data

    def check(message: list[list[int]], bits: int) -> None:
        assert message[0][:3] == [1, 2, 1]
        if bits <= 10:
            # Out of reach, the repeats cost their full 16,000 bytes; random data still
            # yields a few chance 3-byte matches, so "nothing shrinks" means "not by much".
            assert wire_size(message) > 15_000, message
        else:
            assert wire_size(message) < 2_600, message

    (sent,) = WireLog.messages(log.sent)
    check(sent, expected.client_max_window_bits)
    (received,) = WireLog.messages(log.received)
    check(received, expected.server_max_window_bits)
    assert server_saw(ws) == [sent]


@pytest.mark.parametrize(("peer_name", "pset"), DEFLATE_MATRIX)
def test_deflate_context_takeover(connect_deflate, peer_name, pset):
    """The same 200 random bytes five times in a row: with context takeover every repeat
    refers back to the message before (a few bytes on the wire); without it each message
    is compressed afresh (no smaller than the data)."""
    expected = EXPECTED[(peer_name, pset)]
    block = os.urandom(200)
    ws, log = connect_deflate(peer_name, pset, "/wire")
    for _ in range(5):
        ws.send(block)
        assert ws.recv(timeout=T) == block

    def check(messages: list[list[list[int]]], rsv1: bool, no_takeover: bool) -> None:
        assert len(messages) == 5
        assert all(len(m) == 1 and m[0][:3] == [int(rsv1), 2, 1] for m in messages), messages
        assert wire_size(messages[0]) >= 200
        for message in messages[1:]:
            if no_takeover or not rsv1:
                assert wire_size(message) >= 200, messages
            else:
                assert wire_size(message) < 40, messages

    sent = WireLog.messages(log.sent)
    check(sent, True, expected.client_no_context_takeover)
    check(WireLog.messages(log.received), server_compresses(peer_name, pset, 200),
          expected.server_no_context_takeover)
    assert server_saw(ws) == sent


@pytest.mark.parametrize(("peer_name", "pset"), DEFLATE_MATRIX)
def test_deflate_many_messages_in_a_row(connect_deflate, peer_name, pset):
    """400 messages sent back to back (text and binary, empty to 1 KB, many alike) while
    the echoes come back: every one intact and in order, contexts carried across all of
    them. We leave messages under our threshold (32 bytes) uncompressed, the peer its own."""
    expected = EXPECTED[(peer_name, pset)]
    messages: list[Any] = []
    for i in range(400):
        record = json.dumps({"seq": i, "symbol": "GEVT", "price": 100 + i % 7, "pad": "ab" * (i % 50)})
        messages.append([record, record.encode(), "", b"", f"m{i}", "é" * (i % 600)][i % 6])
    ws, log = connect_deflate(peer_name, pset, "/wire")
    sender = gevent.spawn(lambda: [ws.send(m) for m in messages])
    with gevent.Timeout(30):
        received = [ws.recv(timeout=T) for _ in messages]
    sender.get(timeout=T)
    assert received == messages
    sizes = [len(m.encode() if isinstance(m, str) else m) for m in messages]
    sent = WireLog.messages(log.sent)
    assert [m[0][0] for m in sent] == [int(n >= 32) for n in sizes]
    assert [m[0][0] for m in WireLog.messages(log.received)] == \
        [int(server_compresses(peer_name, pset, n)) for n in sizes]
    if not expected.client_no_context_takeover:
        assert sum(map(wire_size, sent)) < sum(sizes) // 5
    assert server_saw(ws) == sent


@pytest.mark.parametrize("peer_name", DEFLATE_PEERS)
def test_deflate_16_mib_compressible(connect_deflate, peer_name):
    data = pattern(BIG)
    ws, log = connect_deflate(peer_name, "defaults", "/wire", max_size=BIG)
    ws.send(data)
    assert ws.recv(timeout=30) == data
    sent = WireLog.messages(log.sent)
    assert sent[0][0][0] == 1 and wire_size(sent[0]) < BIG // 20
    received = WireLog.messages(log.received)
    assert received[0][0][0] == 1 and wire_size(received[0]) < BIG // 20
    assert server_saw(ws) == sent


@pytest.mark.parametrize("peer_name", DEFLATE_PEERS)
def test_deflate_16_mib_incompressible(connect_deflate, peer_name):
    """16 MiB of random bytes with ``max_size`` exactly 16 MiB: deflate makes each frame
    a little larger than the message (stored blocks), which must not count against
    ``max_size`` (it used to fail with 1009)."""
    data = os.urandom(BIG)
    ws, log = connect_deflate(peer_name, "defaults", "/wire", max_size=BIG)
    ws.send(data)
    assert ws.recv(timeout=30) == data
    sent = WireLog.messages(log.sent)
    assert sent[0][0][0] == 1 and wire_size(sent[0]) > BIG
    received = WireLog.messages(log.received)
    assert received[0][0][0] == 1 and wire_size(received[0]) > BIG
    assert server_saw(ws) == sent


@pytest.mark.parametrize("peer_name", ["websockets", "ws"])
def test_deflate_fragmented_message_from_server(connect_deflate, peer_name):
    """One message in 8 compressed fragments (websockets ``send(list)``, Node ws
    ``send(chunk, {fin: false, compress: true})``): RSV1 on the first frame only, one
    deflate stream across them, context carried on to the next message. websockets ends
    an iterable with an empty final fragment (a ninth frame). aiohttp has no API to send
    fragments."""
    ws, log = connect_deflate(peer_name, "defaults", "/deflate-fragments?n=8&size=100000")
    assert ws.recv(timeout=T) == pattern(100_000) * 8
    (message,) = WireLog.messages(log.received)
    middle = 7 if peer_name == "websockets" else 6
    assert [frame[:3] for frame in message] == [[1, 2, 0]] + [[0, 0, 0]] * middle + [[0, 0, 1]]
    assert wire_size(message) < 800_000 // 20
    ws.send("after the fragments")
    assert ws.recv(timeout=T) == "after the fragments"
    assert WireLog.messages(log.received)[1][0][0] == 1


@pytest.mark.parametrize("peer_name", DEFLATE_PEERS)
def test_deflate_fragmented_messages_from_us(connect_deflate, peer_name):
    """Our fragments form one deflate stream with RSV1 on the first frame only; text split
    inside UTF-8 sequences is reassembled by the peer after inflating."""
    ws, log = connect_deflate(peer_name, "defaults", "/wire")
    ws.send([pattern(100_000)] * 4)
    assert ws.recv(timeout=T) == pattern(100_000) * 4
    text = ["fr", "agment" + "é" * 10_000, "\U0001f680" * 100]
    ws.send(text)
    assert ws.recv(timeout=T) == "".join(text)
    sent = WireLog.messages(log.sent)
    assert [f[:3] for f in sent[0]] == [[1, 2, 0], [0, 0, 0], [0, 0, 0], [0, 0, 1]]
    assert [f[:3] for f in sent[1]] == [[1, 1, 0], [0, 0, 0], [0, 0, 1]]
    assert wire_size(sent[0]) < 400_000 // 20
    assert server_saw(ws) == sent


@pytest.mark.parametrize("peer_name", DEFLATE_PEERS)
def test_deflate_empty_messages(connect_deflate, peer_name):
    """Empty messages compressed both ways (RFC 7692 §7.2.3.6: a lone 0x00 byte): ours with
    ``threshold=0``, and each peer compresses empties too under context takeover."""
    ws, log = connect_deflate(peer_name, "defaults", "/wire", plugin_options={"threshold": 0})
    ws.send("")
    message = ws.recv(timeout=T)
    assert message == "" and isinstance(message, str)
    ws.send(b"")
    message = ws.recv(timeout=T)
    assert message == b"" and isinstance(message, bytes)
    sent = WireLog.messages(log.sent)
    assert [m[0][:3] for m in sent] == [[1, 1, 1], [1, 2, 1]]
    assert all(1 <= m[0][3] <= 6 for m in sent)
    received = WireLog.messages(log.received)
    assert [m[0][:3] for m in received] == [[1, 1, 1], [1, 2, 1]]
    assert server_saw(ws) == sent


@pytest.mark.parametrize("peer_name", DEFLATE_PEERS)
def test_deflate_bomb_fails_with_1009(connect_deflate, peer_name):
    """The peer sends 32 MiB of zeros, a few dozen KB compressed, to a client with
    ``max_size=1 MiB``: we stop inflating at the limit and fail with 1009, and the peer
    sees 1009."""
    token = uuid.uuid4().hex
    ws, log = connect_deflate(peer_name, "defaults", f"/send?n={32 * 2**20}&zero=1&id={token}",
                              max_size=2**20)
    with pytest.raises(ConnectionClosedError) as info:
        ws.recv(timeout=T)
    assert info.value.sent is not None and info.value.sent.code == 1009
    assert isinstance(info.value.__cause__, geventws.PayloadTooBig)
    first = next(frame for frame in log.received if frame[1] < 8)
    assert first[0] == 1 and first[3] < 2**20  # small on the wire, too big inflated
    closed, _ = connect_deflate(peer_name, "defaults", f"/closed?id={token}")
    assert json.loads(closed.recv(timeout=T))["code"] == 1009


@pytest.mark.parametrize(("peer_name", "outcome"), [("websockets", "accepts"), ("ws", "rejects")])
def test_deflate_server_window_cap_without_our_offer(connect_deflate, peer_name, outcome):
    """With ``client_max_window_bits=False`` we do not offer to cap our window, against a
    server configured to cap it at 10 bits. RFC 7692 §7.1.2.2 forbids the server to answer
    with the parameter; websockets accepts without it (we compress with 15 bits), Node ws
    answers 400 rather than declining the extension. Both are allowed by the RFC."""
    if outcome == "accepts":
        ws, _ = connect_deflate(peer_name, "server-window-bits-10", "/echo",
                                plugin_options={"client_max_window_bits": False})
        assert ws.extensions == f"{PMD}; server_max_window_bits=10"
        (extension,) = negotiated_extensions(ws)
        assert extension.local_max_window_bits == 15
        ws.send("x" * 1000)
        assert ws.recv(timeout=T) == "x" * 1000
    else:
        with pytest.raises(InvalidStatus) as info:
            connect_deflate(peer_name, "server-window-bits-10", "/echo",
                            plugin_options={"client_max_window_bits": False})
        assert info.value.status_code == 400


@pytest.mark.parametrize(("peer_name", "header"), [
    ("websockets", ""), ("aiohttp", ""), ("ws", f"{PMD}; server_max_window_bits=8")])
def test_deflate_server_window_of_8_bits(connect_deflate, peer_name, header):
    """Asking for ``server_max_window_bits=8`` (RFC 7692 allows 8 to 15): websockets and
    aiohttp decline the offer (zlib has no 256-byte raw deflate window) and the connection
    runs uncompressed; Node ws grants it and compresses with zlib's smallest window, whose
    matches reach at most 250 bytes back, inside the granted 256. Our inflater (sized 9
    bits, the least zlib takes) follows either way."""
    block = os.urandom(200)
    ws, log = connect_deflate(peer_name, "defaults", "/wire",
                              plugin_options={"server_max_window_bits": 8})
    assert ws.extensions == header
    for _ in range(3):
        ws.send(block)
        assert ws.recv(timeout=T) == block
    received = WireLog.messages(log.received)
    if header:
        assert [m[0][0] for m in received] == [1, 1, 1]
        assert wire_size(received[2]) < 40  # a back-reference 200 bytes away
    else:
        assert received == [[[0, 2, 1, 200]]] * 3
        assert WireLog.messages(log.sent) == [[[0, 2, 1, 200]]] * 3
        assert server_saw(ws) == [[[0, 2, 1, 200]]] * 3
