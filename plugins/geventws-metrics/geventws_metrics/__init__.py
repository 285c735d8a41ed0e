"""Frame/byte counters, timings and optional frame tracing for every geventws connection.

Per-connection numbers live in the connection's hook context (``ctx.data``), so
thousands of concurrent connections never share a counter; process-wide totals
are added up when each connection ends.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import weakref
from collections.abc import Sequence
from typing import Any, Optional

from geventws import hookimpl

__all__ = ["Stats", "stats", "totals"]

NAME = "metrics"
trace_log = logging.getLogger("geventws.trace")
_OPCODES = {0: "CONT", 1: "TEXT", 2: "BINARY", 8: "CLOSE", 9: "PING", 10: "PONG"}


@dataclasses.dataclass
class Stats:
    """Counters of one connection (or, in :func:`totals`, of all ended ones).

    Frame counts and payload bytes are as on the wire (compressed, if permessage-
    deflate is on); ``bytes_*`` are socket bytes after the handshake, headers
    included.
    """

    connections: int = 1
    frames_sent: int = 0
    frames_received: int = 0
    payload_sent: int = 0
    payload_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    handshake_seconds: float = 0.0
    open_seconds: float = 0.0
    close_code: Optional[int] = None

    def add(self, other: Stats) -> None:
        for field in ("connections", "frames_sent", "frames_received", "payload_sent",
                      "payload_received", "bytes_sent", "bytes_received",
                      "handshake_seconds", "open_seconds"):
            setattr(self, field, getattr(self, field) + getattr(other, field))


_totals = Stats(connections=0)
_by_connection: weakref.WeakKeyDictionary[Any, Stats] = weakref.WeakKeyDictionary()


def stats(connection: Any) -> Stats:
    """The live counters of ``connection`` (``KeyError`` if it was not observed)."""
    return _by_connection[connection]


def totals() -> Stats:
    """Sums over every connection that has ended (a copy)."""
    return dataclasses.replace(_totals)


def _stats(ctx: Any) -> Stats:
    found = ctx.data.get(NAME)
    if found is None:
        found = ctx.data[NAME] = Stats()
    return found  # type: ignore[no-any-return]


def _trace(ctx: Any, direction: str, frame: Any) -> None:
    if ctx.options(NAME).get("trace") and trace_log.isEnabledFor(logging.DEBUG):
        trace_log.debug("%s %s %s fin=%d rsv1=%d %d bytes", ctx.uri.host, direction,
                        _OPCODES.get(frame.opcode, frame.opcode), frame.fin, frame.rsv1,
                        len(frame.data))


@hookimpl
def geventws_connection_opened(ctx: Any, connection: Any) -> None:
    s = _stats(ctx)
    s.handshake_seconds = (ctx.opened_at or time.monotonic()) - ctx.started_at
    _by_connection[connection] = s


@hookimpl
def geventws_connection_closed(ctx: Any, connection: Any) -> None:
    s = _stats(ctx)
    s.open_seconds = time.monotonic() - (ctx.opened_at or ctx.started_at)
    s.close_code = connection.close_code
    _totals.add(s)


@hookimpl
def geventws_frame_sent(ctx: Any, frame: Any) -> None:
    s = _stats(ctx)
    s.frames_sent += 1
    s.payload_sent += len(frame.data)
    _trace(ctx, ">", frame)


@hookimpl
def geventws_frame_received(ctx: Any, frame: Any) -> None:
    s = _stats(ctx)
    s.frames_received += 1
    s.payload_received += len(frame.data)
    _trace(ctx, "<", frame)


@hookimpl
def geventws_bytes_sent(ctx: Any, data: Sequence[bytes]) -> None:
    _stats(ctx).bytes_sent += sum(len(chunk) for chunk in data)


@hookimpl
def geventws_bytes_received(ctx: Any, data: bytes) -> None:
    _stats(ctx).bytes_received += len(data)
