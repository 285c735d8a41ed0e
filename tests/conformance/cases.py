"""Autobahn|Testsuite client cases 1–7, 9, 10, 12 and 13, and Autobahn's grading rules.

Each case is a class named by its Autobahn id; :data:`CASES` keeps Autobahn's order.
A case acts on the connection ``self.p`` (a :class:`~.fuzzer.FuzzingConnection`) in
:meth:`Case.on_open`, records what the client sends back in ``self.received``, and is
graded when the connection ends (:meth:`Case.grade`) exactly as Autobahn's
``Case.onConnectionLost`` grades:

- behaviour: the first entry of ``self.expected`` (``OK``, then ``NON-STRICT``...) whose
  event list equals ``self.received``, else ``FAILED``;
- close behaviour: ``FAILED`` if the wrong side started the closing handshake
  (``closedByMe``), ``UNCLEAN`` if a clean close was required but the close handshake
  did not complete, ``WRONG CODE`` if the client's close code is not one expected,
  else ``OK``.

The payloads, timings and expectations are those of the ``autobahntestsuite`` sdist
(``autobahntestsuite/case/case*.py``); the code is this project's own.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from .deflate import Offer, OfferAccept
from .payloads import TEST_DATA, TestData

OK = "OK"
NON_STRICT = "NON-STRICT"
FAILED = "FAILED"
WRONG_CODE = "WRONG CODE"
UNCLEAN = "UNCLEAN"
FAILED_BY_CLIENT = "FAILED BY CLIENT"
INFORMATIONAL = "INFORMATIONAL"
UNIMPLEMENTED = "UNIMPLEMENTED"

NORMAL, GOING_AWAY, PROTOCOL_ERROR, INVALID_PAYLOAD = 1000, 1001, 1002, 1007

Event = tuple[Any, ...]


@dataclass
class CaseResult:
    """What Autobahn's report shows for one case."""

    case_id: str
    behavior: str
    behavior_close: str
    result: str = ""
    result_close: str = ""
    received: list[Event] = field(default_factory=list)
    expected: dict[str, list[Event]] = field(default_factory=dict)
    expected_close: dict[str, Any] = field(default_factory=dict)
    remote_close_code: Optional[int] = None
    local_close_code: Optional[int] = None
    closed_by_me: bool = False
    failed_by_me: bool = False
    was_clean: bool = False
    duration: float = 0.0
    violations: list[str] = field(default_factory=list)
    #: The ``Sec-WebSocket-Extensions`` the fuzzer answered ("" if none was accepted).
    extensions: str = ""
    #: Compressed messages the fuzzer received from the client / sent to it.
    compressed_in: int = 0
    compressed_out: int = 0

    @classmethod
    def handshake_failure(cls, case_id: str, why: str) -> CaseResult:
        return cls(case_id, FAILED, FAILED, f"opening handshake failed: {why}",
                   "The WebSocket opening handshake was never completed!")

    def summary(self) -> str:
        """A few lines to explain a grade in a failed assertion."""

        def short(events: list[Event]) -> list[Event]:
            return [tuple(e[:1]) + tuple((x[:40] + b"...") if isinstance(x, bytes) and
                    len(x) > 40 else x for x in e[1:]) for e in events]

        return (
            f"case {self.case_id}: behavior={self.behavior} ({self.result}); "
            f"close={self.behavior_close} ({self.result_close}); "
            f"received={short(self.received)}; "
            f"expected={ {k: short(v) for k, v in self.expected.items()} }; "
            f"expected_close={self.expected_close}; remote_close_code="
            f"{self.remote_close_code}; closed_by_me={self.closed_by_me}; "
            f"was_clean={self.was_clean}; violations={self.violations}"
        )


class Case:
    """Base of every case: records events, and grades like Autobahn's ``Case``."""

    case_id = ""
    DESCRIPTION = ""
    EXPECTATION = ""
    suppress_close = False
    #: Cases whose outcome the RFC leaves open are reported, never failed.
    informational = False

    def __init__(self, p: Any) -> None:
        self.p = p
        self.received: list[Event] = []
        self.expected: dict[str, list[Event]] = {}
        self.expected_close: dict[str, Any] = {}
        self.behavior = FAILED
        self.behavior_close = FAILED
        self.result = "Actual events differ from any expected."
        self.result_close = "TCP connection was dropped without close handshake"
        self.init()

    def init(self) -> None:
        pass

    def accept_deflate(self, offers: list[Any]) -> Any:
        """Pick one of the client's permessage-deflate offers (an :class:`~.deflate.OfferAccept`)
        or decline with ``None``: Autobahn's ``perMessageCompressionAccept``, whose default
        declines (only sections 12 and 13 negotiate compression)."""
        return None

    def on_open(self) -> None:
        raise NotImplementedError

    def on_message(self, payload: bytes, binary: bool) -> None:
        self.received.append(("message", payload, binary))
        self.finish_when_done()

    def on_pong(self, payload: bytes) -> None:
        self.received.append(("pong", payload))
        self.finish_when_done()

    def finish_when_done(self) -> None:
        """Start the close once ``received`` matches *every* expected outcome (as Autobahn
        does: with both an OK and a NON-STRICT outcome, the timers close instead)."""
        for events in self.expected.values():
            if self.received != events:
                return
        if self.expected_close["closedByMe"] and not self.suppress_close:
            self.p.send_close(self.expected_close["closeCode"][0])

    def on_connection_lost(self) -> None:
        p = self.p
        for grade, events in self.expected.items():
            if self.received == events:
                self.behavior = grade
                self.result = "Actual events match at least one expected."
                break
        if p.connection_was_open:
            ec = self.expected_close
            if ec["closedByMe"] != p.closed_by_me:
                self.behavior_close = FAILED
                self.result_close = "The connection was failed by the wrong endpoint"
            elif ec["requireClean"] and not p.was_clean:
                self.behavior_close = UNCLEAN
                self.result_close = "The spec requires the connection to be failed cleanly here"
            elif p.remote_close_code is not None and p.remote_close_code not in ec["closeCode"]:
                self.behavior_close = WRONG_CODE
                codes = ",".join(map(str, ec["closeCode"]))
                self.result_close = f"The close code should have been {codes} or empty"
            else:
                self.behavior_close = OK
                self.result_close = "Connection was properly closed"
            if ec.get("closedByWrongEndpointIsFatal") and ec["closedByMe"] != p.closed_by_me:
                self.behavior = FAILED
        else:
            self.behavior_close = FAILED
            self.result_close = "The WebSocket opening handshake was never completed!"

    def grade(self) -> CaseResult:
        self.on_connection_lost()
        p = self.p
        return CaseResult(
            self.case_id, self.behavior, self.behavior_close, self.result, self.result_close,
            list(self.received), dict(self.expected), dict(self.expected_close),
            p.remote_close_code, p.local_close_code, p.closed_by_me, p.failed_by_me,
            p.was_clean, (p.ended or time.monotonic()) - p.started, list(p.violations),
            p.pmce.accept.response() if p.pmce else "",
            p.pmce.messages_in if p.pmce else 0, p.pmce.messages_out if p.pmce else 0,
        )


