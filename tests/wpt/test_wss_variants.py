"""The ``?wss`` variants (``Secure-*`` files, ``<meta name=variant content="?wss">``) over TLS.

The same handlers behind TLS with a throwaway CA; the client gets it through the
``ssl`` option shared with ``connect()``.
"""

from __future__ import annotations

import pytest

from geventws import WebSocket


@pytest.fixture
def wss(wpt_wss, tls):
    def make(path="/echo", protocols=None, **options):
        return WebSocket(wpt_wss.url(path), protocols, ssl=tls[1], **options)
    return make


def test_secure_valid_url(wss, record):
    """WPT Create-Secure-valid-url.any.js, Create-Secure-extensions-empty.any.js."""
    ws = wss()
    seen = []
    ws.onopen = lambda e: (seen.append((ws.readyState, ws.extensions)), ws.close())
    assert record(ws).wait().types == ["open", "close"]
    assert seen == [(WebSocket.OPEN, "")]
    assert ws.url.startswith("wss://")


def test_secure_valid_url_protocol_set_correctly(wss, record):
    """WPT Create-Secure-valid-url-protocol-setCorrectly.any.js, constructor/022.html?wss."""
    ws = wss("/handshake_protocols", ["foobar", "foobar2"])
    ws.onmessage = lambda e: ws.close()
    record(ws).wait()
    assert ws.protocol == "foobar"


@pytest.mark.parametrize("code, reason, expected", [
    (1000, "Clean Close", (1000, "Clean Close")),  # Secure-Close-1000-reason.any.js
    (3000, "", (3000, "")),                        # Secure-Close-3000-verify-code.any.js
    (None, None, (1005, "")),                      # Secure-Close-1005-verify-code.any.js
])
def test_secure_close(wss, record, code, reason, expected):
    """WPT Secure-Close-*.any.js: clean close over TLS with the echoed code and reason."""
    ws = wss()
    ws.onopen = lambda e: ws.close(code, reason)
    close = record(ws).wait().last("close")
    assert (close.wasClean, close.code, close.reason) == (True, *expected)


def test_secure_server_initiated_close(wss, record):
    """WPT Secure-Close-server-initiated-close.any.js."""
    ws = wss()
    ws.onopen = lambda e: ws.send("Goodbye")
    rec = record(ws).wait()
    assert rec.types == ["open", "message", "close"] and rec.last("close").wasClean


def test_secure_send_binary_and_buffered_amount(wss, record):
    """WPT Send-binary-65K-arraybuffer.any.js?wss, bufferedAmount-large.html?wss."""
    ws = wss()
    ws.binaryType = "arraybuffer"
    seen = []
    ws.onopen = lambda e: (ws.send(bytes(65000)), seen.append(ws.bufferedAmount))
    ws.onmessage = lambda e: ws.close()
    assert record(ws).wait().last("message").data == bytearray(65000)
    assert seen == [65000]


def test_secure_untrusted_certificate_fails(wpt_wss, record):
    """Standard (TLS failure fails the connection): without the CA, error then close 1006."""
    ws = WebSocket(wpt_wss.url("/echo"))
    rec = record(ws).wait()
    assert rec.types == ["error", "close"] and rec.last("close").code == 1006
    assert ws.failure is not None
