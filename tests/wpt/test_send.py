"""WPT ``websockets/Send-*`` files and ``interfaces/WebSocket/send/*``."""

from __future__ import annotations

import array

import pytest

from geventws import DOMException, WebSocket


def echo(wpt, record, data, binary_type="blob"):
    """Send ``data`` once open, close after the first message; return (message, recorder)."""
    ws = WebSocket(wpt.url("/echo"))
    ws.binaryType = binary_type
    ws.onopen = lambda e: ws.send(data)
    ws.onmessage = lambda e: ws.close()
    rec = record(ws).wait()
    assert rec.types == ["open", "message", "close"], rec.types
    assert rec.last("close").wasClean
    return rec.last("message").data


def test_send_no_args(wpt):
    """WPT send/001.html: send() with no argument is a TypeError."""
    ws = WebSocket(wpt.url("/"))
    with pytest.raises(TypeError):
        ws.send()  # type: ignore[call-arg]
    ws.close()


def test_replacing_send(wpt):
    """WPT send/002.html: the method can be replaced on the instance."""
    ws = WebSocket(wpt.url("/"))
    ws.send = 5  # type: ignore[assignment,method-assign]
    assert ws.send == 5
    ws.close()


@pytest.mark.parametrize("data", ["a", "a\udc00x", "a\ud800x", "a\udc00\ud800x", b"x"])
def test_send_when_connecting(wpt, data):
    """WPT send/003.html, send/004.html (unpaired surrogates), Send-before-open.any.js:
    InvalidStateError while CONNECTING, whatever the data."""
    ws = WebSocket(wpt.url("/"))
    with pytest.raises(DOMException) as info:
        ws.send(data)
    assert info.value.name == "InvalidStateError"
    ws.close()


def test_send_return_value(wpt):
    """WPT send/005.html: send() returns None (JS undefined)."""
    ws = WebSocket(wpt.url("/echo"))
    results = []
    ws.onopen = lambda e: (results.append(ws.send("test")), ws.close())
    assert ws.wait_closed(5)
    assert results == [None]


def test_send_unpaired_surrogates(wpt, record):
    """WPT send/006.html, Send-Unpaired-Surrogates.any.js: lone surrogates go out as U+FFFD."""
    data = echo(wpt, record, "a\udc00xb\ud800xc\udc00\ud800x")
    assert data == "a\ufffdxb\ufffdxc\ufffd\ufffdx"


def test_close_followed_by_send(wpt, record):
    """WPT send/007.html: send() after close() raises nothing, no message/error follows."""
    ws = WebSocket(wpt.url("/echo"))
    results = []
    ws.onopen = lambda e: (ws.close(), results.append(ws.send("test")))
    rec = record(ws).wait()
    assert results == [None]
    assert rec.types == ["open", "close"]


def test_send_in_onclose(wpt, record):
    """WPT send/008.html: send() in the close handler (CLOSED) raises nothing."""
    ws = WebSocket(wpt.url("/echo"))
    results = []
    ws.onopen = lambda e: ws.send("Goodbye")
    ws.onclose = lambda e: results.append(ws.send("test"))
    rec = record(ws).wait()
    assert results == [None]
    assert rec.types == ["open", "message", "close"]
    assert rec.last("close").wasClean and rec.last("close").code == 1000


def test_send_empty_string(wpt, record):
    """WPT send/009.html, Send-0byte-data.any.js: an empty text message arrives."""
    ws = WebSocket(wpt.url("/empty-message"))
    ws.onopen = lambda e: ws.send("")
    ws.onmessage = lambda e: ws.close()
    rec = record(ws).wait()
    assert rec.last("message").data == "pass"


@pytest.mark.parametrize("data", [None, 1, {}, [], object(), Exception()])
def test_sending_non_strings(wpt, data):
    """WPT send/010.html, send/012.html (null): JavaScript stringifies these; in Python
    they are a TypeError (nothing is sent, bufferedAmount unchanged)."""
    ws = WebSocket(wpt.url("/echo"))
    errors = []

    def onopen(e):
        try:
            ws.send(data)
        except TypeError as exc:
            errors.append(exc)
        errors.append(ws.bufferedAmount)
        ws.close()

    ws.onopen = onopen
    assert ws.wait_closed(5)
    assert isinstance(errors[0], TypeError) and errors[1] == 0


def test_send_non_ascii_combining_non_bmp(wpt, record):
    """WPT send/011.html: non-ASCII, combining characters and non-BMP round-trip."""
    text = "\u00e5 a\u030a \U0001047e"
    assert echo(wpt, record, text) == text


def test_send_paired_surrogates(wpt, record):
    """WPT Send-paired-surrogates.any.js: a surrogate pair (as JS holds it) is one character."""
    assert echo(wpt, record, "\ud801\udc07") == "\U00010407"


def test_send_data(wpt, record):
    """WPT Send-data.any.js."""
    assert echo(wpt, record, "Message to send") == "Message to send"


def test_send_65k_data(wpt, record):
    """WPT Send-65K-data.any.js."""
    assert echo(wpt, record, "x" * 65000) == "x" * 65000


def test_send_binary_blob(wpt, record):
    """WPT Send-binary-blob.any.js: binaryType "blob" delivers bytes."""
    assert echo(wpt, record, b"\x00\x01binary\xff") == b"\x00\x01binary\xff"


def test_send_binary_arraybuffer(wpt, record):
    """WPT Send-binary-arraybuffer.any.js: binaryType "arraybuffer" delivers a bytearray."""
    data = echo(wpt, record, bytearray(range(15)), "arraybuffer")
    assert isinstance(data, bytearray) and data == bytearray(range(15))


def test_send_binary_65k_arraybuffer(wpt, record):
    """WPT Send-binary-65K-arraybuffer.any.js."""
    assert echo(wpt, record, bytes(65000), "arraybuffer") == bytearray(65000)


@pytest.mark.parametrize("typecode", ["b", "h", "i", "B", "H", "I", "f", "d"])
def test_send_binary_arraybufferview(wpt, record, typecode):
    """WPT the Send-binary-arraybufferview-*.any.js family (int8 ... float64 typed arrays):
    a typed array (here array.array) sends its bytes."""
    view = array.array(typecode, [1, 2, 3, 4])
    assert echo(wpt, record, view) == view.tobytes()


def test_send_binary_arraybufferview_offset_length(wpt, record):
    """WPT Send-binary-arraybufferview-*-offset(-length) variants: a view with an offset and
    a length sends only the bytes it covers (here a memoryview slice)."""
    buffer = bytearray(range(10))
    assert echo(wpt, record, memoryview(buffer)[2:6]) == bytes([2, 3, 4, 5])


def test_send_copies_data_at_call_time(wpt, record):
    """WPT Send-binary-arraybuffer (standard: send() captures the bytes when called)."""
    buffer = bytearray(b"before")
    ws = WebSocket(wpt.url("/echo"))

    def onopen(e):
        ws.send(buffer)
        buffer[:] = b"after!"

    ws.onopen = onopen
    ws.onmessage = lambda e: ws.close()
    assert record(ws).wait().last("message").data == b"before"
