"""Events the sans-IO engine reports, as small immutable values (h11's model).

A received data message is reported as the message itself, ``str`` for text and
``bytes`` for binary, since that is the event callers want and the commonest
one. Control frames become :class:`Ping`, :class:`Pong` and
:class:`~geventws.frames.Close` (a close frame arrived with that code/reason).
"""

from __future__ import annotations

from typing import NamedTuple, Union

from .frames import Close

__all__ = ["Close", "Event", "Ping", "Pong"]


class Ping(NamedTuple):
    """A ping arrived; the engine has already queued the matching pong."""

    data: bytes


class Pong(NamedTuple):
    """A pong arrived (solicited or not)."""

    data: bytes


Event = Union[str, bytes, Ping, Pong, Close]