def _normal_close(case: Case) -> dict[str, Any]:
    return {"closedByMe": True, "closeCode": [NORMAL], "requireClean": True}


def _client_fails(code: int = PROTOCOL_ERROR, **extra: Any) -> dict[str, Any]:
    return {"closedByMe": False, "closeCode": [code], "requireClean": False, **extra}


class WrongCodeFails(Case):
    """Section 7 cases turn a wrong close code into a failed *behaviour* too."""

    def on_connection_lost(self) -> None:
        super().on_connection_lost()
        if self.behavior_close == WRONG_CODE:
            self.behavior = FAILED
            self.result = self.result_close


CASES: list[type[Case]] = []


def case(case_id: str, description: str = "") -> Any:
    def register(cls: type[Case]) -> type[Case]:
        cls.case_id = case_id
        cls.DESCRIPTION = description or (cls.__doc__ or "").strip()
        CASES.append(cls)
        return cls

    return register


def make(case_id: str, base: type[Case], description: str, **attrs: Any) -> None:
    """Register a generated case (the 6.x.x, 7.7.x, 7.9.x, 9.x families)."""
    name = "Case" + case_id.replace(".", "_")
    case(case_id, description)(type(name, (base,), attrs))


# ---------------------------------------------------------------------------
# 1 Framing: echo of text (1.1) and binary (1.2) messages of growing length.


class Echo(Case):
    OPCODE, LENGTH, FILL, CHOP = 1, 0, b"*", None

    def on_open(self) -> None:
        payload = self.FILL * self.LENGTH
        self.expected[OK] = [("message", payload, self.OPCODE == 2)]
        self.expected_close = _normal_close(self)
        self.p.send_frame(self.OPCODE, payload, chopsize=self.CHOP)
        self.p.kill_after(1 if self.LENGTH < 65535 else 10)


for _i, (_n, _chop) in enumerate(
    [(0, None), (125, None), (126, None), (127, None), (128, None), (65535, None),
     (65536, None), (65536, 997)], start=1
):
    _extra = f", sent out in chops of {_chop} octets" if _chop else ""
    make(f"1.1.{_i}", Echo, f"Send text message with payload of length {_n}{_extra}.",
         OPCODE=1, LENGTH=_n, FILL=b"*", CHOP=_chop)
for _i, (_n, _chop) in enumerate(
    [(0, None), (125, None), (126, None), (127, None), (128, None), (65535, None),
     (65536, None), (65536, 997)], start=1
):
    _extra = f", sent out in chops of {_chop} octets" if _chop else ""
    make(f"1.2.{_i}", Echo, f"Send binary message with payload of length {_n}{_extra}.",
         OPCODE=2, LENGTH=_n, FILL=b"\xfe", CHOP=_chop)


# ---------------------------------------------------------------------------
# 2 Pings/Pongs.


class PingEcho(Case):
    PAYLOAD, CHOP, WAIT = b"", None, 1

    def on_open(self) -> None:
        self.expected[OK] = [("pong", self.PAYLOAD)]
        self.expected_close = _normal_close(self)
        self.p.send_frame(9, self.PAYLOAD, chopsize=self.CHOP)
        self.p.close_after(self.WAIT)


