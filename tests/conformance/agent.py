"""The client under test: Autobahn's standard client procedure, driven by geventws.

Connect to the case URL, echo every message back (text as text, binary as binary)
until the connection closes. Options: no compression (sections 1–10 test the bare
protocol), no size limit (section 9 sends 16 MiB), no keepalive pings (they would show
up in what the fuzzer records), an unbounded receive queue.

Sections 12 and 13 turn compression on and offer what the case's ``CLIENT_OFFERS``
say, through the permessage-deflate plugin's own options (:func:`deflate_options`),
so the fuzzer's accept function negotiates every parameter combination for real; they
keep the default ``max_size``, so received messages are inflated under that limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

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


def deflate_options(offers: Sequence[Any]) -> dict[str, object]:
    """``connect()`` options that offer Autobahn client offers (``deflate.Offer``).

    An Autobahn offer maps onto the plugin's options: ``requestNoContextTakeover`` →
    ``server_no_context_takeover``, ``requestMaxWindowBits`` → ``server_max_window_bits``,
    ``acceptMaxWindowBits`` → a bare ``client_max_window_bits``. Its
    ``acceptNoContextTakeover`` (Autobahn writes ``client_no_context_takeover`` into
    the offer) is left out: for geventws, as RFC 7692 §7.1.1.2 says, offering that
    parameter is a promise never to use context takeover, which would hide the
    client's context takeover from every case; without it geventws still obeys a
    server that asks for it, and Autobahn's server counts every offer as accepting it.
    Several offers are alternatives, preferred first (13.7).
    """
    alternatives = [
        {
            "client_max_window_bits": bool(o.accept_max_window_bits),
            "server_no_context_takeover": bool(o.request_no_context_takeover),
            "server_max_window_bits": o.request_max_window_bits or None,
        }
        for o in offers
    ]
    return {
        "compression": "deflate",
        "plugin_options": {"permessage-deflate": alternatives},
        # The default limit (1 MiB): messages here are at most 128 KiB, and inflating
        # under a limit is the path every default connection takes.
        "max_size": 2**20,
    }


def run_case(url: str, timeout: float = 60.0, options: Optional[dict[str, object]] = None
             ) -> Optional[BaseException]:
    """Echo until closed; return what ended the connection (for diagnostics)."""
    ws = geventws.connect(url, **{**OPTIONS, **(options or {})})  # type: ignore[arg-type]
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
