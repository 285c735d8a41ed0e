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
from typing import Any, Optional
from urllib.parse import urlencode

import gevent
import pytest

import geventws
from geventws import ConnectionClosedError, ConnectionClosedOK, InvalidStatus

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


def test_extension_negotiation(open_ws, listener, client_compression):
    """Without an offer (``compression=None``) even a server willing to compress selects
    nothing; with ``"deflate"`` on both sides, permessage-deflate is negotiated."""
    ws = open_ws("/echo")
    if client_compression == "deflate" and listener == "deflate":
        assert ws.extensions.startswith("permessage-deflate")
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
