"""geventws-metrics observes connections it was never told about: the entry point suffices."""

from __future__ import annotations

import logging

import geventws_metrics
import pytest

import geventws
from geventws.plugins import get_plugin_manager, reset_plugin_manager
from geventws.server import EchoServer

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def server():
    reset_plugin_manager()
    with EchoServer() as server:
        yield server


def test_found_through_its_entry_point():
    assert get_plugin_manager().get_plugin("metrics") is geventws_metrics


def test_counts_frames_and_bytes_each_way(server):
    before = geventws_metrics.totals()
    with geventws.connect(server.url, compression=None, ping_interval=None) as ws:
        ws.send("hello")
        assert ws.recv(timeout=5) == "hello"
        ws.send(b"\x00" * 1000)
        assert ws.recv(timeout=5) == b"\x00" * 1000
        live = geventws_metrics.stats(ws)
        assert (live.frames_sent, live.frames_received) == (2, 2)
        assert (live.payload_sent, live.payload_received) == (1005, 1005)
        assert live.bytes_sent == (6 + 5) + (8 + 1000)  # masked client frames
        assert live.bytes_received == (2 + 5) + (4 + 1000)
        assert live.handshake_seconds > 0
    assert ws.wait_closed(5)
    final = geventws_metrics.stats(ws)
    assert final.close_code == 1000
    assert (final.frames_sent, final.frames_received) == (3, 3)  # the close frames
    after = geventws_metrics.totals()
    assert after.connections == before.connections + 1
    assert after.frames_sent == before.frames_sent + 3


def test_disabled_for_one_connection(server):
    with geventws.connect(server.url, disable_plugins=["metrics"]) as ws:
        ws.send("x")
        ws.recv(timeout=5)
        with pytest.raises(KeyError):
            geventws_metrics.stats(ws)


def test_trace_option_logs_frames(server, caplog):
    with caplog.at_level(logging.DEBUG, logger="geventws.trace"), \
            geventws.connect(server.url, plugin_options={"metrics": {"trace": True}}) as ws:
        ws.send("traced")
        ws.recv(timeout=5)
    assert any("> TEXT" in r.getMessage() for r in caplog.records)
    assert any("< TEXT" in r.getMessage() for r in caplog.records)
