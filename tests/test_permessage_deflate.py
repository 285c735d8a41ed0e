"""permessage-deflate (RFC 7692), sans-IO: negotiation matrix, frames, round trips, bombs."""

from __future__ import annotations

import tracemalloc
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geventws import NegotiationError, PayloadTooBig, ProtocolError
from geventws.events import Close
from geventws.extensions.permessage_deflate import (
    ClientSettings,
    PerMessageDeflate,
    server_accept,
)
from geventws.frames import Frame
from geventws.headers import parse_extension_header
from geventws.protocol import Protocol, Role

# Everything here once with zlib-ng and once with the stdlib's zlib.
pytestmark = pytest.mark.usefixtures("zlib_backend")

TEXT, BINARY, CONT, PING, CLOSE = 0x1, 0x2, 0x0, 0x9, 0x8


def response(header: str) -> list[tuple[str, str | None]]:
    [(name, params)] = parse_extension_header(header)
    assert name == "permessage-deflate"
    return params


def pair(**settings: object) -> tuple[PerMessageDeflate, PerMessageDeflate]:
    """A client extension and the server extension that a real negotiation would make."""
    client = ClientSettings(**settings)  # type: ignore[arg-type]
    offer = client.offer()
    accepted = server_accept([offer.params], threshold=0)
    assert accepted is not None
    params, server_ext = accepted
    return client.accept(params), server_ext


# -- offers ---------------------------------------------------------------------


def test_default_offer_is_what_browsers_send():
    assert str(ClientSettings().offer()) == "permessage-deflate; client_max_window_bits"


def test_offer_with_every_parameter():
    offer = ClientSettings(client_max_window_bits=10, server_max_window_bits=12,
                           client_no_context_takeover=True,
                           server_no_context_takeover=True).offer()
    assert str(offer) == ("permessage-deflate; server_no_context_takeover; "
                          "client_no_context_takeover; server_max_window_bits=12; "
                          "client_max_window_bits=10")


def test_offer_without_client_max_window_bits():
    assert str(ClientSettings(client_max_window_bits=False).offer()) == "permessage-deflate"


@pytest.mark.parametrize("options", [
    {"client_max_window_bits": 8},
    {"client_max_window_bits": 16},
    {"server_max_window_bits": 7},
    {"compress_level": 10},
    {"mem_level": 0},
    {"threshold": -1},
    {"no_such_option": 1},
])
def test_bad_options_are_refused(options):
    with pytest.raises(ValueError):
        ClientSettings.from_options(options)


# -- the server's response: accepted ------------------------------------------


@pytest.mark.parametrize(("options", "header", "expected"), [
    ({}, "permessage-deflate", (False, False, 15, 15)),
    ({}, "permessage-deflate; server_no_context_takeover", (True, False, 15, 15)),
    ({}, "permessage-deflate; client_no_context_takeover", (False, True, 15, 15)),
    ({}, "permessage-deflate; server_max_window_bits=10", (False, False, 10, 15)),
    ({}, "permessage-deflate; client_max_window_bits=9", (False, False, 15, 9)),
    ({}, 'permessage-deflate; client_max_window_bits="12"', (False, False, 15, 12)),
    ({}, "permessage-deflate; client_max_window_bits=8", (False, False, 15, 8)),
    ({"server_no_context_takeover": True},
     "permessage-deflate; server_no_context_takeover", (True, False, 15, 15)),
    ({"client_no_context_takeover": True}, "permessage-deflate", (False, True, 15, 15)),
    ({"server_max_window_bits": 12},
     "permessage-deflate; server_max_window_bits=12", (False, False, 12, 15)),
    ({"server_max_window_bits": 12},
     "permessage-deflate; server_max_window_bits=9", (False, False, 9, 15)),
    ({"client_max_window_bits": 11}, "permessage-deflate", (False, False, 15, 11)),
    ({"client_max_window_bits": 11},
     "permessage-deflate; client_max_window_bits=10", (False, False, 15, 10)),
    ({}, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
         "server_max_window_bits=8; client_max_window_bits=15", (True, True, 8, 15)),
])
def test_response_accepted(options, header, expected):
    ext = ClientSettings(**options).accept(response(header))
    assert (ext.remote_no_context_takeover, ext.local_no_context_takeover,
            ext.remote_max_window_bits, ext.local_max_window_bits) == expected


# -- the server's response: refused -------------------------------------------


