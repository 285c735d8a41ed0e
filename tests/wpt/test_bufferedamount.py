"""WPT ``interfaces/WebSocket/bufferedAmount/*``: the standard's accounting."""

from __future__ import annotations

import pytest

from geventws import WebSocket


def test_getting_buffered_amount(wpt):
    """WPT bufferedAmount/001.html: 0 at first."""
    ws = WebSocket(wpt.url("/"))
    assert ws.bufferedAmount == 0
    ws.close()


def test_setting_buffered_amount(wpt):
    """WPT bufferedAmount/002.html: read-only (JS ignores the write; Python refuses it)."""
    ws = WebSocket(wpt.url("/"))
    with pytest.raises(AttributeError):
        ws.bufferedAmount = 5  # type: ignore[misc]
    assert ws.bufferedAmount == 0
    ws.close()


def test_buffered_amount_after_sending(wpt, record):
    """WPT bufferedAmount/003.html, bufferedAmount-getting.html: grows by UTF-8 bytes at once in
    send(), shrinks between events as messages reach the socket, 0 after the last echo."""
    ws = WebSocket(wpt.url("/echo"))
    after_send, on_message = [], []

    def onopen(e):
        for text in ("x", "\u00e5", "\u5336", "\U0001047e"):
            ws.send(text)
            after_send.append(ws.bufferedAmount)

    def onmessage(e):
        on_message.append(ws.bufferedAmount)
        if len(on_message) == 4:
            ws.close()

    ws.onopen, ws.onmessage = onopen, onmessage
    rec = record(ws).wait()
    assert after_send == [1, 1 + 2, 1 + 2 + 3, 1 + 2 + 3 + 4]
    assert on_message[0] < 2 + 3 + 4 + 1 and on_message[1] < 3 + 4 + 1
    assert on_message[2] < 4 + 1 and on_message[3] == 0
    assert [e.data for e in rec.events if e.type == "message"] == \
        ["x", "\u00e5", "\u5336", "\U0001047e"]


@pytest.mark.parametrize("binary_type, data", [
    ("blob", bytes(10)),          # bufferedAmount/007.html, bufferedAmount-blob.html
    ("arraybuffer", bytearray(10)),  # bufferedAmount/008.html, bufferedAmount-arraybuffer.html
])
def test_buffered_amount_for_binary(wpt, record, binary_type, data):
    """WPT bufferedAmount/007.html, 008.html, bufferedAmount-arraybuffer.html,
    bufferedAmount-blob.html: a binary send counts its byte length."""
    ws = WebSocket(wpt.url("/echo"))
    ws.binaryType = binary_type
    seen = []
    ws.onopen = lambda e: (ws.send(data), seen.append(ws.bufferedAmount))
    ws.onmessage = lambda e: ws.close()
    rec = record(ws).wait()
    assert seen == [10]
    message = rec.last("message").data
    assert len(message) == 10
    assert isinstance(message, bytearray if binary_type == "arraybuffer" else bytes)


def test_buffered_amount_for_65k_data(wpt, record):
    """WPT bufferedAmount/009.html, bufferedAmount-large.html."""
    ws = WebSocket(wpt.url("/echo"))
    data = "x" * 65000
    seen = []
    ws.onopen = lambda e: (ws.send(data), seen.append(ws.bufferedAmount))
    ws.onmessage = lambda e: ws.close()
    assert record(ws).wait().last("message").data == data
    assert seen == [65000]


def test_buffered_amount_for_unicode_data(wpt, record):
    """WPT bufferedAmount/010.html, bufferedAmount-unicode.html: two bytes per "¥"."""
    ws = WebSocket(wpt.url("/echo"))
    data = "¥¥¥¥¥¥"
    seen = []
    ws.onopen = lambda e: (ws.send(data), seen.append(ws.bufferedAmount))
    ws.onmessage = lambda e: ws.close()
    assert record(ws).wait().last("message").data == data
    assert seen == [12]


def test_buffered_amount_keeps_growing_after_close(wpt, record):
    """Standard (send() steps, readyState CLOSING/CLOSED): data is not sent but counted, and
    never drains."""
    ws = WebSocket(wpt.url("/echo"))
    seen = []

    def onopen(e):
        ws.close()
        ws.send("abc")
        ws.send(b"\x00" * 4)
        seen.append(ws.bufferedAmount)

    ws.onopen = onopen
    ws.onclose = lambda e: (ws.send("z"), seen.append(ws.bufferedAmount))
    record(ws).wait()
    assert seen == [7, 8]
    assert ws.bufferedAmount == 8


def test_send_returns_at_once_and_the_buffer_drains(wpt, until):
    """Standard (send() does not wait for the network): 16 MiB are queued by 16 calls that
    return at once, all counted; the writer greenlet then drains bufferedAmount to 0."""
    ws = WebSocket(wpt.url("/echo"), max_size=None)
    until(lambda: ws.readyState == WebSocket.OPEN)
    chunk = b"\x00" * (1 << 20)
    for _ in range(16):
        ws.send(chunk)  # returns at once: 16 MiB queued
    assert ws.bufferedAmount == 16 << 20
    until(lambda: ws.bufferedAmount == 0, timeout=20)
    ws.close()
    assert ws.wait_closed(10)
