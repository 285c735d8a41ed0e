"""Which zlib permessage-deflate uses: zlib-ng when installed, the stdlib's as the fallback."""

from __future__ import annotations

import importlib
import sys
import zlib
from collections.abc import Iterator

import pytest
from zlib_ng import zlib_ng

from geventws.extensions import zlib_backend
from geventws.extensions.permessage_deflate import DEFAULT_COMPRESS_LEVEL, PerMessageDeflate
from geventws.frames import Frame

TEXT = b"".join(b'{"id": %d, "user": "u%d", "tags": ["a", "b"]},\n' % (i, i * 7 % 1000)
                for i in range(2000))


@pytest.fixture(autouse=True)
def restore() -> Iterator[None]:
    before = zlib_backend.name
    yield
    zlib_backend.use(before)


def test_auto_takes_zlib_ng_when_installed():
    assert zlib_backend.use("auto") == "zlib-ng"
    assert zlib_backend.backend is zlib_ng


def test_stdlib_can_be_forced():
    assert zlib_backend.use("stdlib") == "stdlib"
    assert zlib_backend.backend is zlib


@pytest.mark.parametrize(("env", "expected"), [
    ("stdlib", "stdlib"), ("zlib-ng", "zlib-ng"), ("auto", "zlib-ng"), ("", "zlib-ng"),
    (" STDLIB ", "stdlib"),
])
def test_environment_variable_chooses_at_import(monkeypatch, env, expected):
    monkeypatch.setenv("GEVENTWS_ZLIB", env)
    importlib.reload(zlib_backend)
    assert zlib_backend.name == expected


def test_unknown_environment_value_fails_loudly(monkeypatch):
    monkeypatch.setenv("GEVENTWS_ZLIB", "zlibng")
    with pytest.raises(ValueError, match="auto, stdlib, zlib-ng"):
        importlib.reload(zlib_backend)
    monkeypatch.delenv("GEVENTWS_ZLIB")
    importlib.reload(zlib_backend)


def test_without_zlib_ng_auto_falls_back_and_zlib_ng_is_an_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "zlib_ng", None)
    monkeypatch.setitem(sys.modules, "zlib_ng.zlib_ng", None)
    assert zlib_backend.use("auto") == "stdlib"
    with pytest.raises(ImportError):
        zlib_backend.use("zlib-ng")
    assert zlib_backend.name == "stdlib"  # a failed switch leaves the backend alone


def _sent(ext: PerMessageDeflate, data: bytes) -> bytes:
    return ext.encode(Frame(0x2, data)).data


def _reference(module, bits: int, data: bytes, mem_level: int) -> bytes:
    compressor = module.compressobj(DEFAULT_COMPRESS_LEVEL, zlib.DEFLATED, -bits, mem_level)
    out = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def test_zlib_ng_compresses_only_per_message_with_the_full_window():
    """zlib-ng's level 6 misses long repeats with windows under 15 bits (periodic data
    comes out several times larger), and a compressor kept for the connection is
    smaller in the stdlib: both stay with the stdlib's zlib."""
    zlib_backend.use("zlib-ng")
    periodic = bytes(range(256)) * 256
    for bits, nct, module, mem_level in [(15, True, zlib_ng, 8), (12, True, zlib, 8),
                                         (9, True, zlib, 8), (15, False, zlib, 5)]:
        for data in (TEXT, periodic):  # a fresh one each: a kept context would differ
            ext = PerMessageDeflate(local_max_window_bits=bits, local_no_context_takeover=nct)
            assert _sent(ext, data) == _reference(module, bits, data, mem_level), bits
            assert ext._deflater is module
    ext = PerMessageDeflate(local_max_window_bits=12, local_no_context_takeover=True)
    assert len(_sent(ext, periodic)) < len(_reference(zlib_ng, 12, periodic, 8)) // 4


@pytest.mark.parametrize(("nct", "bits", "module"), [
    (True, 15, zlib_ng), (True, 9, zlib_ng), (False, 15, zlib_ng), (False, 12, zlib),
])
def test_zlib_ng_inflates_unless_it_would_keep_more_memory(nct, bits, module):
    """A kept inflater with a small window is 7 KiB in the stdlib, 41 KiB in zlib-ng."""
    zlib_backend.use("zlib-ng")
    ext = PerMessageDeflate(remote_no_context_takeover=nct, remote_max_window_bits=bits)
    assert ext._inflater is module


def test_an_extension_keeps_the_backend_it_was_made_with():
    zlib_backend.use("stdlib")
    ext = PerMessageDeflate(local_no_context_takeover=True)
    zlib_backend.use("zlib-ng")
    assert _sent(ext, TEXT) == _reference(zlib, 15, TEXT, 8)
    assert _sent(PerMessageDeflate(local_no_context_takeover=True), TEXT) == \
        _reference(zlib_ng, 15, TEXT, 8)


@pytest.mark.parametrize("bits", range(9, 16))
@pytest.mark.parametrize(("sender", "receiver"), [("zlib-ng", "stdlib"), ("stdlib", "zlib-ng")])
def test_either_backend_inflates_what_the_other_compressed(sender, receiver, bits):
    """Same format, and each honours the window it is given: a stream made with a
    ``bits`` window inflates in a ``bits`` window (else "invalid distance too far back")."""
    zlib_backend.use(sender)
    out = PerMessageDeflate(local_max_window_bits=bits, local_no_context_takeover=True)
    zlib_backend.use(receiver)
    into = PerMessageDeflate(remote_max_window_bits=bits, remote_no_context_takeover=True)
    for data in (TEXT, TEXT[:5000] * 3, b"x" * 70_000):
        frame = out.encode(Frame(0x1, data))
        assert frame.rsv1
        assert into.decode(frame, max_size=len(data)).data == data
