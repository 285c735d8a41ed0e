"""Shared fixtures: servers the tests start themselves on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from geventws.server import EchoServer


@pytest.fixture(autouse=True)
def geventws_as_shipped() -> Iterator[None]:
    """Each core test runs geventws as shipped (see ``tests/shipped.py``): a tracing
    plugin installed beside it would leave the fast paths untested here. Tests that
    want plugins pass them (``plugins=``) or register them themselves."""
    from tests.shipped import leave_out_installed_plugins

    restore = leave_out_installed_plugins()
    yield
    restore()


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


@pytest.fixture(params=["zlib-ng", "stdlib"])
def zlib_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once with each zlib permessage-deflate can use (the test extra
    installs zlib-ng), restoring the backend in force before."""
    from geventws.extensions import zlib_backend as backends

    before = backends.name
    backends.use(request.param)
    yield request.param
    backends.use(before)
