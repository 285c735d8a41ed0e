"""permessage-deflate end to end: against ``websockets``' server and our own server role."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import tracemalloc
from collections.abc import Iterator

import gevent
import pytest
from plugin_servers import deflate, deflate_registered, fixed, flush, read_close, serving

import geventws
from geventws import ConnectionClosedError, NegotiationError
from geventws.extensions.permessage_deflate import PerMessageDeflate, server_accept
from geventws.frames import Frame, serialize_frame
from geventws.headers import parse_extension_header
from geventws.negotiation import negotiated_extensions

# Both ends with zlib-ng, then both with the stdlib's zlib.
pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("zlib_backend")]

WEBSOCKETS_SERVER = textwrap.dedent("""
    import json, sys
    from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
    from websockets.sync.server import serve

    def echo(ws):
        for message in ws:
            ws.send(message)

    factory = ServerPerMessageDeflateFactory(**json.loads(sys.argv[1]))
    with serve(echo, "127.0.0.1", 0, extensions=[factory], compression=None,
               max_size=None) as server:
        print(server.socket.getsockname()[1], flush=True)
        server.serve_forever()
""")


@pytest.fixture(autouse=True)
def _deflate_plugin(tmp_path):
    with deflate_registered(tmp_path):
        yield


@pytest.fixture(scope="module", params=[
    {},
    {"server_no_context_takeover": True, "client_no_context_takeover": True},
    {"server_max_window_bits": 10, "client_max_window_bits": 11},
], ids=["default", "no-context-takeover", "small-windows"])
def websockets_server(request) -> Iterator[tuple[str, dict]]:
    proc = subprocess.Popen([sys.executable, "-c", WEBSOCKETS_SERVER, json.dumps(request.param)],
                            stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        yield f"ws://127.0.0.1:{port}/", request.param
    finally:
        proc.terminate()
        proc.wait(10)


MESSAGES = ["hello", "héllo wörld " * 200, b"\x00\x01" * 50000, "", b"", "x" * 31,
            bytes(range(256)) * 40]


def test_round_trips_with_websockets(websockets_server):
    url, config = websockets_server
    with geventws.connect(url) as ws:
        [(name, _params)] = parse_extension_header(ws.extensions)
        assert name == "permessage-deflate"
        [ext] = negotiated_extensions(ws)
        assert isinstance(ext, PerMessageDeflate)
        if config.get("server_no_context_takeover"):
            assert ext.remote_no_context_takeover and ext.local_no_context_takeover
        if config.get("server_max_window_bits"):
            assert (ext.remote_max_window_bits, ext.local_max_window_bits) == (10, 11)
        for message in MESSAGES * 2:
            ws.send(message)
            assert ws.recv(timeout=5) == message
        ws.send(["frag ", "mented " * 100, "é"])
        assert ws.recv(timeout=5) == "frag " + "mented " * 100 + "é"
        ws.send([b"a" * 5000, b"", b"b" * 5000])
        assert ws.recv(timeout=5) == b"a" * 5000 + b"b" * 5000
        assert ws.ping().get(timeout=5) >= 0
    assert ws.close_code == 1000


@pytest.mark.parametrize("options", [
    {},
    {"server_no_context_takeover": True},
    {"client_no_context_takeover": True, "server_max_window_bits": 9},
    {"client_max_window_bits": 10},
])
def test_round_trips_with_our_server_role(options):
    with serving(deflate(**options)) as server, geventws.connect(server.url) as ws:
        assert ws.extensions.startswith("permessage-deflate")
        for message in MESSAGES:
            ws.send(message)
            assert ws.recv(timeout=5) == message


def test_offer_sent_by_default_and_off_with_compression_none():
    with serving(deflate()) as server:
        with geventws.connect(server.url) as ws:
            assert ws.extensions == "permessage-deflate"
        with geventws.connect(server.url, compression=None) as ws:
            assert ws.extensions == ""
            assert negotiated_extensions(ws) == []
        with geventws.connect(server.url, disable_plugins=["permessage-deflate"]) as ws:
            assert ws.extensions == ""
    offers = [dict(r).get("sec-websocket-extensions") for r in server.requests]
    assert offers == ["permessage-deflate; client_max_window_bits", None, None]


def test_plugin_options_reach_the_offer():
    options = {"permessage-deflate": {"server_max_window_bits": 10,
                                      "client_no_context_takeover": True,
                                      "compress_level": 1, "mem_level": 9, "threshold": 0}}
    with serving(deflate()) as server, \
            geventws.connect(server.url, plugin_options=options) as ws:
        ws.send("x")
        assert ws.recv(timeout=5) == "x"
        [ext] = negotiated_extensions(ws)
        assert ext.compress_level == 1 and ext.mem_level == 9 and ext.threshold == 0
    assert dict(server.requests[0])["sec-websocket-extensions"] == (
        "permessage-deflate; client_no_context_takeover; server_max_window_bits=10; "
        "client_max_window_bits")


def test_a_list_of_options_offers_alternatives_preferred_first():
    options = {"permessage-deflate": [{"server_max_window_bits": 9,
                                       "server_no_context_takeover": True},
                                      {"server_no_context_takeover": True}, {}]}
    with serving(deflate()) as server, \
            geventws.connect(server.url, plugin_options=options) as ws:
        ws.send("abc" * 100)
        assert ws.recv(timeout=5) == "abc" * 100
        [ext] = negotiated_extensions(ws)
        assert (ext.remote_max_window_bits, ext.remote_no_context_takeover) == (9, True)
    assert dict(server.requests[0])["sec-websocket-extensions"] == (
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=9; "
        "client_max_window_bits, "
        "permessage-deflate; server_no_context_takeover; client_max_window_bits, "
        "permessage-deflate; client_max_window_bits")


@pytest.mark.parametrize(("header", "expected"), [
    # The server took the second offer: no window cap, but no context takeover.
    ("permessage-deflate; server_no_context_takeover", (15, True)),
    # The third: neither.
    ("permessage-deflate", (15, False)),
    ("permessage-deflate; server_max_window_bits=10; server_no_context_takeover", (10, True)),
])
def test_response_to_alternatives_fits_the_offer_it_answers(header, expected):
    options = {"permessage-deflate": [{"server_max_window_bits": 10,
                                       "server_no_context_takeover": True},
                                      {"server_no_context_takeover": True}, {}]}
    remote = PerMessageDeflate(local_max_window_bits=expected[0],
                               local_no_context_takeover=expected[1])
    with serving(fixed(header, [remote])) as server, \
            geventws.connect(server.url, plugin_options=options) as ws:
        ws.send("xyz" * 50)
        assert ws.recv(timeout=5) == "xyz" * 50
        [ext] = negotiated_extensions(ws)
        assert (ext.remote_max_window_bits, ext.remote_no_context_takeover) == expected


def test_response_fitting_none_of_the_alternatives_fails_the_handshake():
    options = {"permessage-deflate": [{"server_max_window_bits": 10}, {"server_max_window_bits": 12}]}
    with serving(fixed("permessage-deflate; server_max_window_bits=13")) as server, \
            pytest.raises(NegotiationError, match="none of our 2 offers"):
        geventws.connect(server.url, plugin_options=options)


@pytest.mark.parametrize("bad", [[], "server_max_window_bits=10", [{"server_max_window_bits": 10}, 3]])
def test_plugin_options_must_be_a_mapping_or_list_of_mappings(bad):
    with pytest.raises(ValueError, match="permessage-deflate"):
        geventws.connect("ws://127.0.0.1:9/", plugin_options={"permessage-deflate": bad})


def test_bad_plugin_option_fails_before_connecting():
    with pytest.raises(ValueError, match="permessage-deflate"):
        geventws.connect("ws://127.0.0.1:9/", plugin_options={"permessage-deflate": {"x": 1}})


@pytest.mark.parametrize("header", [
    "permessage-deflate; server_max_window_bits=20",
    "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
    "permessage-deflate; bogus",
    "permessage-deflate, permessage-deflate",
    "x-unknown-extension",
    "permessage-deflate; =",
])
def test_malformed_responses_fail_the_handshake(header):
    with serving(fixed(header)) as server, pytest.raises(NegotiationError):
        geventws.connect(server.url, open_timeout=5)


def test_server_sending_rsv1_without_negotiation_fails_1002():
    def handler(sock, protocol):
        sock.sendall(serialize_frame(Frame(0x1, b"\x00", rsv1=True), mask=False)[0])
        server_close.append(read_close(sock))

    server_close: list = []
    with serving(handler=handler) as server:
        ws = geventws.connect(server.url, compression=None)
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=5)
        ws.wait_closed(5)
    assert server_close[0].code == 1002


def bomb_handler(inflated: int, fragments: int = 1):
    """A server that answers with a decompression bomb and records the client's close frame."""
    import zlib

    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    block = 1 << 20
    chunk = compressor.compress(bytes(block)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    per_frame = inflated // block // fragments
    closes: list = []
    wire = []  # built before the test measures memory: only the client's is counted
    for i in range(fragments):
        data = chunk * per_frame
        last = i == fragments - 1
        frame = Frame(0x2 if i == 0 else 0x0, data[:-4] if last else data, fin=last,
                      rsv1=i == 0)
        wire.append(b"".join(serialize_frame(frame, mask=False)))

    def handler(sock, protocol):
        for frame in wire:
            sock.sendall(frame)
        flush(sock, protocol)
        closes.append(read_close(sock))

    return handler, closes


def respond_deflate(request):
    _params, ext = server_accept([[]])
    return [("Sec-WebSocket-Extensions", "permessage-deflate")], [ext]


@pytest.mark.parametrize("fragments", [1, 64])
def test_decompression_bomb_ends_in_1009_with_bounded_memory(fragments):
    handler, closes = bomb_handler(1 << 30, fragments)
    with serving(respond_deflate, handler) as server:
        tracemalloc.start()
        try:
            ws = geventws.connect(server.url, max_size=2 << 20, ping_interval=None)
            with pytest.raises(ConnectionClosedError) as info:
                ws.recv(timeout=20)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert ws.wait_closed(10)
        with gevent.Timeout(10):
            while not closes:
                gevent.sleep(0.01)
    assert info.value.sent is not None and info.value.sent.code == 1009
    assert closes[0] is not None and closes[0].code == 1009
    # A 1 GiB bomb costs max_size (2 MiB) of output plus the engine's copies of the
    # 1 MiB compressed frame (read chunks, their join, the payload slice): ~5.5 MiB.
    print(f"1 GiB bomb in {fragments} frame(s): client peak {peak / 2**20:.2f} MiB")
    assert peak < 8 << 20, f"peak {peak} bytes"
