"""The opening handshake (RFC 6455 §4.1, §4.2.2), sans-IO."""

from __future__ import annotations

import pytest

from geventws.exceptions import InvalidHandshake, InvalidHeader, InvalidStatus, NegotiationError
from geventws.handshake import BODY_EXCERPT, ClientHandshake, accept_key


def test_accept_key_rfc_example():
    # RFC 6455 §1.3's worked example.
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def make(**kwargs) -> ClientHandshake:
    return ClientHandshake("example.com:8080", "/chat?x=1", key="dGhlIHNhbXBsZSBub25jZQ==",
                           **kwargs)


def response(*headers: str, status: str = "101 Switching Protocols") -> bytes:
    lines = [f"HTTP/1.1 {status}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


GOOD = ("Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")


def test_request_has_the_required_headers():
    hs = make(origin="http://example.com", subprotocols=["chat", "superchat"],
              extensions_offer="permessage-deflate", additional_headers=[("X-Token", "t")],
              user_agent="ua/1")
    request = hs.request_bytes().decode()
    head, _, body = request.partition("\r\n\r\n")
    lines = head.split("\r\n")
    assert lines[0] == "GET /chat?x=1 HTTP/1.1"
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers == {
        "Host": "example.com:8080",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version": "13",
        "Origin": "http://example.com",
        "Sec-WebSocket-Protocol": "chat, superchat",
        "Sec-WebSocket-Extensions": "permessage-deflate",
        "X-Token": "t",
        "User-Agent": "ua/1",
    }
    assert body == ""


def test_random_keys_are_16_bytes_base64():
    import base64

    keys = {ClientHandshake("h", "/").key for _ in range(50)}
    assert len(keys) == 50
    assert all(len(base64.b64decode(k)) == 16 for k in keys)


def test_user_cannot_override_handshake_headers():
    with pytest.raises(ValueError):
        make(additional_headers=[("Sec-WebSocket-Key", "x")])


def test_accepts_101_and_keeps_trailing_bytes():
    hs = make(subprotocols=["chat"])
    hs.request_bytes()
    data = response(*GOOD, "Sec-WebSocket-Protocol: chat") + b"\x81\x02hi"
    result = hs.receive_data(data[:10])
    assert result is None
    result = hs.receive_data(data[10:])
    assert result is not None
    assert result.subprotocol == "chat"
    assert result.trailing_data == b"\x81\x02hi"


def test_header_tokens_are_case_insensitive():
    hs = make()
    hs.request_bytes()
    data = response("upgrade: WebSocket", "connection: keep-alive, UPGRADE",
                    "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    assert hs.receive_data(data) is not None


@pytest.mark.parametrize(
    "headers, exc",
    [
        (GOOD[1:], InvalidHeader),  # no Upgrade
        (("Upgrade: h2c", *GOOD[1:]), InvalidHeader),
        ((GOOD[0], GOOD[2]), InvalidHeader),  # no Connection
        (GOOD[:2], InvalidHeader),  # no accept
        ((*GOOD[:2], "Sec-WebSocket-Accept: wrong"), InvalidHeader),
        ((*GOOD, "Sec-WebSocket-Protocol: other"), NegotiationError),
        ((*GOOD, "Sec-WebSocket-Extensions: permessage-deflate"), NegotiationError),
    ],
)
def test_bad_101_is_refused(headers, exc):
    hs = make()
    hs.request_bytes()
    with pytest.raises(exc):
        hs.receive_data(response(*headers))


def test_several_subprotocols_selected_is_refused():
    hs = make(subprotocols=["a", "b"])
    hs.request_bytes()
    with pytest.raises(NegotiationError):
        hs.receive_data(response(*GOOD, "Sec-WebSocket-Protocol: a, b"))


def test_non_101_raises_invalid_status_with_body_excerpt():
    hs = make()
    hs.request_bytes()
    body = b"go away" * 10
    with pytest.raises(InvalidStatus) as info:
        hs.receive_data(response("Content-Length: 70", "X-Why: test", status="403 Forbidden") + body)
    exc = info.value
    assert (exc.status_code, exc.reason, exc.body) == (403, "Forbidden", body)
    assert ("x-why", "test") in exc.headers


def test_huge_error_body_is_cut_to_the_excerpt():
    hs = make()
    hs.request_bytes()
    big = BODY_EXCERPT * 3
    with pytest.raises(InvalidStatus) as info:
        hs.receive_data(response(f"Content-Length: {big}", status="500 Oops") + b"e" * big)
    assert len(info.value.body) == BODY_EXCERPT


def test_error_body_until_eof():
    hs = make()
    hs.request_bytes()
    assert hs.receive_data(response(status="404 Not Found") + b"partial") is None
    with pytest.raises(InvalidStatus) as info:
        hs.receive_data(b"")
    assert info.value.body == b"partial"


def test_eof_before_response():
    hs = make()
    hs.request_bytes()
    with pytest.raises(InvalidHandshake):
        hs.receive_data(b"")


def test_garbage_response():
    hs = make()
    hs.request_bytes()
    with pytest.raises(InvalidHandshake):
        hs.receive_data(b"SSH-2.0-OpenSSH\r\n\r\n")


def test_request_bytes_are_what_h11_would_write():
    # The request is written without h11 (for speed); h11 stays the reference.
    import h11

    hs = make(origin="http://example.com", subprotocols=["chat"],
              extensions_offer="permessage-deflate; client_max_window_bits",
              additional_headers=[("X-Token", "a b\tc"), ("Content-Length", "0")],
              user_agent="ua/1")
    conn = h11.Connection(h11.CLIENT)
    expected = conn.send(h11.Request(method="GET", target="/chat?x=1",
                                     headers=hs.request_headers))
    assert hs.request_bytes() == expected


@pytest.mark.parametrize(
    "header",
    [
        ("X-Bad", "line\r\nInjected: yes"),
        ("X-Bad", "nul\x00"),
        ("X-Bad", " leading space"),
        ("X-Bad", "trailing space "),
        ("X-Bad", "caf\u00e9"),
        ("Bad Name", "v"),
        ("Bad:Name", "v"),
        ("", "v"),
        ("Transfer-Encoding", "chunked"),
        ("Content-Length", "5"),
    ],
)
def test_illegal_request_headers_are_refused(header):
    with pytest.raises(ValueError):
        make(additional_headers=[header])


@pytest.mark.parametrize("target", ["/a b", "/x\r\n", ""])
def test_illegal_request_target_is_refused(target):
    with pytest.raises(ValueError):
        ClientHandshake("example.com", target)



def test_a_given_key_is_checked_like_any_header_value():
    with pytest.raises(ValueError):
        ClientHandshake("example.com", "/", key="abc\r\nX-Injected: 1")
    request = ClientHandshake("example.com", "/", key="dGhlIHNhbXBsZSBub25jZQ==").request_bytes()
    assert b"\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" in request


def test_requests_with_the_same_headers_differ_only_in_their_keys():
    first = ClientHandshake("example.com", "/chat", additional_headers=[("X-A", "1")])
    second = ClientHandshake("example.com", "/chat", additional_headers=[("X-A", "1")])
    one, two = first.request_bytes(), second.request_bytes()
    assert first.key != second.key
    assert one.replace(first.key.encode(), b"K") == two.replace(second.key.encode(), b"K")
    assert ClientHandshake("example.com", "/other").request_bytes().startswith(
        b"GET /other HTTP/1.1\r\nHost: example.com\r\n")
