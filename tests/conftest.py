"""Shared fixtures: servers the tests start themselves on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from geventws.server import EchoServer


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server
