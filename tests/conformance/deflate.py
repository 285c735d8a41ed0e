"""The referee's own permessage-deflate (RFC 7692), server role, negotiated as Autobahn does.

Independent of ``geventws.extensions.permessage_deflate`` on purpose (the judge must
not share the judged's bugs): plain :mod:`zlib`, Autobahn 0.10's rules.

Negotiation mirrors ``autobahn/websocket/compress_deflate.py`` of Autobahn 0.10.9
(what ``wstest -m fuzzingserver`` runs):

- :meth:`Offer.parse` reads one client offer. Like Autobahn, it counts every offer as
  accepting ``client_no_context_takeover`` (its parser starts from ``True``; RFC 7692
  §7.1.1.2 lets a server send that parameter whether or not it was offered), and as
  accepting ``client_max_window_bits`` only if the offer carries that parameter.
  An illegal parameter or value fails the opening handshake (HTTP 400).
- :class:`OfferAccept` is the server's choice: the client's own requests
  (``server_no_context_takeover``, ``server_max_window_bits``) are granted as offered,
  and the server may add ``client_no_context_takeover`` / ``client_max_window_bits=N``.
- :class:`ServerDeflate` compresses each message whole (default level, memLevel 8),
  strips the ``00 00 ff ff`` of the sync flush, and inflates what the client sends with a
  window of exactly the size agreed for the client and a fresh inflater per message when
  the client agreed to no context takeover, so a client that compresses with a larger
  window, or keeps its context when it promised not to, produces data this referee
  cannot inflate (a protocol violation, the case fails).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Union

NAME = "permessage-deflate"
TAIL = b"\x00\x00\xff\xff"
WINDOW_BITS = range(8, 16)

Params = dict[str, list[Union[str, bool]]]


def parse_extensions(header: str) -> list[tuple[str, Params]]:
    """``Sec-WebSocket-Extensions`` as Autobahn's ``_parseExtensionsHeader`` reads it:
    ``[(token, {param: [value or True, ...]})]`` (quotes removed, names lower-cased)."""
    result: list[tuple[str, Params]] = []
    for element in header.split(","):
        parts = [p.strip() for p in element.strip().split(";")]
        if not parts[0]:
            continue
        params: Params = {}
        for part in parts[1:]:
            key, eq, value = (x.strip() for x in part.partition("="))
            params.setdefault(key.lower(), []).append(value.strip('"') if eq else True)
        result.append((parts[0].lower(), params))
    return result


def _bits(name: str, value: Union[str, bool]) -> int:
    try:
        bits = int(value) if isinstance(value, str) else -1
    except ValueError:
        bits = -1
    if bits not in WINDOW_BITS:
        raise ValueError(f"illegal value {value!r} for {name} of {NAME}")
    return bits


@dataclass(frozen=True)
class Offer:
    """One client offer (Autobahn's ``PerMessageDeflateOffer``), also used by the cases
    to say what the client should offer (``CLIENT_OFFERS``)."""

    accept_no_context_takeover: bool = True
    accept_max_window_bits: bool = True
    request_no_context_takeover: bool = False
    request_max_window_bits: int = 0

    @classmethod
    def parse(cls, params: Params) -> Offer:
        accept_bits, request_nct, request_bits = False, False, 0
        for name, values in params.items():
            if len(values) > 1:
                raise ValueError(f"parameter {name!r} repeated in a {NAME} offer")
            value = values[0]
            if name == "client_max_window_bits":
                if value is not True:
                    _bits(name, value)  # a hint Autobahn checks and then ignores
                accept_bits = True
            elif name == "client_no_context_takeover":
                if value is not True:
                    raise ValueError(f"{name} takes no value")
            elif name == "server_max_window_bits":
                request_bits = _bits(name, value)
            elif name == "server_no_context_takeover":
                if value is not True:
                    raise ValueError(f"{name} takes no value")
                request_nct = True
            else:
                raise ValueError(f"illegal parameter {name!r} in a {NAME} offer")
        return cls(True, accept_bits, request_nct, request_bits)

    def header(self) -> str:
        """The offer as Autobahn's client writes it."""
        s = NAME
        if self.accept_no_context_takeover:
            s += "; client_no_context_takeover"
        if self.accept_max_window_bits:
            s += "; client_max_window_bits"
        if self.request_no_context_takeover:
            s += "; server_no_context_takeover"
        if self.request_max_window_bits:
            s += f"; server_max_window_bits={self.request_max_window_bits}"
        return s


@dataclass(frozen=True)
class OfferAccept:
    """The server's acceptance of ``offer`` (Autobahn's ``PerMessageDeflateOfferAccept``)."""

    offer: Offer
    request_no_context_takeover: bool = False
    request_max_window_bits: int = 0

    def __post_init__(self) -> None:
        if self.request_no_context_takeover and not self.offer.accept_no_context_takeover:
            raise ValueError("client_no_context_takeover not accepted by the client")
        if self.request_max_window_bits:
            if self.request_max_window_bits not in WINDOW_BITS:
                raise ValueError(f"bad client_max_window_bits {self.request_max_window_bits}")
            if not self.offer.accept_max_window_bits:
                raise ValueError("client_max_window_bits not accepted by the client")

    def response(self) -> str:
        """The ``Sec-WebSocket-Extensions`` value of the 101 (Autobahn's order)."""
        s = NAME
        if self.offer.request_no_context_takeover:
            s += "; server_no_context_takeover"
        if self.offer.request_max_window_bits:
            s += f"; server_max_window_bits={self.offer.request_max_window_bits}"
        if self.request_no_context_takeover:
            s += "; client_no_context_takeover"
        if self.request_max_window_bits:
            s += f"; client_max_window_bits={self.request_max_window_bits}"
        return s


def client_offers(header: str) -> list[Offer]:
    """The permessage-deflate offers in a request header; ``ValueError`` if one is illegal."""
    return [Offer.parse(params) for token, params in parse_extensions(header) if token == NAME]


class ServerDeflate:
    """The negotiated extension, server side (``createFromOfferAccept``)."""

    MEM_LEVEL = 8

    def __init__(self, accept: OfferAccept) -> None:
        self.accept = accept
        self.server_no_context_takeover = accept.offer.request_no_context_takeover
        self.client_no_context_takeover = accept.request_no_context_takeover
        self.server_max_window_bits = accept.offer.request_max_window_bits or 15
        self.client_max_window_bits = accept.request_max_window_bits or 15
        self._compressor: Any = None
        self._decompressor: Any = None
        self.messages_in = self.messages_out = 0
        self.octets_in = self.octets_out = 0  # compressed sizes, for the report

    def compress(self, payload: bytes) -> bytes:
        """One whole message, compressed; the sync flush's empty block is removed."""
        if self._compressor is None or self.server_no_context_takeover:
            # zlib has no raw 8-bit window; 9 is what Autobahn's zlib used as well.
            self._compressor = zlib.compressobj(
                zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED,
                -max(self.server_max_window_bits, 9), self.MEM_LEVEL)
        data = self._compressor.compress(payload) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        if not data.endswith(TAIL):
            raise AssertionError("zlib sync flush without its empty stored block")
        self.messages_out += 1
        self.octets_out += len(data) - 4
        return data[:-4]

    def decompress(self, payload: bytes) -> bytes:
        """One whole compressed message from the client; ``zlib.error`` if it is not
        valid deflate data for the agreed window and context."""
        if self._decompressor is None or self.client_no_context_takeover:
            self._decompressor = zlib.decompressobj(-max(self.client_max_window_bits, 9))
        d = self._decompressor
        data = d.decompress(payload + TAIL)
        if d.unconsumed_tail:
            raise zlib.error("inflater left input unconsumed")
        if d.eof and d.unused_data:
            raise zlib.error("data after the final deflate block")
        if d.eof:  # the client ended the stream (BFINAL): the next message starts afresh
            self._decompressor = None
        self.messages_in += 1
        self.octets_in += len(payload)
        return data