@pytest.mark.parametrize(("options", "header", "why"), [
    ({}, "permessage-deflate; foo", "unknown parameter"),
    ({}, "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
     "repeated"),
    ({}, "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
     "repeated"),
    ({}, "permessage-deflate; server_no_context_takeover=1", "takes no value"),
    ({}, "permessage-deflate; client_no_context_takeover=x", "takes no value"),
    ({}, "permessage-deflate; server_max_window_bits", "invalid server_max_window_bits"),
    ({}, "permessage-deflate; server_max_window_bits=7", "invalid"),
    ({}, "permessage-deflate; server_max_window_bits=16", "invalid"),
    ({}, "permessage-deflate; server_max_window_bits=09", "invalid"),
    ({}, "permessage-deflate; server_max_window_bits=+9", "invalid"),
    ({}, "permessage-deflate; client_max_window_bits", "invalid client_max_window_bits"),
    ({}, "permessage-deflate; client_max_window_bits=0", "invalid"),
    ({"client_max_window_bits": False},
     "permessage-deflate; client_max_window_bits=10", "did not offer"),
    ({"client_max_window_bits": 10},
     "permessage-deflate; client_max_window_bits=11", "exceeds"),
    ({"server_max_window_bits": 10},
     "permessage-deflate; server_max_window_bits=11", "exceeds"),
    ({"server_max_window_bits": 10}, "permessage-deflate", "ignored server_max_window_bits"),
    ({"server_no_context_takeover": True}, "permessage-deflate",
     "ignored server_no_context_takeover"),
])
def test_malformed_response_refused(options, header, why):
    with pytest.raises(NegotiationError, match=why):
        ClientSettings(**options).accept(response(header))


# -- the server role ------------------------------------------------------------


def test_server_accepts_the_browser_offer():
    params, ext = server_accept([response("permessage-deflate; client_max_window_bits")])
    assert params == []
    assert ext.local_max_window_bits == ext.remote_max_window_bits == 15


def test_server_caps_windows_and_skips_a_malformed_offer():
    offers = [response("permessage-deflate; server_max_window_bits=99"),
              response("permessage-deflate; client_max_window_bits; server_max_window_bits=12")]
    params, ext = server_accept(offers, server_max_window_bits=10, client_max_window_bits=11)
    assert params == [("server_max_window_bits", "10"), ("client_max_window_bits", "11")]
    assert (ext.local_max_window_bits, ext.remote_max_window_bits) == (10, 11)


def test_server_declines_when_client_cannot_cap_its_window():
    assert server_accept([response("permessage-deflate")], client_max_window_bits=10) is None


# -- frames ---------------------------------------------------------------------


def test_rsv1_on_first_frame_only_and_tail_removed():
    client, server = pair()
    first = client.encode(Frame(TEXT, b"a" * 100, fin=False))
    second = client.encode(Frame(CONT, b"b" * 100, fin=False))
    last = client.encode(Frame(CONT, b"c" * 100, fin=True))
    assert (first.rsv1, second.rsv1, last.rsv1) == (True, False, False)
    assert first.data.endswith(b"\x00\x00\xff\xff")  # a sync flush, not the end
    assert not last.data.endswith(b"\x00\x00\xff\xff")
    out = [server.decode(f, max_size=None) for f in (first, second, last)]
    assert b"".join(f.data for f in out) == b"a" * 100 + b"b" * 100 + b"c" * 100
    assert not any(f.rsv1 for f in out)


def test_control_frames_are_never_compressed():
    client, server = pair()
    ping = Frame(PING, b"x" * 100)
    assert client.encode(ping) is ping
    assert server.decode(ping, max_size=125) is ping


def test_compressed_control_frame_keeps_rsv1_and_fails_the_engine():
    client, _server = pair()
    protocol = Protocol(Role.CLIENT, extensions=[client])
    protocol.receive_data(bytes([0x80 | 0x40 | PING, 0]))  # FIN, RSV1, ping
    assert protocol.close_sent is not None
    assert protocol.close_sent.code == 1002


def test_rsv1_on_continuation_is_a_protocol_error():
    client, _ = pair()
    client.decode(Frame(TEXT, b"\x00", fin=False, rsv1=True))
    with pytest.raises(ProtocolError, match="continuation"):
        client.decode(Frame(CONT, b"\x00", fin=True, rsv1=True))


def test_uncompressed_messages_pass_through():
    client, _ = pair()
    frame = Frame(BINARY, b"raw bytes")
    assert client.decode(frame) is frame
    frag = client.decode(Frame(TEXT, b"ab", fin=False))
    assert frag.data == b"ab"
    assert client.decode(Frame(CONT, b"cd", fin=True)).data == b"cd"


def test_empty_message_round_trip():
    client, server = pair(threshold=0)
    frame = client.encode(Frame(BINARY, b""))
    assert frame.rsv1
    assert frame.data == b"\x00"  # RFC 7692 §7.2.3.6
    assert server.decode(frame).data == b""
    assert server.decode(Frame(TEXT, b"\x00", rsv1=True)).data == b""


