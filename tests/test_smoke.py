"""The README's promises, end to end against the embedded echo server."""

from __future__ import annotations

import subprocess
import sys

import geventws


def test_round_trips(echo_server):
    with geventws.connect(echo_server.url) as ws:
        ws.send("hello")
        assert ws.recv(timeout=5) == "hello"
        ws.send(b"\x00\xff" * 40000)
        assert ws.recv(timeout=5) == b"\x00\xff" * 40000
        ws.send(["frag", "mented", "é"])
        assert ws.recv(timeout=5) == "fragmentedé"
        assert ws.ping().get(timeout=5) >= 0
    assert ws.close_code == 1000
    assert ws.state is geventws.State.CLOSED


def test_demo_command_runs():
    out = subprocess.run([sys.executable, "-m", "geventws", "demo"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "closed cleanly: code=1000" in out.stdout
