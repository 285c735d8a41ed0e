"""WebSocket URIs (RFC 6455 §3): what to connect to, and the request target."""

from __future__ import annotations

import urllib.parse
from typing import NamedTuple, Optional

from .exceptions import InvalidURI

__all__ = ["WebSocketURI", "parse_uri"]


class WebSocketURI(NamedTuple):
    """A parsed ``ws://`` / ``wss://`` URI."""

    secure: bool
    host: str
    port: int
    resource_name: str
    user_info: Optional[tuple[str, str]] = None

    @property
    def host_header(self) -> str:
        """The ``Host`` header: IPv6 in brackets, the port only when not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.secure else 80
        return host if self.port == default else f"{host}:{self.port}"


def parse_uri(uri: str) -> WebSocketURI:
    """Parse ``uri``; raise :class:`InvalidURI` unless it is a valid WebSocket URI.

    The blocking API follows RFC 6455 §3: only ``ws`` and ``wss``, and no fragment.
    (The W3C object maps ``http``/``https`` first, as the WHATWG standard says.)
    """
    try:
        parsed = urllib.parse.urlsplit(uri)
        port = parsed.port
    except ValueError as exc:
        raise InvalidURI(uri, str(exc)) from None
    if parsed.scheme not in ("ws", "wss"):
        raise InvalidURI(uri, "scheme isn't ws or wss")
    if not parsed.hostname:
        raise InvalidURI(uri, "hostname is missing")
    if parsed.fragment or uri.endswith("#"):
        raise InvalidURI(uri, "fragments are not allowed in WebSocket URIs")
    secure = parsed.scheme == "wss"
    resource = urllib.parse.quote(parsed.path or "/", safe="/%:@!$&'()*+,;=~")
    if parsed.query:
        resource += "?" + urllib.parse.quote(parsed.query, safe="/%:@!$&'()*+,;=?~")
    user_info = None
    if parsed.username is not None or parsed.password is not None:
        user_info = (
            urllib.parse.unquote(parsed.username or ""),
            urllib.parse.unquote(parsed.password or ""),
        )
    host = parsed.hostname
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        host = host.encode("idna").decode("ascii")
    return WebSocketURI(secure, host, port or (443 if secure else 80), resource, user_info)
