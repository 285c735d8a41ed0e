"""permessage-deflate (RFC 7692), a geventws plugin like any other.

The package registers this module through its own entry point (``setup.cfg``:
``geventws = permessage-deflate = geventws.extensions.permessage_deflate``);
the core never names it. It is offered when ``connect(compression="deflate")``
(the default), as browsers offer it::

    Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits

Options, as ``plugin_options={"permessage-deflate": {...}}``:

=============================  ===========  ===========================================
option                         default      meaning
=============================  ===========  ===========================================
``client_max_window_bits``     ``True``     offer it: ``True`` bare (server chooses),
                                            an int 9–15 caps our window, ``False`` omits it
``server_max_window_bits``     ``None``     ask the server to cap its window (8–15)
``client_no_context_takeover`` ``False``    promise to reset our compressor per message
``server_no_context_takeover`` ``False``    ask the server to reset its compressor
``compress_level``             ``5``        zlib level 0–9 for what we send (see below)
``mem_level``                  ``None``     zlib memLevel 1–9; ``None``: 5 when the compressor
                                            is kept for the connection, 8 when it lives
                                            for one message (no context takeover)
``threshold``                  ``32``       messages shorter than this go uncompressed
=============================  ===========  ===========================================

Why ``mem_level`` depends on context takeover: memLevel 8 (zlib's default, as
Node's ``ws`` and browsers use) compresses 11–22 % faster than 5 at level 6 on
64 KiB JSON and text, for the same ratio (±1 %), but takes 256 KiB instead of
144 KiB. A compressor kept for the connection's life (context takeover) is paid
per connection, so thousands of connections keep 5 (as ``websockets`` does); one
dropped after every message is only alive while a message is being sent, so it
takes the faster setting.

Why level 5 and not zlib's default 6 (which browsers and ``websockets`` use):
geventws runs in gevent processes that hold many connections on one core, so
CPU per message is what runs out first. On 64 KiB messages level 5 takes
0.56–0.96 times the CPU of level 6 for output 0.1–6.1 % larger (JSON-like
benchmark text, API JSON, Python source, prose; both zlib backends); a
message of a few hundred bytes costs the same at either level. Pass
``compress_level=6`` for the smallest output.

A list of such mappings offers alternatives, preferred first (RFC 7692 §5): e.g.
``[{"server_max_window_bits": 10}, {}]`` asks for a small server window but takes
a server that cannot cap it. The server's response is checked against each offer
in turn and the first it fits decides the settings.

zlib itself is :mod:`.zlib_backend`'s choice: zlib-ng when installed (the
``speedups`` extra), else the stdlib's. zlib-ng takes the (de)compressors that
live for one message (no context takeover), where it is faster: a 64 KiB JSON
message compresses with ~10 % less CPU (for output ~3 % larger; on prose and
code within 1 %) and inflates with ~35 % less. Not where the stdlib is better:

- a compressor with a window under 15 bits: there zlib-ng (at levels 5 and 6) misses long
  repeats (periodic data comes out 3–8 times larger at 12 bits);
- a (de)compressor kept for the connection (context takeover), the one that
  counts per connection: zlib-ng's compressor takes 313 KiB at memLevel 5
  (stdlib: 189 KiB), and its inflater 41 KiB whatever the window (stdlib: 7 KiB
  at 12 bits); a kept 15-bit inflater is the same size in both, so zlib-ng
  takes that one.

RFC 7692 details honoured here: RSV1 marks only the first frame of a compressed
message; control frames are never compressed; the ``00 00 ff ff`` tail of a sync
flush is removed when sending and added back when receiving; fragments of a
compressed message are compressed as one stream; without context takeover the
(de)compressor starts afresh for each message. Received data is inflated at most
``max_size + 1`` bytes at a time, so a decompression bomb fails the connection
with 1009 after a bounded amount of work and memory.

:func:`server_accept` is the server role of the same negotiation (the test
servers use it).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, Optional, Union

from ..exceptions import NegotiationError, PayloadTooBig, ProtocolError
from ..frames import Frame
from ..headers import ExtensionHeader, ExtensionParam
from ..hookspecs import hookimpl
from . import zlib_backend

__all__ = ["DEFAULT_COMPRESS_LEVEL", "NAME", "ClientSettings", "PerMessageDeflate",
           "server_accept"]

#: zlib level for what we send, unless ``compress_level`` says otherwise (module doc).
DEFAULT_COMPRESS_LEVEL = 5

NAME = "permessage-deflate"

_TAIL = b"\x00\x00\xff\xff"
_BITS = re.compile(r"8|9|1[0-5]")  # RFC 7692 §7.1.2: a decimal 8–15, no leading zero
_PARAMS = frozenset((
    "server_no_context_takeover",
    "client_no_context_takeover",
    "server_max_window_bits",
    "client_max_window_bits",
))


class PerMessageDeflate:
    """The negotiated extension for one connection, in either role.

    ``remote_*`` describe how the peer compresses (what we inflate), ``local_*``
    how we compress.
    """

    name = NAME

    def __init__(
        self,
        *,
        remote_no_context_takeover: bool = False,
        local_no_context_takeover: bool = False,
        remote_max_window_bits: int = 15,
        local_max_window_bits: int = 15,
        compress_level: int = DEFAULT_COMPRESS_LEVEL,
        mem_level: Optional[int] = None,
        threshold: int = 32,
    ) -> None:
        self.remote_no_context_takeover = remote_no_context_takeover
        self.local_no_context_takeover = local_no_context_takeover
        self.remote_max_window_bits = remote_max_window_bits
        self.local_max_window_bits = local_max_window_bits
        self.compress_level = compress_level
        self.mem_level = _mem_level(mem_level, local_no_context_takeover)
        self.threshold = threshold
        # zlib refuses an 8-bit raw deflate window (it would silently use 9, which
        # the peer may not accept); sending uncompressed is always allowed instead.
        self._can_compress = local_max_window_bits > 8
        # zlib-ng when installed (see zlib_backend and the module doc), fixed for the
        # connection's life, where it costs no memory and no compression ratio.
        backend: Any = zlib_backend.backend
        self._inflater: Any = backend if (
            remote_no_context_takeover or remote_max_window_bits == 15) else zlib
        self._deflater: Any = backend if (
            local_no_context_takeover and local_max_window_bits == 15) else zlib
        self._errors = (zlib.error, backend.error)
        self._encoder: Any = None
        self._decoder: Any = None
        self._encoding = False  # inside a compressed outgoing message
        self._decoding = False  # inside a compressed incoming message

    def __repr__(self) -> str:
        return (f"PerMessageDeflate(remote_no_context_takeover={self.remote_no_context_takeover}, "
                f"local_no_context_takeover={self.local_no_context_takeover}, "
                f"remote_max_window_bits={self.remote_max_window_bits}, "
                f"local_max_window_bits={self.local_max_window_bits})")

    # -- receiving ------------------------------------------------------------

    def decode(self, frame: Frame, *, max_size: Optional[int] = None) -> Frame:
        """Inflate the frames of a compressed message; pass everything else through."""
        opcode = frame.opcode
        if opcode >= 8:
            return frame  # never compressed; an RSV1 left set fails the connection
        if opcode == 0:
            if frame.rsv1:
                raise ProtocolError("RSV1 set on a continuation frame")
            if not self._decoding:
                return frame
        else:
            if not frame.rsv1:
                self._decoding = False
                return frame
            self._decoding = True
        decoder = self._decoder
        if decoder is None:
            # Inflating with a window at least as large as the peer's is always
            # correct; zlib wants 9 at least.
            bits = max(self.remote_max_window_bits, 9)
            decoder = self._decoder = self._inflater.decompressobj(-bits)
        try:
            if max_size is None:
                data = decoder.decompress(frame.data)
                if frame.fin:
                    # The tail only ends the sync-flushed block: it inflates to
                    # nothing, so the message is not copied to append it.
                    more = decoder.decompress(_TAIL)
                    if more:
                        data += more
            else:
                data = _inflate(decoder, frame.data, frame.fin, max_size)
        except self._errors as exc:
            raise ProtocolError(f"invalid compressed data: {exc}") from exc
        if frame.fin:
            self._decoding = False
            # A stream the peer ended with BFINAL cannot continue: start afresh.
            if self.remote_no_context_takeover or decoder.eof:
                self._decoder = None
        return frame._replace(data=data, rsv1=False)

    # -- sending --------------------------------------------------------------

    def encode(self, frame: Frame) -> Frame:
        """Compress data messages (at or over ``threshold``); control frames pass as they are."""
        opcode = frame.opcode
        if opcode >= 8:
            return frame
        first = opcode != 0
        if first:
            self._encoding = self._can_compress and (
                not frame.fin or len(frame.data) >= self.threshold)
        if not self._encoding:
            return frame
        encoder = self._encoder
        if encoder is None:
            encoder = self._encoder = self._deflater.compressobj(
                self.compress_level, zlib.DEFLATED, -self.local_max_window_bits, self.mem_level)
        head = encoder.compress(frame.data)
        tail = encoder.flush(zlib.Z_SYNC_FLUSH)  # the same constants in zlib-ng
        if frame.fin:
            # A sync flush ends with 00 00 ff ff, which RFC 7692 §7.2.1 drops: cut
            # through a view so the message is copied once (into ``data``), not twice.
            if tail.endswith(_TAIL):
                data = head + memoryview(tail)[:-4] if head else tail[:-4]
            else:  # pragma: no cover - zlib always ends a sync flush so
                data = head + tail
            self._encoding = False
            if self.local_no_context_takeover:
                self._encoder = None  # also frees its memory between messages
        else:
            data = head + tail if head else tail
        return frame._replace(data=data, rsv1=first)


def _mem_level(mem_level: Optional[int], no_context_takeover: bool) -> int:
    """The memLevel to use: the one given, else 8 for a per-message compressor, 5 for
    one kept for the connection (see the module doc)."""
    if mem_level is not None:
        return mem_level
    return 8 if no_context_takeover else 5


def _inflate(decoder: Any, data: bytes, fin: bool, max_size: int) -> bytes:
    """Inflate ``data`` (plus the tail if ``fin``) into at most ``max_size`` bytes.

    One call does it: zlib stops at ``max_length`` = ``max_size + 1`` output
    bytes, and CPython grows its output buffer as output comes, so work and
    memory stay proportional to what is actually produced and never exceed
    ``max_size + 1``, whatever the input claims to inflate to. Output shorter
    than that means all input was consumed; reaching it means the message is
    too big (a decompression bomb fails here; zlib then keeps a copy of the
    unread input, at most the frame already buffered). No slicing of the input
    and no joining of pieces: a message is inflated straight into its one buffer.
    """
    limit = max_size + 1
    out: bytes = decoder.decompress(data, limit)
    if len(out) > max_size:
        raise PayloadTooBig(f"message inflates past max_size ({max_size} bytes)")
    if fin:
        # max_length >= 1 here (0 would mean "unlimited").
        more = decoder.decompress(_TAIL, limit - len(out))
        if more:
            out += more
            if len(out) > max_size:
                raise PayloadTooBig(f"message inflates past max_size ({max_size} bytes)")
    return out


# -- negotiation --------------------------------------------------------------


def _bits(name: str, value: Optional[str]) -> int:
    if value is None or _BITS.fullmatch(value) is None:
        raise NegotiationError(f"{NAME}: invalid {name} value {value!r} (expected 8 to 15)")
    return int(value)


def _params_dict(params: Sequence[ExtensionParam], role: str) -> dict[str, Optional[str]]:
    """Parameters by name; unknown and repeated ones are errors (RFC 7692 §7.1)."""
    seen: dict[str, Optional[str]] = {}
    for name, value in params:
        key = name.lower()
        if key not in _PARAMS:
            raise NegotiationError(f"{NAME}: unknown parameter {name!r} in the {role}")
        if key in seen:
            raise NegotiationError(f"{NAME}: parameter {name!r} repeated in the {role}")
        seen[key] = value
    return seen


def _no_value(name: str, params: Mapping[str, Optional[str]], role: str) -> bool:
    if name not in params:
        return False
    if params[name] is not None:
        raise NegotiationError(f"{NAME}: {name} takes no value in the {role}")
    return True


class ClientSettings:
    """What the client offers and accepts, from the plugin options (see the module doc)."""

    def __init__(
        self,
        *,
        client_max_window_bits: Union[bool, int] = True,
        server_max_window_bits: Optional[int] = None,
        client_no_context_takeover: bool = False,
        server_no_context_takeover: bool = False,
        compress_level: int = DEFAULT_COMPRESS_LEVEL,
        mem_level: Optional[int] = None,
        threshold: int = 32,
    ) -> None:
        if not isinstance(client_max_window_bits, bool) and not (
                isinstance(client_max_window_bits, int) and 9 <= client_max_window_bits <= 15):
            raise ValueError("client_max_window_bits must be a bool or an int from 9 to 15 "
                             "(zlib cannot compress with 8)")
        if server_max_window_bits is not None and not 8 <= server_max_window_bits <= 15:
            raise ValueError("server_max_window_bits must be None or an int from 8 to 15")
        if not -1 <= compress_level <= 9:
            raise ValueError("compress_level must be from -1 to 9")
        if mem_level is not None and not 1 <= mem_level <= 9:
            raise ValueError("mem_level must be from 1 to 9")
        if threshold < 0:
            raise ValueError("threshold must be >= 0")
        self.client_max_window_bits = client_max_window_bits
        self.server_max_window_bits = server_max_window_bits
        self.client_no_context_takeover = bool(client_no_context_takeover)
        self.server_no_context_takeover = bool(server_no_context_takeover)
        self.compress_level = compress_level
        self.mem_level = mem_level
        self.threshold = threshold

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> ClientSettings:
        """Build from ``plugin_options["permessage-deflate"]``; ``ValueError`` for a typo."""
        try:
            return cls(**options)
        except TypeError as exc:
            raise ValueError(f"bad {NAME} plugin option: {exc}") from None

    def offer(self) -> ExtensionHeader:
        """The offer, e.g. ``permessage-deflate; client_max_window_bits``."""
        params: list[ExtensionParam] = []
        if self.server_no_context_takeover:
            params.append(("server_no_context_takeover", None))
        if self.client_no_context_takeover:
            params.append(("client_no_context_takeover", None))
        if self.server_max_window_bits is not None:
            params.append(("server_max_window_bits", str(self.server_max_window_bits)))
        if self.client_max_window_bits is True:
            params.append(("client_max_window_bits", None))
        elif self.client_max_window_bits is not False:
            params.append(("client_max_window_bits", str(self.client_max_window_bits)))
        return ExtensionHeader(NAME, params)

    def accept(self, params: Sequence[ExtensionParam]) -> PerMessageDeflate:
        """Check the server's response parameters (RFC 7692 §7.1) and build the extension.

        Raises :class:`NegotiationError` for an unknown, repeated or malformed
        parameter, a window larger than we asked for, a ``client_max_window_bits``
        we did not offer, or a missing ``server_no_context_takeover`` we asked for.
        """
        role = "server's response"
        p = _params_dict(params, role)
        server_nct = _no_value("server_no_context_takeover", p, role)
        client_nct = _no_value("client_no_context_takeover", p, role)
        if self.server_no_context_takeover and not server_nct:
            raise NegotiationError(f"{NAME}: the server ignored server_no_context_takeover")
        server_bits = 15
        if "server_max_window_bits" in p:
            server_bits = _bits("server_max_window_bits", p["server_max_window_bits"])
            if self.server_max_window_bits is not None and server_bits > \
                    self.server_max_window_bits:
                raise NegotiationError(f"{NAME}: server_max_window_bits={server_bits} exceeds "
                                       f"the {self.server_max_window_bits} we asked for")
        elif self.server_max_window_bits is not None:
            raise NegotiationError(f"{NAME}: the server ignored server_max_window_bits")
        client_bits = 15 if self.client_max_window_bits is True or \
            self.client_max_window_bits is False else int(self.client_max_window_bits)
        if "client_max_window_bits" in p:
            if self.client_max_window_bits is False:
                raise NegotiationError(f"{NAME}: client_max_window_bits in the response, "
                                       f"but we did not offer it")
            bits = _bits("client_max_window_bits", p["client_max_window_bits"])
            if bits > client_bits:
                raise NegotiationError(f"{NAME}: client_max_window_bits={bits} exceeds "
                                       f"the {client_bits} we offered")
            client_bits = bits
        return PerMessageDeflate(
            remote_no_context_takeover=server_nct,
            local_no_context_takeover=client_nct or self.client_no_context_takeover,
            remote_max_window_bits=server_bits,
            local_max_window_bits=client_bits,
            compress_level=self.compress_level,
            mem_level=self.mem_level,
            threshold=self.threshold,
        )


def server_accept(
    offers: Sequence[Sequence[ExtensionParam]],
    *,
    server_no_context_takeover: bool = False,
    client_no_context_takeover: bool = False,
    server_max_window_bits: Optional[int] = None,
    client_max_window_bits: Optional[int] = None,
    compress_level: int = DEFAULT_COMPRESS_LEVEL,
    mem_level: Optional[int] = None,
    threshold: int = 0,
) -> Optional[tuple[list[ExtensionParam], PerMessageDeflate]]:
    """The server role: pick the first acceptable client offer (RFC 7692 §7.1).

    Returns the response parameters and the server's extension, or ``None`` to
    decline (no offer acceptable). ``client_max_window_bits`` set here requires
    the client to have offered that parameter.
    """
    for offer in offers:
        try:
            p = _params_dict(offer, "offer")
            client_nct = _no_value("client_no_context_takeover", p, "offer")
            server_nct = _no_value("server_no_context_takeover", p, "offer")
            offered_server_bits = (_bits("server_max_window_bits", p["server_max_window_bits"])
                                   if "server_max_window_bits" in p else None)
            offered_client_bits: Union[bool, int, None] = None
            if "client_max_window_bits" in p:
                value = p["client_max_window_bits"]
                offered_client_bits = True if value is None else \
                    _bits("client_max_window_bits", value)
        except NegotiationError:
            continue  # a malformed offer is declined, the next one may do
        response: list[ExtensionParam] = []
        local_nct = server_nct or server_no_context_takeover
        if local_nct:
            response.append(("server_no_context_takeover", None))
        remote_nct = client_nct or client_no_context_takeover
        if remote_nct:
            response.append(("client_no_context_takeover", None))
        server_bits = 15
        candidates = [b for b in (offered_server_bits, server_max_window_bits) if b is not None]
        if candidates:
            server_bits = min(candidates)
            response.append(("server_max_window_bits", str(server_bits)))
        client_bits = 15
        if client_max_window_bits is not None:
            if offered_client_bits is None:
                continue  # we need the client to cap its window, it cannot
            client_bits = client_max_window_bits if offered_client_bits is True else \
                min(client_max_window_bits, int(offered_client_bits))
            response.append(("client_max_window_bits", str(client_bits)))
        elif isinstance(offered_client_bits, int) and offered_client_bits is not True:
            client_bits = offered_client_bits
        return response, PerMessageDeflate(
            remote_no_context_takeover=remote_nct,
            local_no_context_takeover=local_nct,
            remote_max_window_bits=client_bits,
            local_max_window_bits=server_bits,
            compress_level=compress_level,
            mem_level=mem_level,
            threshold=threshold,
        )
    return None


# -- the plugin ---------------------------------------------------------------


def _all_settings(options: Any) -> list[ClientSettings]:
    """One :class:`ClientSettings` per offer: a mapping, or a list of them (alternatives)."""
    if isinstance(options, Mapping):
        return [ClientSettings.from_options(options)]
    if isinstance(options, Sequence) and not isinstance(options, (str, bytes)) and options \
            and all(isinstance(o, Mapping) for o in options):
        return [ClientSettings.from_options(o) for o in options]
    raise ValueError(f"{NAME} plugin options must be a mapping or a non-empty list of "
                     f"mappings, not {options!r}")


@hookimpl
def geventws_offer_extensions(ctx: Any) -> Optional[list[ExtensionHeader]]:
    """Offer permessage-deflate when the connection wants ``compression="deflate"``."""
    if ctx.compression != "deflate":
        return None
    settings = _all_settings(ctx.options(NAME))
    ctx.data[NAME] = settings
    return [s.offer() for s in settings]


@hookimpl
def geventws_accept_extension(ctx: Any, name: str,
                              params: list[ExtensionParam]) -> Optional[PerMessageDeflate]:
    """Build the extension from the server's parameters, or refuse them."""
    if name.lower() != NAME:
        return None
    settings: Optional[list[ClientSettings]] = ctx.data.get(NAME)
    if settings is None:  # pragma: no cover - we only get here after our offer
        settings = _all_settings(ctx.options(NAME))
    errors: list[NegotiationError] = []
    for alternative in settings:
        try:
            return alternative.accept(params)
        except NegotiationError as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    raise NegotiationError(f"{NAME}: the response fits none of our {len(errors)} offers ("
                           + "; ".join(str(e) for e in errors) + ")")
