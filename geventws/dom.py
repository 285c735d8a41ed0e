"""The DOM pieces the WebSocket object stands on: events, EventTarget, DOMException.

They follow the DOM standard (dom.spec.whatwg.org) as far as a non-tree target
needs it: listeners are keyed by (type, callback, capture) so adding one twice
registers it once; dispatch walks a snapshot of the list but skips listeners
removed meanwhile; ``once`` listeners are removed before they run; a callback is
a callable or an object with ``handleEvent``. An exception raised by a listener
is logged and the remaining listeners still run, as in a browser.

Event handler attributes (``onopen`` ...) follow HTML: the handler takes its
place among the listeners when first set, keeps that place when replaced, and
leaves the list when set to ``None``.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Mapping
from typing import Any, Callable, Optional, Union

__all__ = [
    "CloseEvent",
    "DOMException",
    "Event",
    "EventHandler",
    "EventTarget",
    "MessageEvent",
    "to_usv_string",
]

log = logging.getLogger("geventws.dom")


class DOMException(Exception):
    """An error the standard names: ``SyntaxError``, ``InvalidStateError``, ``InvalidAccessError``.

    The name is in :attr:`name`, as in JavaScript, so ``except DOMException as e:
    if e.name == "SyntaxError"`` reads like the standard's prose.
    """

    def __init__(self, message: str = "", name: str = "Error") -> None:
        super().__init__(message)
        self.message = message
        self.name = name

    def __repr__(self) -> str:
        return f"DOMException({self.message!r}, {self.name!r})"


def to_usv_string(value: str) -> str:
    """Convert to a Unicode scalar value string, as WebIDL's ``USVString`` does.

    Python strings may hold lone surrogates; JavaScript would turn each into
    U+FFFD before encoding, and a surrogate pair into the character it stands for.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value


class Event:
    """A DOM ``Event``: ``Event("open")`` or ``Event("x", {"cancelable": True})``."""

    NONE = 0
    CAPTURING_PHASE = 1
    AT_TARGET = 2
    BUBBLING_PHASE = 3

    def __init__(self, type: str, eventInitDict: Optional[Mapping[str, Any]] = None,
                 **init: Any) -> None:
        options = {**(eventInitDict or {}), **init}
        self._type = str(type)
        self.bubbles = bool(options.get("bubbles", False))
        self.cancelable = bool(options.get("cancelable", False))
        self.composed = bool(options.get("composed", False))
        self.target: Any = None
        self.currentTarget: Any = None
        self.eventPhase = Event.NONE
        self.defaultPrevented = False
        #: ``True`` only for events the WebSocket fired itself, not ``dispatchEvent``'s.
        self.isTrusted = False
        self.timeStamp = time.time() * 1000.0
        self._stop = False
        self._stop_immediate = False
        self._dispatching = False

    @property
    def type(self) -> str:
        return self._type

    def preventDefault(self) -> None:
        if self.cancelable:
            self.defaultPrevented = True

    def stopPropagation(self) -> None:
        self._stop = True

    def stopImmediatePropagation(self) -> None:
        self._stop = True
        self._stop_immediate = True

    def composedPath(self) -> list[Any]:
        return [self.currentTarget] if self._dispatching else []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.type!r}>"


class MessageEvent(Event):
    """A message: ``data`` is ``str`` (text) or ``bytes``/``bytearray`` (binary)."""

    def __init__(self, type: str, eventInitDict: Optional[Mapping[str, Any]] = None,
                 **init: Any) -> None:
        super().__init__(type, eventInitDict, **init)
        options = {**(eventInitDict or {}), **init}
        self._data: Any = options.get("data")
        self._origin = str(options.get("origin", ""))
        self._last_event_id = str(options.get("lastEventId", ""))
        self._source: Any = options.get("source")
        self._ports: tuple[Any, ...] = tuple(options.get("ports", ()))

    # Read-only, as the IDL attributes are.
    @property
    def data(self) -> Any:
        return self._data

    @property
    def origin(self) -> str:
        """The serialized origin of the socket's URL, e.g. ``ws://example.com:8080``."""
        return self._origin

    @property
    def lastEventId(self) -> str:
        return self._last_event_id

    @property
    def source(self) -> Any:
        return self._source

    @property
    def ports(self) -> tuple[Any, ...]:
        return self._ports


class CloseEvent(Event):
    """How a connection ended: ``code``, ``reason``, and ``wasClean`` (closing handshake done)."""

    def __init__(self, type: str, eventInitDict: Optional[Mapping[str, Any]] = None,
                 **init: Any) -> None:
        super().__init__(type, eventInitDict, **init)
        options = {**(eventInitDict or {}), **init}
        self._was_clean = bool(options.get("wasClean", False))
        self._code = int(options.get("code", 0))
        self._reason = str(options.get("reason", ""))

    # Read-only, as the IDL attributes are.
    @property
    def wasClean(self) -> bool:
        """Whether the closing handshake completed (both close frames, then TCP closed)."""
        return self._was_clean

    @property
    def code(self) -> int:
        """The close code received; 1005 if the frame had none, 1006 if none arrived."""
        return self._code

    @property
    def reason(self) -> str:
        return self._reason


