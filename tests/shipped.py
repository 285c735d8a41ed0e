"""geventws as shipped: its own permessage-deflate plugin, no installed third-party one.

The test environment installs the example plugins of ``plugins/`` too. A tracing
plugin (the metrics one) turns the fast paths off for every connection in the
process, so core tests and the conformance report leave such plugins out.
"""

from __future__ import annotations

from typing import Callable


def leave_out_installed_plugins() -> Callable[[], None]:
    """Unregister the installed third-party plugins; return what puts them back."""
    from geventws import plugins

    pm = plugins.get_plugin_manager()
    third_party = [(name, pm.get_plugin(name)) for name, (dist, _) in list(plugins._dists.items())
                   if dist != "geventws" and pm.get_plugin(name) is not None]
    for _, plugin in third_party:
        pm.unregister(plugin)

    def restore() -> None:
        if plugins.get_plugin_manager() is pm:  # a test may have made a fresh manager
            for name, plugin in third_party:
                if not pm.has_plugin(name):
                    pm.register(plugin, name=name)

    return restore
