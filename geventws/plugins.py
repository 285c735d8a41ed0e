"""The plugin manager: loads the ``geventws`` entry points and serves hooks per connection.

One :class:`pluggy.PluginManager` per process holds every installed plugin
(loaded lazily, on the first connection). Each connection then gets a
:class:`HookRelay`, a cheap view of that manager minus the plugins the user
disabled (``disable_plugins=``) plus the plugin objects given for that
connection alone (``plugins=``); registering those globally would leak them into
every other greenlet's connections.

Set ``GEVENTWS_DISABLE_PLUGIN_AUTOLOAD=1`` to load no entry point at all (the
package's own permessage-deflate included), as pytest's variable of the same shape.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
import os
import threading
import warnings
import weakref
from collections.abc import Iterable, Sequence
from typing import Any, Callable, NamedTuple, Optional

import pluggy

from . import hookspecs

_PLUGGY_MULTICALL: Optional[Callable[..., Any]]
try:  # pluggy's own dispatcher: observers call plain implementations directly only while
    # the manager still uses it (hook-call monitoring and tracing replace it).
    from pluggy._callers import _multicall as _PLUGGY_MULTICALL
except ImportError:  # pragma: no cover - another pluggy: always go through pluggy
    _PLUGGY_MULTICALL = None

__all__ = [
    "ENTRY_POINT_GROUP",
    "HookRelay",
    "PluginInfo",
    "get_plugin_manager",
    "list_plugins",
    "reset_plugin_manager",
]

#: The entry-point group (and pluggy project name) plugins register under.
ENTRY_POINT_GROUP = "geventws"

log = logging.getLogger("geventws.plugins")

_lock = threading.Lock()
_manager: Optional[pluggy.PluginManager] = None
_dists: dict[str, tuple[str, str]] = {}


class _Manager(pluggy.PluginManager):
    """pluggy's manager, counting the changes to what is registered.

    Every connection asks which plugins implement which hooks; the answers are
    kept per hook (see :meth:`_Callers.plan`) and the count says when they are stale.
    """

    generation = 0

    def register(self, plugin: Any, name: Optional[str] = None) -> Optional[str]:
        try:
            return super().register(plugin, name)
        finally:
            self.generation += 1

    def unregister(self, plugin: Any = None, name: Optional[str] = None) -> Any:
        try:
            return super().unregister(plugin, name)
        finally:
            self.generation += 1

    def add_hookspecs(self, module_or_class: Any) -> None:
        try:
            super().add_hookspecs(module_or_class)
        finally:
            self.generation += 1


def _new_manager() -> pluggy.PluginManager:
    pm = _Manager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    return pm


def _entry_points() -> Iterable[tuple[importlib.metadata.EntryPoint, str, str]]:
    """Every ``geventws`` entry point with its distribution's name and version."""
    for dist in importlib.metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == ENTRY_POINT_GROUP:
                yield ep, dist.metadata["Name"] or "?", dist.version


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    """Register each entry point; a plugin that fails to import is reported and skipped.

    Skipping (rather than raising) keeps one broken third-party package from
    stopping every connection of the process; the warning names it.
    """
    for ep, dist_name, version in _entry_points():
        if pm.has_plugin(ep.name) or pm.is_blocked(ep.name):
            continue  # the same distribution seen twice on sys.path
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:
            warnings.warn(f"geventws plugin {ep.name!r} ({dist_name} {version}) failed to "
                          f"load and is ignored: {exc!r}", RuntimeWarning, stacklevel=2)
            continue
        _dists[ep.name] = (dist_name, version)
    pm.check_pending()


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager, created (and entry points loaded) on first use."""
    global _manager
    pm = _manager
    if pm is not None:
        return pm
    with _lock:
        if _manager is None:
            pm = _new_manager()
            if not os.environ.get("GEVENTWS_DISABLE_PLUGIN_AUTOLOAD"):
                _load_entry_points(pm)
            _manager = pm
        return _manager


def reset_plugin_manager() -> None:
    """Forget the manager so the next connection loads entry points afresh (tests, reloads)."""
    global _manager
    with _lock:
        _manager = None
        _dists.clear()


class HookRelay:
    """The hooks of one connection: the global plugins minus ``disabled``, plus ``extra``.

    ``extra`` plugin objects take part in this connection's hook calls only; their
    ``geventws_*`` attributes must be known hooks whose arguments the hook spec
    provides (checked here, so a typo fails at ``connect()`` and not mid-traffic).

    A relay is made for every connection, so it costs little: the hook callers
    for a set of disabled plugins are made once per process (they read the
    manager's registrations at call time, so later ``register()`` calls still
    count), and a hook that no plugin of the connection implements is not called
    at all (pluggy's call machinery costs microseconds even with nobody listening).
    """

    def __init__(
        self,
        pm: pluggy.PluginManager,
        extra: Sequence[Any] = (),
        disabled: Sequence[str] = (),
    ) -> None:
        self.pm = pm
        self.disabled = frozenset(disabled)
        remove = frozenset(p for p in (pm.get_plugin(n) for n in self.disabled) if p is not None)
        self._callers = _callers_for(pm, remove)
        self._extra: dict[str, list[Callable[..., Any]]] = {}
        for obj in extra:
            for attr in dir(obj):
                if not attr.startswith("geventws_"):
                    continue
                caller = getattr(pm.hook, attr, None)
                if caller is None or caller.spec is None:
                    raise ValueError(f"{obj!r} implements unknown hook {attr!r}")
                function = getattr(obj, attr)
                unknown = set(_argnames(function)) - set(caller.spec.argnames)
                if unknown:
                    raise ValueError(f"{obj!r}.{attr} takes arguments the hook does not "
                                     f"provide: {sorted(unknown)}")
                self._extra.setdefault(attr, []).append(function)

    def _caller(self, name: str) -> Any:
        return self._callers[name]

    def call(self, hook: str, /, **kwargs: Any) -> Any:
        """Call ``hook``: a list of results, or one result for firstresult hooks."""
        extra = self._extra.get(hook)
        if extra:
            return self._callers[hook].call_extra(extra, kwargs)
        return self._callers.plan(hook).call(kwargs)

    def implemented(self, name: str) -> bool:
        """Whether any plugin of this connection implements hook ``name``."""
        return bool(self._extra.get(name)) or self._callers.plan(name).implemented

    def observer(self, name: str) -> Callable[..., None]:
        """A function that calls hook ``name`` with keyword arguments and drops the results.

        For hooks called per frame or per read (tracing, metrics); see :class:`_Plan`
        for how it skips pluggy's per-call machinery.
        """
        caller = self._callers[name]
        extra = self._extra.get(name)
        if extra:
            return lambda **kwargs: caller.call_extra(extra, kwargs)
        observers = self._callers.observers
        found = observers.get(name)
        if found is None:
            plan = self._callers.plan
            found = observers[name] = lambda **kwargs: plan(name).call(kwargs)
        return found


class _Plan:
    """How to call one hook, as pluggy would, without pluggy's per-call machinery.

    While every implementation is a plain one (no wrapper) and nobody monitors the
    manager's hook calls, the implementations are called directly: last registered
    first, tryfirst/trylast as pluggy ordered them, each with the arguments it
    names; results other than ``None`` are collected (the first one returned, for a
    firstresult hook); the first exception propagates. Otherwise pluggy calls them.
    That machinery costs several times the work of a small plugin, and every
    connection calls a handful of hooks, some per frame.
    """

    __slots__ = ("caller", "calls", "firstresult", "implemented", "pm")

    def __init__(self, pm: pluggy.PluginManager, caller: Any) -> None:
        impls = caller.get_hookimpls()
        self.pm = pm
        self.caller = caller
        self.implemented = bool(impls)
        self.firstresult = bool(caller.spec is not None and caller.spec.opts.get("firstresult"))
        self.calls: Optional[list[tuple[Callable[..., Any], tuple[str, ...]]]] = (
            None if any(i.hookwrapper or i.wrapper for i in impls)
            else [(i.function, tuple(i.argnames)) for i in reversed(impls)]
        )

    def call(self, kwargs: dict[str, Any]) -> Any:
        if not self.implemented:  # what pluggy returns when nobody implements it
            return None if self.firstresult else []
        calls = self.calls
        if calls is None or getattr(self.pm, "_inner_hookexec", None) is not _PLUGGY_MULTICALL:
            return self.caller(**kwargs)
        results = []
        for function, argnames in calls:
            result = function(*[kwargs[arg] for arg in argnames])
            if result is not None:
                if self.firstresult:
                    return result
                results.append(result)
        return None if self.firstresult else results


class _Callers(dict):  # type: ignore[type-arg]
    """Hook name -> hook caller of one manager without some plugins, made on first use."""

    def __init__(self, pm: pluggy.PluginManager, remove: frozenset[Any]) -> None:
        super().__init__()
        self.pm = pm
        self.remove = remove
        self.observers: dict[str, Callable[..., None]] = {}
        self._plans: dict[str, _Plan] = {}
        self._generation: Optional[int] = None

    def plan(self, name: str) -> _Plan:
        """How to call hook ``name`` now: kept until the manager's registrations change
        (a manager that does not count them gets a fresh plan on every call)."""
        generation = getattr(self.pm, "generation", None)
        if generation != self._generation or generation is None:
            self._plans.clear()
            self._generation = generation
        plan = self._plans.get(name)
        if plan is None:
            plan = self._plans[name] = _Plan(self.pm, self[name])
        return plan

    def __missing__(self, name: str) -> Any:
        caller = getattr(self.pm.hook, name)  # AttributeError for an unknown hook, as before
        if self.remove:
            caller = self.pm.subset_hook_caller(name, self.remove)
        self[name] = caller
        return caller


#: Per manager: the plugins a relay leaves out -> their hook callers (reused by every
#: connection with the same ``disable_plugins``; a new manager starts afresh).
_caller_cache: weakref.WeakKeyDictionary[pluggy.PluginManager, dict[frozenset[Any], _Callers]] \
    = weakref.WeakKeyDictionary()


def _callers_for(pm: pluggy.PluginManager, remove: frozenset[Any]) -> _Callers:
    by_removed = _caller_cache.get(pm)
    if by_removed is None:
        by_removed = _caller_cache.setdefault(pm, {})
    callers = by_removed.get(remove)
    if callers is None:
        callers = by_removed.setdefault(remove, _Callers(pm, remove))
    return callers


def _argnames(function: Callable[..., Any]) -> list[str]:
    params = inspect.signature(function).parameters.values()
    return [p.name for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is p.empty]


class PluginInfo(NamedTuple):
    """What ``python -m geventws plugins`` shows about one plugin."""

    name: str
    distribution: Optional[str]
    version: Optional[str]
    hooks: list[str]
    extensions: list[str]
    subprotocols: list[str]


def list_plugins(pm: Optional[pluggy.PluginManager] = None) -> list[PluginInfo]:
    """Describe every registered plugin: its hooks and what it offers.

    What a plugin offers is found by asking it, alone, as for a connection to
    ``ws://localhost/`` with default options and an empty options dict under its
    own name (plugins that offer only on request then show what they would offer).
    """
    from .headers import serialize_extension_header
    from .negotiation import ConnectionContext
    from .uri import parse_uri

    pm = pm or get_plugin_manager()
    infos = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        if plugin is None:
            continue
        hooks = sorted(c.name for c in pm.get_hookcallers(plugin) or ())
        others = [p for p in pm.get_plugins() if p is not plugin]
        ctx = ConnectionContext(parse_uri("ws://localhost/"), plugin_options={name: {}})

        def ask(hook: str, ctx: ConnectionContext = ctx, others: list[Any] = others) -> list[Any]:
            try:
                results = pm.subset_hook_caller(hook, others)(ctx=ctx)
            except Exception as exc:  # a plugin's bug must not break the listing
                return [f"<error: {exc!r}>"]
            return [item for result in results if result for item in result]

        extensions = [o if isinstance(o, str) else serialize_extension_header([o])
                      for o in ask("geventws_offer_extensions")]
        dist = _dists.get(name)
        infos.append(PluginInfo(name, dist[0] if dist else None, dist[1] if dist else None,
                                hooks, extensions, [str(s) for s in
                                                    ask("geventws_offer_subprotocols")]))
    return infos
