"""The client under test: Autobahn's standard client procedure, driven by geventws.

Connect to the case URL, echo every message back (text as text, binary as binary)
until the connection closes. Options: no compression (sections 1–10 test the bare
protocol), no size limit (section 9 sends 16 MiB), no keepalive pings (they would show
up in what the fuzzer records), an unbounded receive queue.
"""

from __future__ import annotations

from typing import Optional

import geventws
from geventws import ConnectionClosed

AGENT = "geventws"

OPTIONS: dict[str, object] = {
    "compression": None,
    "max_size": None,
    "max_queue": None,
    "ping_interval": None,
    "open_timeout": 10,
    "close_timeout": 5,
}


def run_case(url: str, timeout: float = 60.0) -> Optional[BaseException]:
    """Echo until closed; return what ended the connection (for diagnostics)."""
    ws = geventws.connect(url, **OPTIONS)  # type: ignore[arg-type]
    ended: Optional[BaseException] = None
    try:
        while True:
            message = ws.recv(timeout=timeout)
            ws.send(message)
    except ConnectionClosed as exc:
        ended = exc
    except TimeoutError as exc:  # the case should have ended long before
        ended = exc
        ws.close()
    ws.wait_closed(timeout=10)
    return ended
