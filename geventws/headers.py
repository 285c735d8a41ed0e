"""The ``Sec-WebSocket-Extensions`` grammar (RFC 6455 §9.1, with RFC 7230 §3.2.6 tokens).

::

    Sec-WebSocket-Extensions = extension-list
    extension-list  = 1#extension
    extension       = extension-token *( ";" extension-param )
    extension-param = token [ "=" (token | quoted-string) ]

A quoted value must itself be a token once unquoted (§9.1), so a parsed value is
always a plain token string. Parameters keep their order and duplicates: an
extension decides whether a repeated parameter is an error, not the parser.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple, Optional

from .exceptions import InvalidHeader

__all__ = [
    "ExtensionHeader",
    "ExtensionParam",
    "parse_extension_header",
    "serialize_extension_header",
]

#: ``(name, value)``; ``value`` is ``None`` for a parameter without ``=``.
ExtensionParam = tuple[str, Optional[str]]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_QUOTED = re.compile(r'"((?:[^"\\\x00-\x08\x0a-\x1f\x7f]|\\[\t\x20-\x7e\x80-\xff])*)"')
_OWS = re.compile(r"[ \t]*")
_UNESCAPE = re.compile(r"\\(.)")


class ExtensionHeader(NamedTuple):
    """One element of an extension list: a token and its parameters, in order."""

    name: str
    params: list[ExtensionParam]

    def __str__(self) -> str:
        return serialize_extension_header([self])


def _error(header: str, pos: int, what: str) -> InvalidHeader:
    return InvalidHeader("Sec-WebSocket-Extensions", header, f"{what} at position {pos}")


def _skip_ows(header: str, pos: int) -> int:
    match = _OWS.match(header, pos)
    assert match is not None  # matches the empty string at worst
    return match.end()


def _token(header: str, pos: int, what: str) -> tuple[str, int]:
    match = _TOKEN.match(header, pos)
    if match is None:
        raise _error(header, pos, f"expected {what}")
    return match.group(), match.end()


def parse_extension_header(header: str) -> list[ExtensionHeader]:
    """Parse a ``Sec-WebSocket-Extensions`` value (several header lines joined with ``,``).

    Empty list elements (``a, , b``) are tolerated as RFC 7230 §7 asks. Raises
    :class:`~geventws.InvalidHeader` for anything else outside the grammar.
    """
    result: list[ExtensionHeader] = []
    pos, end = 0, len(header)
    while True:
        # Skip empty elements and the comma separators between them.
        while True:
            pos = _skip_ows(header, pos)
            if pos < end and header[pos] == ",":
                pos += 1
                continue
            break
        if pos >= end:
            return result
        name, pos = _token(header, pos, "an extension token")
        params: list[ExtensionParam] = []
        while True:
            pos = _skip_ows(header, pos)
            if pos >= end or header[pos] == ",":
                break
            if header[pos] != ";":
                raise _error(header, pos, "expected ';' or ','")
            pos = _skip_ows(header, pos + 1)
            pname, pos = _token(header, pos, "a parameter name")
            pos = _skip_ows(header, pos)
            value: Optional[str] = None
            if pos < end and header[pos] == "=":
                pos = _skip_ows(header, pos + 1)
                if pos < end and header[pos] == '"':
                    quoted = _QUOTED.match(header, pos)
                    if quoted is None:
                        raise _error(header, pos, "unterminated quoted string")
                    value = _UNESCAPE.sub(r"\1", quoted.group(1))
                    if _TOKEN.fullmatch(value) is None:
                        raise _error(header, pos, "quoted value is not a token (RFC 6455 §9.1)")
                    pos = quoted.end()
                else:
                    value, pos = _token(header, pos, "a parameter value")
            params.append((pname, value))
        result.append(ExtensionHeader(name, params))
        if pos >= end:
            return result
        pos += 1  # the comma


def serialize_extension_header(extensions: Iterable[tuple[str, Sequence[ExtensionParam]]]) -> str:
    """Write an extension list, e.g. ``permessage-deflate; client_max_window_bits``.

    Names and values must be tokens (RFC 6455 §9.1); ``ValueError`` otherwise.
    """
    parts = []
    for name, params in extensions:
        if _TOKEN.fullmatch(name) is None:
            raise ValueError(f"extension name is not a token: {name!r}")
        items = [name]
        for pname, value in params:
            if _TOKEN.fullmatch(pname) is None:
                raise ValueError(f"extension parameter name is not a token: {pname!r}")
            if value is None:
                items.append(pname)
            else:
                if _TOKEN.fullmatch(value) is None:
                    raise ValueError(f"extension parameter value is not a token: {value!r}")
                items.append(f"{pname}={value}")
        parts.append("; ".join(items))
    return ", ".join(parts)