Listener = Union[Callable[[Any], Any], Any]  # a callable, or an object with handleEvent


class _Entry:
    """One registered listener; ``removed`` lets an ongoing dispatch skip it."""

    __slots__ = ("callback", "capture", "once", "removed")

    def __init__(self, callback: Listener, capture: bool, once: bool) -> None:
        self.callback = callback
        self.capture = capture
        self.once = once
        self.removed = False


def _flatten(options: Union[bool, Mapping[str, Any], None]) -> tuple[bool, bool]:
    if options is None or isinstance(options, bool):
        return bool(options), False
    return bool(options.get("capture", False)), bool(options.get("once", False))


def _same(a: Listener, b: Listener) -> bool:
    # Identity, as in JavaScript; but each ``obj.method`` access makes a new bound method,
    # equal to the others, so those compare by equality.
    return a is b or ((inspect.ismethod(a) or inspect.isbuiltin(a)) and a == b)


class EventTarget:
    """``addEventListener`` / ``removeEventListener`` / ``dispatchEvent`` of the DOM."""

    def __init__(self) -> None:
        self._listeners: dict[str, list[_Entry]] = {}
        self._handlers: dict[str, Any] = {}
        self._handler_entries: dict[str, _Entry] = {}

    def addEventListener(self, type: str, callback: Optional[Listener],
                         options: Union[bool, Mapping[str, Any], None] = None) -> None:
        """Register ``callback`` for ``type``; the same (callback, capture) twice counts once."""
        if callback is None:
            return
        capture, once = _flatten(options)
        entries = self._listeners.setdefault(type, [])
        for entry in entries:
            if _same(entry.callback, callback) and entry.capture == capture:
                return
        entries.append(_Entry(callback, capture, once))

    def removeEventListener(self, type: str, callback: Optional[Listener],
                            options: Union[bool, Mapping[str, Any], None] = None) -> None:
        """Unregister it; a dispatch already under way will not call it any more."""
        capture, _ = _flatten(options)
        entries = self._listeners.get(type, [])
        for entry in entries:
            if _same(entry.callback, callback) and entry.capture == capture:
                self._remove(type, entry)
                return

    def _remove(self, type: str, entry: _Entry) -> None:
        entry.removed = True
        entries = self._listeners.get(type, [])
        if entry in entries:
            entries.remove(entry)

    def dispatchEvent(self, event: Event) -> bool:
        """Call the listeners for ``event.type``; ``False`` if one called ``preventDefault``.

        Raises :class:`DOMException` ``InvalidStateError`` if ``event`` is being
        dispatched already.
        """
        if event._dispatching:
            raise DOMException("the event is already being dispatched", "InvalidStateError")
        return self._dispatch(event)

    def _dispatch(self, event: Event) -> bool:
        event._dispatching = True
        event.target = self
        event.currentTarget = self
        event.eventPhase = Event.AT_TARGET
        try:
            for entry in list(self._listeners.get(event.type, ())):
                if event._stop_immediate:
                    break
                if entry.removed:
                    continue
                if entry.once:
                    self._remove(event.type, entry)
                self._call(entry.callback, event)
        finally:
            event._dispatching = False
            event.currentTarget = None
            event.eventPhase = Event.NONE
            event._stop = event._stop_immediate = False
        return not event.defaultPrevented

    def _call(self, callback: Listener, event: Event) -> None:
        try:
            if callable(callback):
                callback(event)
            else:
                handle = getattr(callback, "handleEvent", None)
                if not callable(handle):
                    raise TypeError(f"listener {callback!r} has no handleEvent method")
                handle(event)
        except Exception:
            log.exception("listener for %r event raised", event.type)

    # -- event handler attributes (onopen, onmessage, ...) ---------------------

    def _get_handler(self, type: str) -> Any:
        return self._handlers.get(type)

    def _set_handler(self, type: str, value: Any) -> None:
        if value is not None and not callable(value):
            value = None  # WebIDL: a non-callable handler value is treated as null
        if value is None:
            self._handlers.pop(type, None)
            entry = self._handler_entries.pop(type, None)
            if entry is not None:
                self._remove(type, entry)
            return
        self._handlers[type] = value
        if type not in self._handler_entries:
            # One stand-in listener per attribute: it keeps the place of the first assignment
            # and calls whichever handler is current when the event fires.
            entry = _Entry(lambda event: self._run_handler(type, event), False, False)
            self._handler_entries[type] = entry
            self._listeners.setdefault(type, []).append(entry)

    def _run_handler(self, type: str, event: Event) -> None:
        handler = self._handlers.get(type)
        if handler is None:
            return
        result = handler(event)
        if result is False and event.cancelable:
            event.preventDefault()


class EventHandler:
    """A descriptor for ``on<type>`` attributes: ``None`` or a callable taking the event."""

    def __init__(self, type: str) -> None:
        self.type = type

    def __set_name__(self, owner: type, name: str) -> None:
        self.__doc__ = f"The ``{self.type}`` event handler (``None`` or a callable)."

    def __get__(self, instance: Optional[EventTarget], owner: type) -> Any:
        if instance is None:
            return self
        return instance._get_handler(self.type)

    def __set__(self, instance: EventTarget, value: Any) -> None:
        instance._set_handler(self.type, value)
