"""Shared fixtures: servers the tests start themselves on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from geventws.server import EchoServer


@pytest.fixture(autouse=True)
def geventws_as_shipped() -> Iterator[None]:
    """Run each core test with geventws as shipped: its own permessage-deflate plugin,
    not the third-party ones the test environment also installs (CI installs the
    example plugins of ``plugins/``, whose tests live there). A tracing plugin, as
    the example metrics plugin is, turns the fast paths off for every connection,
    which would leave them untested here. Tests that want plugins pass them
    (``plugins=``) or register them themselves."""
    from geventws import plugins

    pm = plugins.get_plugin_manager()
    third_party = [(name, pm.get_plugin(name)) for name, (dist, _) in list(plugins._dists.items())
                   if dist != "geventws" and pm.get_plugin(name) is not None]
    for _, plugin in third_party:
        pm.unregister(plugin)
    yield
    if plugins.get_plugin_manager() is pm:  # a test may have made a fresh manager
        for name, plugin in third_party:
            if not pm.has_plugin(name):
                pm.register(plugin, name=name)


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