make("2.1", PingEcho, "Send ping without payload.", PAYLOAD=b"")
make("2.2", PingEcho, "Send ping with small text payload.", PAYLOAD=b"Hello, world!")
make("2.3", PingEcho, "Send ping with small binary (non UTF-8) payload.",
     PAYLOAD=b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff")
make("2.4", PingEcho, "Send ping with binary payload of 125 octets.", PAYLOAD=b"\xfe" * 125)


@case("2.5")
class Case2_5(Case):
    """Send ping with binary payload of 126 octets: the client must fail (1002)."""

    def on_open(self) -> None:
        self.expected[OK] = []
        self.expected_close = _client_fails()
        self.p.send_frame(9, b"\xfe" * 126)
        self.p.kill_after(1)


make("2.6", PingEcho, "Send ping with binary payload of 125 octets, in octet-wise chops.",
     PAYLOAD=b"\xfe" * 125, CHOP=1, WAIT=2)


class UnsolicitedPong(Case):
    PAYLOAD = b""

    def on_open(self) -> None:
        self.expected[OK] = []
        self.expected_close = _normal_close(self)
        self.p.send_frame(10, self.PAYLOAD)
        self.p.send_close(NORMAL)
        self.p.close_after(1)


make("2.7", UnsolicitedPong, "Send unsolicited pong without payload.", PAYLOAD=b"")
make("2.8", UnsolicitedPong, "Send unsolicited pong with payload.",
     PAYLOAD=b"unsolicited pong payload")


@case("2.9")
class Case2_9(Case):
    """Send unsolicited pong, then a ping: only the ping is answered."""

    def on_open(self) -> None:
        self.expected[OK] = [("pong", b"ping payload")]
        self.expected_close = _normal_close(self)
        self.p.send_frame(10, b"unsolicited pong payload")
        self.p.send_frame(9, b"ping payload")
        self.p.close_after(1)


class TenPings(Case):
    CHOP: Optional[int] = None

    def on_open(self) -> None:
        self.expected[OK] = []
        for i in range(10):
            payload = b"payload-%d" % i
            self.expected[OK].append(("pong", payload))
            self.p.send_frame(9, payload, chopsize=self.CHOP)
        self.expected_close = _normal_close(self)
        self.p.close_after(3)


make("2.10", TenPings, "Send 10 pings with payload.", CHOP=None)
make("2.11", TenPings, "Send 10 pings with payload, in octet-wise chops.", CHOP=1)


# ---------------------------------------------------------------------------
# 3 Reserved bits, 4 opcodes: the client must fail with 1002. When a valid message
# precedes the bad frame, echoing it first is OK and not echoing it NON-STRICT.


class BadFrameAlone(Case):
    OPCODE, RSV, PAYLOAD = 1, 0, b""

    def on_open(self) -> None:
        self.expected[OK] = []
        self.expected_close = _client_fails()
        self.p.send_frame(self.OPCODE, self.PAYLOAD, rsv=self.RSV)
        self.p.kill_after(1)


class BadFrameAfterMessage(Case):
    OPCODE, RSV, PAYLOAD, SYNC, CHOP = 1, 0, b"", False, None

    def on_open(self) -> None:
        hello = b"Hello, world!"
        self.expected[OK] = [("message", hello, False)]
        self.expected[NON_STRICT] = []
        self.expected_close = _client_fails()
        p = self.p
        p.send_frame(1, hello, sync=self.SYNC, chopsize=self.CHOP)
        p.send_frame(self.OPCODE, self.PAYLOAD, rsv=self.RSV, sync=self.SYNC,
                     chopsize=self.CHOP)
        p.send_frame(9, sync=self.SYNC, chopsize=self.CHOP)
        p.kill_after(1)


make("3.1", BadFrameAlone, "Send small text message with RSV = 1.", RSV=1,
     PAYLOAD=b"Hello, world!")
make("3.2", BadFrameAfterMessage, "Send text, then text with RSV = 2, then ping.", RSV=2,
     PAYLOAD=b"Hello, world!")
make("3.3", BadFrameAfterMessage, "Send text, then text with RSV = 3, then ping; "
     "frame-wise.", RSV=3, PAYLOAD=b"Hello, world!", SYNC=True)
make("3.4", BadFrameAfterMessage, "Send text, then text with RSV = 4, then ping; "
     "octet-wise chops.", RSV=4, PAYLOAD=b"Hello, world!", CHOP=1)
make("3.5", BadFrameAlone, "Send small binary message with RSV = 5.", OPCODE=2, RSV=5,
     PAYLOAD=b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff")
make("3.6", BadFrameAlone, "Send small binary message with RSV = 6.", OPCODE=2, RSV=6,
     PAYLOAD=b"Hello, world!")
make("3.7", BadFrameAlone, "Send small close with RSV = 7.", OPCODE=8, RSV=7)

make("4.1.1", BadFrameAlone, "Send frame with reserved non-control opcode 3.", OPCODE=3)
make("4.1.2", BadFrameAlone, "Send frame with reserved non-control opcode 4 and payload.",
     OPCODE=4, PAYLOAD=b"reserved opcode payload")
make("4.1.3", BadFrameAfterMessage, "Send text, then frame with reserved opcode 5, then ping.",
     OPCODE=5)
make("4.1.4", BadFrameAfterMessage, "Send text, then frame with reserved opcode 6 and payload, "
     "then ping.", OPCODE=6, PAYLOAD=b"Hello, world!")
make("4.1.5", BadFrameAfterMessage, "Send text, then frame with reserved opcode 7 and payload, "
     "then ping; octet-wise chops.", OPCODE=7, PAYLOAD=b"Hello, world!", CHOP=1)
make("4.2.1", BadFrameAlone, "Send frame with reserved control opcode 11.", OPCODE=11)
make("4.2.2", BadFrameAlone, "Send frame with reserved control opcode 12 and payload.",
     OPCODE=12, PAYLOAD=b"reserved opcode payload")
make("4.2.3", BadFrameAfterMessage, "Send text, then frame with reserved control opcode 13, "
     "then ping.", OPCODE=13)
make("4.2.4", BadFrameAfterMessage, "Send text, then frame with reserved control opcode 14 "
     "and payload, then ping.", OPCODE=14, PAYLOAD=b"Hello, world!")
make("4.2.5", BadFrameAfterMessage, "Send text, then frame with reserved control opcode 15 "
     "and payload, then ping; octet-wise chops.", OPCODE=15, PAYLOAD=b"Hello, world!", CHOP=1)


# ---------------------------------------------------------------------------
# 5 Fragmentation.


class BadFragments(Case):
    """Frames that break the fragmentation rules: the client must fail (1002)."""

    FRAMES: list[tuple[int, bool, bytes]] = []
    SYNC, CHOP = False, None

    def on_open(self) -> None:
        self.expected[OK] = []
        self.expected_close = _client_fails()
        for opcode, fin, payload in self.FRAMES:
            self.p.send_frame(opcode, payload, fin=fin, sync=self.SYNC, chopsize=self.CHOP)
        self.p.kill_after(1)


make("5.1", BadFragments, "Send ping in 2 fragments.",
     FRAMES=[(9, False, b"fragment1"), (0, True, b"fragment2")])
make("5.2", BadFragments, "Send pong in 2 fragments.",
     FRAMES=[(10, False, b"fragment1"), (0, True, b"fragment2")])


class GoodFragments(Case):
    SYNC, CHOP, PING = False, None, False

    def on_open(self) -> None:
        frags = [b"fragment1", b"fragment2"]
        ping = b"ping payload"
        self.expected[OK] = ([("pong", ping)] if self.PING else []) + [
            ("message", b"".join(frags), False)]
        self.expected_close = _normal_close(self)
        p = self.p
        p.send_frame(1, frags[0], fin=False, sync=self.SYNC, chopsize=self.CHOP)
        if self.PING:
            p.send_frame(9, ping, sync=self.SYNC, chopsize=self.CHOP)
        p.send_frame(0, frags[1], fin=True, sync=self.SYNC, chopsize=self.CHOP)
        p.close_after(1)


make("5.3", GoodFragments, "Send text message in 2 fragments.")
make("5.4", GoodFragments, "Send text message in 2 fragments, frame-wise.", SYNC=True)
make("5.5", GoodFragments, "Send text message in 2 fragments, octet-wise chops.", CHOP=1)
make("5.6", GoodFragments, "Send text message in 2 fragments with a ping in between.",
     PING=True)
make("5.7", GoodFragments, "Send text message in 2 fragments with a ping in between, "
     "frame-wise.", PING=True, SYNC=True)
make("5.8", GoodFragments, "Send text message in 2 fragments with a ping in between, "
     "octet-wise chops.", PING=True, CHOP=1)

_lone_cont = [(0, True, b"non-continuation payload"), (1, True, b"Hello, world!")]
_lone_cont2 = [(0, False, b"non-continuation payload"), (1, True, b"Hello, world!")]
make("5.9", BadFragments, "Send unfragmented text message after continuation frame with "
     "FIN = true, where there is nothing to continue.", FRAMES=_lone_cont)
make("5.10", BadFragments, "Same as 5.9, frame-wise.", FRAMES=_lone_cont, SYNC=True)
make("5.11", BadFragments, "Same as 5.9, octet-wise chops.", FRAMES=_lone_cont, CHOP=1)
make("5.12", BadFragments, "Send unfragmented text message after continuation frame with "
     "FIN = false, where there is nothing to continue.", FRAMES=_lone_cont2)
make("5.13", BadFragments, "Same as 5.12, frame-wise.", FRAMES=_lone_cont2, SYNC=True)
make("5.14", BadFragments, "Same as 5.12, octet-wise chops.", FRAMES=_lone_cont2, CHOP=1)


@case("5.15")
class Case5_15(Case):
    """Send a fragmented text message, then a continuation and a new text frame out of
    place: the first message is echoed (OK) or not (NON-STRICT), then the client fails."""

    def on_open(self) -> None:
        f = [b"fragment1", b"fragment2", b"fragment3", b"fragment4"]
        self.expected[OK] = [("message", f[0] + f[1], False)]
        self.expected[NON_STRICT] = []
        self.expected_close = _client_fails()
        p = self.p
        p.send_frame(1, f[0], fin=False)
        p.send_frame(0, f[1], fin=True)
        p.send_frame(0, f[2], fin=False)
        p.send_frame(1, f[3], fin=True)
        p.kill_after(1)


make("5.16", BadFragments, "Send 2 fragmented messages, each starting with a continuation.",
     FRAMES=[(0, False, b"fragment1"), (1, False, b"fragment2"), (0, True, b"fragment3")] * 2)
make("5.17", BadFragments, "Send 2 fragmented messages, each starting with a final "
     "continuation.",
     FRAMES=[(0, True, b"fragment1"), (1, False, b"fragment2"), (0, True, b"fragment3")] * 2)
make("5.18", BadFragments, "Send text message in 2 fragments, both with opcode text.",
     FRAMES=[(1, False, b"fragment1"), (1, True, b"fragment2")])


class PingsInsideFragments(Case):
    """Text message in 5 fragments, pings interleaved, a 1 s pause in the middle."""

    SYNC = False

    def on_open(self) -> None:
        self.frags = [b"fragment1", b"fragment2", b"fragment3", b"fragment4", b"fragment5"]
        self.pings = [b"pongme 1!", b"pongme 2!"]
        self.expected[OK] = [("pong", self.pings[0]), ("pong", self.pings[1]),
                             ("message", b"".join(self.frags), False)]
        self.expected_close = _normal_close(self)
        p, s = self.p, self.SYNC
        p.send_frame(1, self.frags[0], fin=False, sync=s)
        p.send_frame(0, self.frags[1], fin=False, sync=s)
        p.send_frame(9, self.pings[0], sync=s)
        p.continue_later(1, self.part2)

    def part2(self) -> None:
        p, s = self.p, self.SYNC
        p.send_frame(0, self.frags[2], fin=False, sync=s)
        p.send_frame(0, self.frags[3], fin=False, sync=s)
        p.send_frame(9, self.pings[1], sync=s)
        p.send_frame(0, self.frags[4], fin=True, sync=s)
        p.close_after(1)


make("5.19", PingsInsideFragments, "Text message in 5 fragments with 2 pings interleaved and "
     "a 1 s pause.")
make("5.20", PingsInsideFragments, "Same as 5.19, frame-wise.", SYNC=True)


# ---------------------------------------------------------------------------
# 6 UTF-8 handling.


class TextEcho(Case):
    """A valid text message, sent as given frames; expect it back."""

    FRAMES: list[tuple[int, bool, bytes]] = []
    PAYLOAD = b""
    OCTETWISE = False  # sendMessage(fragmentSize=1) instead of FRAMES

    def on_open(self) -> None:
        self.expected[OK] = [("message", self.PAYLOAD, False)]
        self.expected_close = _normal_close(self)
        _send_frames(self)
        self.p.close_after(1)


def _send_frames(case: Any) -> None:
    if case.OCTETWISE:
        # Autobahn's sendMessage(fragmentSize=1): one octet per frame, then an empty
        # final frame (its splitting loop ends one step after an exact multiple).
        case.p.send_message(case.PAYLOAD, fragment_size=1)
        return
    for opcode, fin, payload in case.FRAMES:
        case.p.send_frame(opcode, payload, fin=fin)


_HELLO = "Hello-µ@ßöäüàá-UTF-8!!".encode()
_KOSME = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
make("6.1.1", TextEcho, "Send text message of length 0.", FRAMES=[(1, True, b"")])
make("6.1.2", TextEcho, "Send fragmented text message, 3 fragments each of length 0.",
     FRAMES=[(1, False, b""), (0, False, b""), (0, True, b"")])
make("6.1.3", TextEcho, "Send fragmented text message, 3 fragments, first and last of "
     "length 0.", PAYLOAD=b"middle frame payload",
     FRAMES=[(1, False, b""), (0, False, b"middle frame payload"), (0, True, b"")])
make("6.2.1", TextEcho, "Send a valid UTF-8 text message in one fragment.", PAYLOAD=_HELLO,
     FRAMES=[(1, True, _HELLO)])
_h1, _h2 = "Hello-µ@ßöä".encode(), "üàá-UTF-8!!".encode()
make("6.2.2", TextEcho, "Send a valid UTF-8 text message in two fragments, split on a code "
     "point boundary.", PAYLOAD=_h1 + _h2, FRAMES=[(1, False, _h1), (0, True, _h2)])
make("6.2.3", TextEcho, "Send a valid UTF-8 text message in fragments of 1 octet.",
     PAYLOAD=_HELLO, OCTETWISE=True)
make("6.2.4", TextEcho, "Send a valid UTF-8 text message in fragments of 1 octet.",
     PAYLOAD=_KOSME, OCTETWISE=True)

_BAD = _KOSME + b"\xed\xa0\x80" + b"edited"


class InvalidText(Case):
    FRAMES: list[tuple[int, bool, bytes]] = []
    PAYLOAD, OCTETWISE = b"", False

    def on_open(self) -> None:
        self.expected[OK] = []
        self.expected_close = _client_fails(INVALID_PAYLOAD, closedByWrongEndpointIsFatal=True)
        _send_frames(self)
        self.p.kill_after(1)


make("6.3.1", InvalidText, "Send invalid UTF-8 text message unfragmented.",
     FRAMES=[(1, True, _BAD)])
make("6.3.2", InvalidText, "Send invalid UTF-8 text message in fragments of 1 octet.",
     PAYLOAD=_BAD, OCTETWISE=True)


class FailFast(Case):
    """Invalid UTF-8 arriving in 3 parts with 1 s pauses. Failing as soon as part 2
    arrives is OK; failing only once the message is complete is NON-STRICT."""

    P1, P2, P3 = _KOSME, b"\xf4\x90\x80\x80", b"edited"
    CHOPS = False  # parts of one frame instead of three frames

    def on_open(self) -> None:
        self.expected[OK] = [("timeout", "A")]
        self.expected[NON_STRICT] = [("timeout", "A"), ("timeout", "B")]
        self.expected_close = _client_fails(INVALID_PAYLOAD, closedByWrongEndpointIsFatal=True)
        if self.CHOPS:
            self.p.begin_message_frame(1, len(self.P1 + self.P2 + self.P3))
            self.p.send_data(self.P1)
        else:
            self.p.send_frame(1, self.P1, fin=False)
        self.p.continue_later(1, self.part2)

    def part2(self) -> None:
        if self.p.state == "OPEN":
            self.received.append(("timeout", "A"))
            if self.CHOPS:
                self.p.send_data(self.P2)
            else:
                self.p.send_frame(0, self.P2, fin=False)
            self.p.continue_later(1, self.part3)

    def part3(self) -> None:
        if self.p.state == "OPEN":
            self.received.append(("timeout", "B"))
            if self.CHOPS:
                self.p.send_data(self.P3)
            else:
                self.p.send_frame(0, self.P3, fin=True)
            self.p.kill_after(1)


_whole = FailFast.P1 + FailFast.P2 + FailFast.P3
make("6.4.1", FailFast, "Invalid UTF-8 text message in 3 frames; the 2nd makes it invalid.")
make("6.4.2", FailFast, "Same as 6.4.1, the 2nd frame holding only the octet that makes it "
     "invalid.", P1=_whole[:12], P2=_whole[12:13], P3=_whole[13:])
make("6.4.3", FailFast, "Same as 6.4.1, in 3 chops of one frame.", CHOPS=True)
make("6.4.4", FailFast, "Same as 6.4.2, in 3 chops of one frame.", CHOPS=True,
     P1=_whole[:12], P2=_whole[12:13], P3=_whole[13:])


def _utf8_sequences() -> list[tuple[str, list[tuple[bool, bytes]]]]:
    """The UTF-8 decoder capability and stress test (Markus Kuhn), as Autobahn groups it
    into subsections 6.5 to 6.23: ``(is valid UTF-8, payload)`` pairs."""
    groups: list[tuple[str, list[tuple[bool, bytes]]]] = []
    groups.append(("Some valid UTF-8 sequences", [
        (True, b"hello\x24world"), (True, b"hello\xc2\xa2world"),
        (True, b"hello\xe2\x82\xacworld"), (True, b"hello\xf0\xa4\xad\xa2world"),
        (True, _KOSME)]))

    def valid(b: bytes) -> bool:
        try:
            b.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True

    groups.append(("All prefixes of a valid UTF-8 string that contains multi-byte code points",
                   [(valid(_KOSME[:i]), _KOSME[:i]) for i in range(1, len(_KOSME) + 1)]))
    groups.append(("First possible sequence of a certain length", [
        (True, b"\x00"), (True, b"\xc2\x80"), (True, b"\xe0\xa0\x80"),
        (True, b"\xf0\x90\x80\x80")]))
    groups.append(("First possible sequence length 5/6 (invalid codepoints)", [
        (False, b"\xf8\x88\x80\x80\x80"), (False, b"\xfc\x84\x80\x80\x80\x80")]))
    groups.append(("Last possible sequence of a certain length", [
        (True, b"\x7f"), (True, b"\xdf\xbf"), (True, b"\xef\xbf\xbf"),
        (True, b"\xf4\x8f\xbf\xbf")]))
    groups.append(("Last possible sequence length 4/5/6 (invalid codepoints)", [
        (False, b"\xf7\xbf\xbf\xbf"), (False, b"\xfb\xbf\xbf\xbf\xbf"),
        (False, b"\xfd\xbf\xbf\xbf\xbf\xbf")]))
    groups.append(("Other boundary conditions", [
        (True, b"\xed\x9f\xbf"), (True, b"\xee\x80\x80"), (True, b"\xef\xbf\xbd"),
        (True, b"\xf4\x8f\xbf\xbf"), (False, b"\xf4\x90\x80\x80")]))
    groups.append(("Unexpected continuation bytes", [
        (False, b"\x80"), (False, b"\xbf"), (False, b"\x80\xbf"), (False, b"\x80\xbf\x80"),
        (False, b"\x80\xbf\x80\xbf"), (False, b"\x80\xbf\x80\xbf\x80"),
        (False, b"\x80\xbf\x80\xbf\x80\xbf"), (False, bytes(range(0x80, 0xBF)))]))
    groups.append(("Lonely start characters", [
        (False, b"".join(bytes([i, 0x20]) for i in range(lo, hi)))
        for lo, hi in [(0xC0, 0xDF), (0xE0, 0xEF), (0xF0, 0xF7), (0xF8, 0xFB), (0xFC, 0xFD)]]))
    missing = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80",
               b"\xfc\x80\x80\x80\x80", b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf",
               b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
    groups.append(("Sequences with last continuation byte missing",
                   [(False, m) for m in missing]))
    groups.append(("Concatenation of incomplete sequences", [(False, b"".join(missing))]))
    groups.append(("Impossible bytes", [
        (False, b"\xfe"), (False, b"\xff"), (False, b"\xfe\xfe\xff\xff")]))
    groups.append(("Examples of an overlong ASCII character", [
        (False, b"\xc0\xaf"), (False, b"\xe0\x80\xaf"), (False, b"\xf0\x80\x80\xaf"),
        (False, b"\xf8\x80\x80\x80\xaf"), (False, b"\xfc\x80\x80\x80\x80\xaf")]))
    groups.append(("Maximum overlong sequences", [
        (False, b"\xc1\xbf"), (False, b"\xe0\x9f\xbf"), (False, b"\xf0\x8f\xbf\xbf"),
        (False, b"\xf8\x87\xbf\xbf\xbf"), (False, b"\xfc\x83\xbf\xbf\xbf\xbf")]))
    groups.append(("Overlong representation of the NUL character", [
        (False, b"\xc0\x80"), (False, b"\xe0\x80\x80"), (False, b"\xf0\x80\x80\x80"),
        (False, b"\xf8\x80\x80\x80\x80"), (False, b"\xfc\x80\x80\x80\x80\x80")]))
    groups.append(("Single UTF-16 surrogates", [(False, b"\xed" + s) for s in [
        b"\xa0\x80", b"\xad\xbf", b"\xae\x80", b"\xaf\xbf", b"\xb0\x80", b"\xbe\x80",
        b"\xbf\xbf"]]))
    groups.append(("Paired UTF-16 surrogates", [(False, a + b) for a, b in [
        (b"\xed\xa0\x80", b"\xed\xb0\x80"), (b"\xed\xa0\x80", b"\xed\xbf\xbf"),
        (b"\xed\xad\xbf", b"\xed\xb0\x80"), (b"\xed\xad\xbf", b"\xed\xbf\xbf"),
        (b"\xed\xae\x80", b"\xed\xb0\x80"), (b"\xed\xae\x80", b"\xed\xbf\xbf"),
        (b"\xed\xaf\xbf", b"\xed\xb0\x80"), (b"\xed\xaf\xbf", b"\xed\xbf\xbf")]]))
    nonchars = [(True, b"\xef\xbf\xbe"), (True, b"\xef\xbf\xbf")]
    for z1 in b"\xf0\xf1\xf2\xf3\xf4":
        for z2 in b"\x8f\x9f\xaf\xbf":
            if z1 == 0xF4 and z2 != 0x8F:
                continue  # those would encode code points above U+10FFFF
            for z3 in b"\xbe\xbf":
                zz = bytes([z1, z2, 0xBF, z3])
                if zz not in (b"\xf0\x8f\xbf\xbe", b"\xf0\x8f\xbf\xbf"):  # overlong
                    nonchars.append((True, zz))
    groups.append(("Non-character code points (valid UTF-8)", nonchars))
    groups.append(("Unicode specials (i.e. replacement char)",
                   [(True, b"\xef\xbf" + bytes([c])) for c in range(0xB9, 0xC0)]))
    return groups


class Utf8Sequence(Case):
    """One payload of the UTF-8 stress test as a single text frame."""

    PAYLOAD, VALID = b"", True

    def on_open(self) -> None:
        if self.VALID:
            self.expected[OK] = [("message", self.PAYLOAD, False)]
            self.expected_close = _normal_close(self)
        else:
            self.expected[OK] = []
            self.expected_close = _client_fails(INVALID_PAYLOAD,
                                                closedByWrongEndpointIsFatal=True)
        self.p.send_message(self.PAYLOAD)
        self.p.kill_after(0.5)


UTF8_SUBSECTIONS: dict[str, str] = {}
for _sub, (_title, _seqs) in enumerate(_utf8_sequences(), start=5):
    UTF8_SUBSECTIONS[f"6.{_sub}"] = _title
    for _j, (_valid, _payload) in enumerate(_seqs, start=1):
        make(f"6.{_sub}.{_j}", Utf8Sequence,
             f"{_title}: {'valid' if _valid else 'invalid'} payload 0x{_payload.hex()}",
             PAYLOAD=_payload, VALID=_valid)


# ---------------------------------------------------------------------------
# 7 Close handling.


@case("7.1.1")
class Case7_1_1(WrongCodeFails):
    """Send a message followed by a close frame: echo, then a clean normal close."""

    def on_open(self) -> None:
        self.expected[OK] = [("message", b"Hello World!", False)]
        self.expected_close = _normal_close(self)
        self.p.send_frame(1, b"Hello World!")
        self.p.kill_after(1)


class CloseThen(WrongCodeFails):
    """Send a close, then something the client must ignore."""

    suppress_close = True
    AFTER: tuple[int, bool, bytes] = (8, True, b"")
    BEFORE: Optional[tuple[int, bool, bytes]] = None

    def on_open(self) -> None:
        self.expected[OK] = []
        self.expected_close = _normal_close(self)
        if self.BEFORE:
            self.p.send_frame(self.BEFORE[0], self.BEFORE[2], fin=self.BEFORE[1])
        self.p.send_close(NORMAL)
        self.p.send_frame(self.AFTER[0], self.AFTER[2], fin=self.AFTER[1])
        self.p.kill_after(1)


make("7.1.2", CloseThen, "Send two close frames.", AFTER=(8, True, b""))
make("7.1.3", CloseThen, "Send a ping after the close frame.", AFTER=(9, True, b""))
make("7.1.4", CloseThen, "Send a text message after the close frame.",
     AFTER=(1, True, b"Hello World!"))
make("7.1.5", CloseThen, "Send message fragment 1, close, then fragment 2.",
     BEFORE=(1, False, b"fragment1"), AFTER=(0, True, b"fragment2"))


@case("7.1.6")
class Case7_1_6(Case):
    """Send a 256 KiB message, a small one, a close and a ping, back to back. Whether the
    small message is echoed before the close depends on the implementation."""

    suppress_close = True
    informational = True

    def on_open(self) -> None:
        self.expected[OK] = [("message", b"Hello World!", False)]
        self.expected[NON_STRICT] = []
        self.expected_close = _normal_close(self)
        self.p.send_frame(1, b"BAsd7&jh23", payload_len=256 * 2**10)
        self.p.send_frame(1, b"Hello World!")
        self.p.send_close(NORMAL)
        self.p.send_frame(9)
        self.p.kill_after(1)

    def on_connection_lost(self) -> None:
        super().on_connection_lost()
        if self.behavior == OK:
            self.result = "Text message was processed before close."
        elif self.behavior == NON_STRICT:
            self.result = "Close was processed before text message could be returned."
        self.behavior = INFORMATIONAL
        self.behavior_close = INFORMATIONAL


class RawClose(WrongCodeFails):
    """Send a close frame with the given code/reason, even an invalid one."""

    suppress_close = True
    CODE: Optional[int] = None
    REASON: Optional[bytes] = None
    CLOSE_CODES = [NORMAL]
    CLEAN = True

    def on_open(self) -> None:
        self.expected[OK] = []
        self.expected_close = {"closedByMe": True, "closeCode": list(self.CLOSE_CODES),
                               "requireClean": self.CLEAN}
        self.p.send_close_frame(self.CODE, self.REASON)
        self.p.kill_after(1)


make("7.3.1", RawClose, "Send a close frame with payload length 0 (no code, no reason).",
     CLOSE_CODES=[NORMAL])
make("7.3.2", RawClose, "Send a close frame with payload length 1.", REASON=b"a",
     CLOSE_CODES=[PROTOCOL_ERROR], CLEAN=False)
make("7.3.3", RawClose, "Send a close frame with payload length 2 (code 1000).", CODE=NORMAL,
     CLOSE_CODES=[NORMAL])
make("7.3.4", RawClose, "Send a close frame with close code and reason.", CODE=NORMAL,
     REASON=b"Hello World!", CLOSE_CODES=[NORMAL])
make("7.3.5", RawClose, "Send a close frame with a reason of maximum length (123).",
     CODE=NORMAL, REASON=b"*" * 123, CLOSE_CODES=[NORMAL])
make("7.3.6", RawClose, "Send a close frame with a reason too long (124): 126 octets.",
     CODE=NORMAL, REASON=b"*" * 124, CLOSE_CODES=[PROTOCOL_ERROR], CLEAN=False)
make("7.5.1", RawClose, "Send a close frame with an invalid UTF-8 reason.", CODE=NORMAL,
     REASON=_BAD, CLOSE_CODES=[PROTOCOL_ERROR, INVALID_PAYLOAD], CLEAN=False)

VALID_CLOSE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000,
                     4999]
INVALID_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999]
for _i, _code in enumerate(VALID_CLOSE_CODES, start=1):
    make(f"7.7.{_i}", RawClose, f"Send close with valid close code {_code}: clean close with "
         "the normal or echoed code.", CODE=_code, CLOSE_CODES=[NORMAL, _code])