def test_fragmented_message_with_empty_final_fragment():
    client, server = pair()
    frames = [client.encode(Frame(TEXT, b"hello " * 20, fin=False)),
              client.encode(Frame(CONT, b"", fin=True))]
    assert b"".join(server.decode(f).data for f in frames) == b"hello " * 20


def test_threshold_sends_short_messages_uncompressed():
    client = ClientSettings(threshold=50).accept([])
    assert not client.encode(Frame(TEXT, b"x" * 49)).rsv1
    assert client.encode(Frame(TEXT, b"x" * 50)).rsv1
    # A fragmented message is compressed whatever its first fragment's size.
    assert client.encode(Frame(TEXT, b"x", fin=False)).rsv1


def test_context_takeover_shrinks_repeated_messages():
    message = bytes(range(256)) * 4
    client, server = pair()
    sizes = []
    for _ in range(3):
        frame = client.encode(Frame(BINARY, message))
        sizes.append(len(frame.data))
        assert server.decode(frame).data == message
    assert sizes[1] < sizes[0] // 4  # the second refers back to the first
    assert sizes[2] == sizes[1]


def test_no_context_takeover_resets_each_message():
    message = bytes(range(256)) * 4
    client, server = pair(client_no_context_takeover=True)
    frames = [client.encode(Frame(BINARY, message)) for _ in range(3)]
    assert len({f.data for f in frames}) == 1  # each compressed from scratch
    assert all(server.decode(f).data == message for f in frames)
    assert client._encoder is None  # and no compressor is kept between messages


def test_server_no_context_takeover_resets_our_decoder():
    _, server = pair(server_no_context_takeover=True)
    client = ClientSettings(server_no_context_takeover=True).accept(
        response("permessage-deflate; server_no_context_takeover"))
    message = b"abcdefgh" * 50
    for _ in range(2):
        assert client.decode(server.encode(Frame(BINARY, message))).data == message
        assert client._decoder is None


def test_takeover_frames_need_the_earlier_context():
    """A decoder without takeover cannot read a frame that refers to an earlier message."""
    client, _ = pair()
    message = b"0123456789abcdef" * 64
    client.encode(Frame(BINARY, message))
    second = client.encode(Frame(BINARY, message))
    fresh = PerMessageDeflate()
    with pytest.raises(ProtocolError, match="invalid compressed data"):
        fresh.decode(second)


def test_window_of_8_bits_sends_uncompressed():
    client = ClientSettings().accept(response("permessage-deflate; client_max_window_bits=8"))
    assert not client.encode(Frame(TEXT, b"x" * 1000)).rsv1


def test_decoder_accepts_bfinal_streams():
    compressor = zlib.compressobj(wbits=-15)
    data = compressor.compress(b"final block" * 10) + compressor.flush(zlib.Z_FINISH)
    client, _ = pair()
    assert client.decode(Frame(BINARY, data, rsv1=True)).data == b"final block" * 10
    again = zlib.compressobj(wbits=-15)
    data = again.compress(b"next") + again.flush(zlib.Z_SYNC_FLUSH)
    assert client.decode(Frame(BINARY, data[:-4], rsv1=True)).data == b"next"


def test_garbage_is_a_protocol_error():
    client, _ = pair()
    with pytest.raises(ProtocolError):
        client.decode(Frame(BINARY, b"\xff\xff\xff\xff garbage", rsv1=True))


# -- decompression bounded by max_size -----------------------------------------


def bomb(inflated: int, block: int = 1 << 20) -> bytes:
    """Raw deflate data inflating to ``inflated`` zero bytes, without the sync-flush tail.

    Independent sync-flushed streams concatenate into one valid stream, so a
    1 GiB bomb costs one 1 MiB compression.
    """
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9)
    chunk = compressor.compress(bytes(block)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return (chunk * (inflated // block))[:-4]


def test_message_over_max_size_after_inflation():
    client, server = pair()
    frame = server.encode(Frame(BINARY, bytes(1001)))
    with pytest.raises(PayloadTooBig):
        client.decode(frame, max_size=1000)
    client2, server2 = pair()
    assert client2.decode(server2.encode(Frame(BINARY, bytes(1000))), max_size=1000).data \
        == bytes(1000)


def test_bomb_stops_at_max_size_with_bounded_memory():
    data = bomb(1 << 30)
    assert len(data) < 1100 * 1024  # 1 GiB in about 1 MiB
    client, _ = pair()
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooBig):
            client.decode(Frame(BINARY, data, rsv1=True), max_size=1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # At most max_size of output plus the compressed input zlib keeps as its
    # unconsumed tail: ~3 MiB for a 1 GiB bomb, never the gigabyte.
    print(f"1 GiB bomb, decode alone: peak {peak / 2**20:.2f} MiB")
    assert peak < 4 << 20, f"peak {peak} bytes"


def test_bomb_through_the_engine_fails_with_1009():
    client, _ = pair()
    protocol = Protocol(Role.CLIENT, max_size=2 << 20, extensions=[client])
    data = bomb(1 << 30)
    header = bytes([0x80 | 0x40 | BINARY, 127]) + len(data).to_bytes(8, "big")
    protocol.receive_data(header + data)
    assert protocol.close_sent == Close(1009, protocol.close_sent.reason)
    assert isinstance(protocol.failure, PayloadTooBig)


def test_fragmented_bomb_is_bounded_across_frames():
    client, _ = pair()
    protocol = Protocol(Role.CLIENT, max_size=1 << 20, extensions=[client])
    piece = bomb(1 << 19, block=1 << 19) + b"\x00\x00\xff\xff"  # 512 KiB per frame
    frames = bytes([0x40 | BINARY, 126]) + len(piece).to_bytes(2, "big") + piece
    for _ in range(4):
        frames += bytes([CONT, 126]) + len(piece).to_bytes(2, "big") + piece
    protocol.receive_data(frames)
    assert protocol.close_sent is not None and protocol.close_sent.code == 1009


# -- round trips through two engines -------------------------------------------


def exchange(sender: Protocol, receiver: Protocol) -> list[object]:
    for chunk in sender.data_to_send():
        receiver.receive_data(chunk)
    return receiver.events_received()


def engines(**settings: object) -> tuple[Protocol, Protocol]:
    client_ext, server_ext = pair(**settings)
    return (Protocol(Role.CLIENT, max_size=None, extensions=[client_ext]),
            Protocol(Role.SERVER, max_size=None, extensions=[server_ext]))


def test_engine_round_trip_both_ways():
    client, server = engines()
    client.send_text("héllo " * 100)
    client.send_binary(b"\x00" * 10000)
    assert exchange(client, server) == ["héllo " * 100, b"\x00" * 10000]
    server.send_text("a", fin=False)
    server.send_continuation("b" * 300, fin=False)
    server.send_continuation("", fin=True)
    server.send_ping(b"p")
    assert exchange(server, client)[0] == "a" + "b" * 300


message = st.one_of(st.text(max_size=600), st.binary(max_size=3000))
window = st.integers(min_value=9, max_value=15)


@settings(max_examples=60, deadline=None)
@given(
    messages=st.lists(st.tuples(message, st.integers(1, 4)), min_size=1, max_size=6),
    client_bits=st.one_of(st.just(True), window),
    server_bits=st.one_of(st.none(), window),
    client_nct=st.booleans(),
    server_nct=st.booleans(),
    threshold=st.integers(0, 100),
)
def test_round_trip_property(messages, client_bits, server_bits, client_nct, server_nct,
                             threshold):
    """Whatever the parameters and fragmentation, both directions deliver what was sent."""
    client, server = engines(client_max_window_bits=client_bits,
                             server_max_window_bits=server_bits,
                             client_no_context_takeover=client_nct,
                             server_no_context_takeover=server_nct, threshold=threshold)
    for sender, receiver in ((client, server), (server, client)):
        for data, pieces in messages:
            raw = data.encode() if isinstance(data, str) else data
            cut = max(1, len(raw) // pieces)
            parts = [raw[i:i + cut] for i in range(0, len(raw), cut)] or [b""]
            send = sender.send_text if isinstance(data, str) else sender.send_binary
            if len(parts) == 1:
                send(parts[0])
            else:
                send(parts[0], fin=False)
                for i, part in enumerate(parts[1:], 2):
                    sender.send_continuation(part, fin=i == len(parts))
            assert exchange(sender, receiver) == [data]


def test_mem_level_is_8_for_a_per_message_compressor_and_5_for_a_kept_one():
    """memLevel 8 compresses faster; it is only chosen when the compressor is dropped after
    each message, so a connection that keeps its compressor keeps the smaller 5."""
    kept = ClientSettings().accept([])
    assert not kept.local_no_context_takeover and kept.mem_level == 5
    dropped = ClientSettings().accept([("client_no_context_takeover", None)])
    assert dropped.local_no_context_takeover and dropped.mem_level == 8
    asked = ClientSettings(client_no_context_takeover=True).accept([])
    assert asked.mem_level == 8
    explicit = ClientSettings(mem_level=3).accept([("client_no_context_takeover", None)])
    assert explicit.mem_level == 3
    accepted = server_accept([[("server_no_context_takeover", None)]])
    assert accepted is not None and accepted[1].mem_level == 8
    # Messages still round-trip with either setting.
    for options in ({}, {"client_no_context_takeover": True}):
        client, server = pair(**options)
        for message in (b"abc" * 5000, bytes(range(256)) * 40):
            frame = client.encode(Frame(BINARY, message))
            assert server.decode(frame).data == message