for _i, _code in enumerate(INVALID_CLOSE_CODES, start=1):
    make(f"7.9.{_i}", RawClose, f"Send close with invalid close code {_code}: the client "
         "answers 1002 or drops TCP.", CODE=_code, CLOSE_CODES=[PROTOCOL_ERROR], CLEAN=False)


class UndefinedClose(RawClose):
    """Close codes 5000 and up: what happens is not defined by the RFC."""

    informational = True

    def on_open(self) -> None:
        self.expected[OK] = []
        self.expected_close = {"closedByMe": True,
                               "closeCode": [NORMAL, self.CODE, PROTOCOL_ERROR],
                               "requireClean": False}
        self.p.send_close_frame(self.CODE)
        self.p.kill_after(1)

    def on_connection_lost(self) -> None:
        Case.on_connection_lost(self)
        self.behavior = self.behavior_close = INFORMATIONAL
        self.result = "Actual events are undefined by the spec."


make("7.13.1", UndefinedClose, "Send close with close code 5000.", CODE=5000)
make("7.13.2", UndefinedClose, "Send close with close code 65535.", CODE=65535)


# ---------------------------------------------------------------------------
# 9 Limits/performance: big messages, many frames, many chops, many round trips.


class BigMessage(Case):
    """Send one big message (as frames/chops given); expect it back whole."""

    BINARY, LENGTH, PATTERN = False, 0, b"*"
    FRAGMENT: Optional[int] = None
    CHOP: Optional[int] = None
    WAIT = 100.0

    def on_open(self) -> None:
        self.behavior = FAILED
        self.result = f"Did not receive message within {self.WAIT} seconds."
        self.expected_close = _normal_close(self)
        opcode = 2 if self.BINARY else 1
        if self.FRAGMENT:
            payload = (self.PATTERN * (self.LENGTH // len(self.PATTERN) + 1))[: self.LENGTH]
            self.p.send_message(payload, binary=self.BINARY, fragment_size=self.FRAGMENT)
        else:
            self.p.send_frame(opcode, self.PATTERN, payload_len=self.LENGTH,
                              chopsize=self.CHOP)
        self.p.close_after(self.WAIT)

    def on_message(self, payload: bytes, binary: bool) -> None:
        kind = "binary" if self.BINARY else "text"
        if binary != self.BINARY:
            self.result = f"Expected {kind} message with payload, but got the other kind."
        elif len(payload) != self.LENGTH:
            self.result = (f"Expected {kind} message with payload of length {self.LENGTH}, "
                           f"but got {len(payload)}.")
        else:
            self.behavior = OK
            self.result = f"Received {kind} message of length {len(payload)}."
        self.p.send_close(NORMAL)


_sizes = [64 * 2**10, 256 * 2**10, 2**20, 4 * 2**20, 8 * 2**20, 16 * 2**20]
for _i, _n in enumerate(_sizes, start=1):
    make(f"9.1.{_i}", BigMessage, f"Send text message with payload of length {_n}.",
         LENGTH=_n, PATTERN=b"BAsd7&jh23", WAIT=100.0 if _n > 2**20 else 10.0)
    make(f"9.2.{_i}", BigMessage, f"Send binary message with payload of length {_n}.",
         BINARY=True, LENGTH=_n, PATTERN=b"\x00\xfe\x23\xfa\xf0",
         WAIT=100.0 if _n > 2**20 else 10.0)
_frags = [64, 256, 2**10, 4 * 2**10, 16 * 2**10, 64 * 2**10, 256 * 2**10, 2**20, 4 * 2**20]
for _i, _f in enumerate(_frags, start=1):
    make(f"9.3.{_i}", BigMessage, f"Send fragmented text message of length 4 MiB in fragments "
         f"of {_f}.", LENGTH=4 * 2**20, PATTERN=b"*", FRAGMENT=_f)
    make(f"9.4.{_i}", BigMessage, f"Send fragmented binary message of length 4 MiB in "
         f"fragments of {_f}.", BINARY=True, LENGTH=4 * 2**20, PATTERN=b"\xfe", FRAGMENT=_f)
_chops = [64, 128, 256, 512, 1024, 2048]
for _i, _c in enumerate(_chops, start=1):
    make(f"9.5.{_i}", BigMessage, f"Send text message of length 1 MiB in chops of {_c} "
         "octets.", LENGTH=2**20, PATTERN=b"BAsd7&jh23", CHOP=_c, WAIT=1000.0)
for _i, _c in enumerate(_chops, start=1):
    make(f"9.6.{_i}", BigMessage, f"Send binary message of length 1 MiB in chops of {_c} "
         "octets.", BINARY=True, LENGTH=2**20, PATTERN=b"\x00\xfe\x23\xfa\xf0", CHOP=_c,
         WAIT=1000.0)


class RoundTrips(Case):
    """Send COUNT messages one after the other, each once the previous came back."""

    BINARY, LENGTH, COUNT, WAIT = False, 0, 1000, 60.0

    def on_open(self) -> None:
        self.behavior = FAILED
        self.expected_close = _normal_close(self)
        self.result = f"Case did not finish within {self.WAIT} seconds."
        self.p.close_after(self.WAIT)
        self.count = 0
        self.send_one()

    def send_one(self) -> None:
        if self.BINARY:
            self.p.send_frame(2, b"\xfe", payload_len=self.LENGTH)
        else:
            self.p.send_frame(1, b"*", payload_len=self.LENGTH)
        self.count += 1

    def on_message(self, payload: bytes, binary: bool) -> None:
        if binary != self.BINARY or len(payload) != self.LENGTH:
            self.behavior = FAILED
            self.result = (f"Echoed message type or length differs (got binary = {binary}, "
                           f"payload length = {len(payload)}).")
            self.p.send_close(NORMAL)
        elif self.count < self.COUNT:
            self.send_one()
        else:
            self.behavior = OK
            self.result = "Ok, received all echoed messages in time."
            self.p.send_close(NORMAL)


for _b, _sub in ((False, 7), (True, 8)):
    for _i, (_n, _wait) in enumerate(
        [(0, 60.0), (16, 60.0), (64, 60.0), (256, 120.0), (1024, 240.0), (4096, 480.0)], start=1
    ):
        make(f"9.{_sub}.{_i}", RoundTrips, f"Send 1000 {'binary' if _b else 'text'} messages "
             f"of payload size {_n} one after the other (round-trip time).",
             BINARY=_b, LENGTH=_n, WAIT=_wait)


# ---------------------------------------------------------------------------
# 10 Misc: auto-fragmentation.


@case("10.1.1")
class Case10_1_1(Case):
    """Send a 64 KiB text message auto-fragmented in frames of 1300: echo it back."""

    def on_open(self) -> None:
        self.payload = b"*" * 65536
        self.p.auto_fragment_size = 1300
        self.expected[OK] = [("message", self.payload, False)]
        self.expected_close = _normal_close(self)
        self.p.send_message(self.payload)
        self.p.kill_after(10)

    def on_connection_lost(self) -> None:
        super().on_connection_lost()
        size = self.p.auto_fragment_size
        want = {0: len(self.payload) // size, 1: 1 if len(self.payload) % size else 0}
        got = {0: self.p.tx_frame_stats.get(0, 0), 1: self.p.tx_frame_stats.get(1, 0)}
        if want != got:
            self.behavior = FAILED
            self.result = f"Frames transmitted {got} does not match what we expected {want}."


# ---------------------------------------------------------------------------
# 12, 13 permessage-deflate: compressed echo of many messages cut from a data set;
# 12.x with each data set and Autobahn's default offer, 13.x with the JSON set and each
# combination of offer and acceptance (see :mod:`.deflate` for the negotiation).

#: (payload length, message count, case timeout, auto-fragment size), as Autobahn.
DEFLATE_MSG_SIZES = [
    (16, 1000, 60, 0), (64, 1000, 60, 0), (256, 1000, 120, 0), (1024, 1000, 240, 0),
    (4096, 1000, 480, 0), (8192, 1000, 480, 0), (16384, 1000, 480, 0),
    (32768, 1000, 480, 0), (65536, 1000, 480, 0), (131072, 1000, 480, 0),
    (8192, 1000, 480, 256), (16384, 1000, 480, 256), (32768, 1000, 480, 256),
    (65536, 1000, 480, 256), (131072, 1000, 480, 256), (131072, 1000, 480, 1024),
    (131072, 1000, 480, 4096), (131072, 1000, 480, 32768),
]

#: Octets per case above which we send fewer than Autobahn's 1000 messages (never fewer
#: than :data:`DEFLATE_MIN_COUNT`). Autobahn's 1000 × 128 KiB, compressed and inflated
#: by both sides (zlib runs at 12–30 MB/s here, half that with a 9-bit window), would
#: take hours for 216 cases; this keeps sections 12 and 13 under a minute. Messages of
#: up to 256 octets still go 1000 times, and every case sends at least 256 KiB, so the
#: 32 KiB window is crossed and context takeover exercised many times over.
DEFLATE_OCTETS_PER_CASE = 256 * 1024
DEFLATE_MIN_COUNT = 4


def deflate_count(length: int, count: int = 1000) -> int:
    """How many messages a case sends (Autobahn's ``count``, capped by the budget)."""
    return min(count, max(DEFLATE_MIN_COUNT, DEFLATE_OCTETS_PER_CASE // length))


class CompressedEcho(Case):
    """Send COUNT compressed messages of LEN units, each once the previous came back."""

    LEN, COUNT, WAITSECS, AUTOFRAGSIZE = 16, 1000, 60.0, 0
    TESTDATA = TEST_DATA[0]
    #: What the client is asked to offer (Autobahn's client side ``CLIENT_OFFERS``).
    CLIENT_OFFERS: list[Offer] = [Offer()]

    @staticmethod
    def SERVER_ACCEPT(offers: list[Offer]) -> Optional[OfferAccept]:
        raise NotImplementedError

    def accept_deflate(self, offers: list[Any]) -> Any:
        return self.SERVER_ACCEPT(offers)

    def init(self) -> None:
        self.expected_close = _normal_close(self)
        self.data = self.TESTDATA.payload
        self.pointer = 0
        self.count = 0
        self.expected_hash = b""

    def on_open(self) -> None:
        self.p.auto_fragment_size = self.AUTOFRAGSIZE
        if self.p.pmce is None:
            self.behavior = UNIMPLEMENTED
            self.result = "permessage-deflate was not negotiated."
            self.p.send_close(NORMAL)
            return
        self.behavior = FAILED
        self.result = f"Case did not finish within {self.WAITSECS} seconds."
        self.p.close_after(self.WAITSECS)
        self.send_one()

    def send_one(self) -> None:
        data, start = self.data, self.pointer
        end = (start + self.LEN) % len(data)
        chunk = data[start:end] if end > start else data[start:] + data[:end]
        self.pointer = end
        msg = chunk if isinstance(chunk, bytes) else chunk.encode("utf-8")
        self.expected_hash = hashlib.sha1(msg).digest()
        self.p.send_message(msg, binary=self.TESTDATA.binary)
        self.count += 1

    def on_message(self, payload: bytes, binary: bool) -> None:
        length = len(payload) if self.TESTDATA.binary else len(payload.decode("utf-8"))
        digest = hashlib.sha1(payload).digest()
        if binary != self.TESTDATA.binary or length != self.LEN or digest != self.expected_hash:
            self.behavior = FAILED
            if binary != self.TESTDATA.binary:
                self.result = (f"Echoed message type differs from what I sent (got binary "
                               f"{binary}, expected binary {self.TESTDATA.binary}).")
            elif length != self.LEN:
                self.result = (f"Echoed message length differs from what I sent (got length "
                               f"{length}, expected length {self.LEN}).")
            else:
                self.result = (f"Echoed message contents differ from what I sent (got SHA1 "
                               f"{digest.hex()}, expected SHA1 {self.expected_hash.hex()}).")
            self.p.send_close(NORMAL)
        elif self.count < self.COUNT:
            self.send_one()
        else:
            self.behavior = OK
            self.result = (f"Ok, received all {self.COUNT} echoed messages in time "
                           f"({self.p.pmce!r}).")
            self.p.send_close(NORMAL)


def _accept(offers: list[Offer], nct: bool = False, bits: int = 0) -> Optional[OfferAccept]:
    """The first offer that can take ``client_no_context_takeover`` (``nct``) and
    ``client_max_window_bits=bits`` (``bits`` > 0), accepted with them."""
    for offer in offers:
        if (not nct or offer.accept_no_context_takeover) and \
                (not bits or offer.accept_max_window_bits):
            return OfferAccept(offer, request_no_context_takeover=nct,
                               request_max_window_bits=bits)
    return None


def accept1(offers: list[Offer]) -> Optional[OfferAccept]:
    """server accept (requestNoContextTakeover, requestMaxWindowBits): [(False, 0)]"""
    return _accept(offers)


def accept2(offers: list[Offer]) -> Optional[OfferAccept]:
    """server accept (requestNoContextTakeover, requestMaxWindowBits): [(True, 0)]"""
    return _accept(offers, nct=True)


def accept3(offers: list[Offer]) -> Optional[OfferAccept]:
    """server accept (requestNoContextTakeover, requestMaxWindowBits): [(False, 9)]"""
    return _accept(offers, bits=9)


def accept4(offers: list[Offer]) -> Optional[OfferAccept]:
    """server accept (requestNoContextTakeover, requestMaxWindowBits): [(False, 15)]"""
    return _accept(offers, bits=15)


def accept5(offers: list[Offer]) -> Optional[OfferAccept]:
    """server accept (requestNoContextTakeover, requestMaxWindowBits): [(True, 9)]"""
    return _accept(offers, nct=True, bits=9)


def accept6(offers: list[Offer]) -> Optional[OfferAccept]:
    """server accept (requestNoContextTakeover, requestMaxWindowBits): [(True, 15)]"""
    return _accept(offers, nct=True, bits=15)


def accept7(offers: list[Offer]) -> Optional[OfferAccept]:
    """server accept (requestNoContextTakeover, requestMaxWindowBits): [(True, 9), (True, 0), (False, 0)]"""
    return accept5(offers) or accept2(offers) or accept1(offers)


#: Section 13's (server accept function, client offers), as Autobahn lists them.
DEFLATE_PARAMS: list[tuple[Any, list[Offer]]] = [
    (accept1, [Offer()]),
    (accept2, [Offer(request_no_context_takeover=True, request_max_window_bits=0)]),
    (accept3, [Offer(request_no_context_takeover=False, request_max_window_bits=9)]),
    (accept4, [Offer(request_no_context_takeover=False, request_max_window_bits=15)]),
    (accept5, [Offer(request_no_context_takeover=True, request_max_window_bits=9)]),
    (accept6, [Offer(request_no_context_takeover=True, request_max_window_bits=15)]),
    (accept7, [Offer(request_no_context_takeover=True, request_max_window_bits=9),
               Offer(request_no_context_takeover=True), Offer()]),
]

DEFLATE_SUBSECTIONS: dict[str, str] = {}


def _deflate_cases(section: int, sub: int, data: TestData, offers: list[Offer],
                   accept: Any) -> None:
    co = [(o.request_no_context_takeover, o.request_max_window_bits) for o in offers]
    title = f"{data.desc} ({'binary' if data.binary else 'utf8'}, {len(data.payload)} " \
            f"{'octets' if data.binary else 'characters'})"
    if section == 13:
        title += (f" - client offers (requestNoContextTakeover, requestMaxWindowBits): {co}"
                  f" / {accept.__doc__}")
    DEFLATE_SUBSECTIONS[f"{section}.{sub}"] = title
    for i, (length, count, wait, frag) in enumerate(DEFLATE_MSG_SIZES, start=1):
        n = deflate_count(length, count)
        make(f"{section}.{sub}.{i}", CompressedEcho,
             f"Send {n} compressed messages each of payload size {length}, auto-fragment "
             f"to {frag} octets. {title}", LEN=length, COUNT=n, WAITSECS=float(wait),
             AUTOFRAGSIZE=frag, TESTDATA=data, CLIENT_OFFERS=offers,
             SERVER_ACCEPT=staticmethod(accept))


for _j, _data in enumerate(TEST_DATA, start=1):
    _deflate_cases(12, _j, _data, [Offer()], accept1)
for _j, (_accept_fn, _offers) in enumerate(DEFLATE_PARAMS, start=1):
    _deflate_cases(13, _j, TEST_DATA[0], _offers, _accept_fn)


CASE_CLASSES: dict[str, type[Case]] = {c.case_id: c for c in CASES}
CASE_IDS: list[str] = [c.case_id for c in CASES]
