"""Stand-ins for the five test data files of Autobahn's sections 12 and 13.

Autobahn ships real files (``autobahntestsuite/testdata``: a JSON file, a 512×512
bitmap, Goethe's Faust from Project Gutenberg, an HTML page, a PDF). We do not copy
them; each is replaced by generated data of the same kind, size class and
compressibility, made from a fixed seed so every run sends the same octets:

=================  ======  =============================================================
key                kind    what it is made of
=================  ======  =============================================================
json_data1         text    JSON records: keys repeat, values vary, some non-ASCII strings
lena512            binary  a BMP header and 8-bit grey pixels: smooth gradients plus noise
gutenberg_faust    binary  German verse (UTF-8 with umlauts) sent as *binary*, as Autobahn
html_data1         text    HTML markup with nested tags, attributes and prose
ooms               binary  a PDF-like file: mostly already-compressed (random) streams
=================  ======  =============================================================

Text sets are sliced by characters (Autobahn decodes them to unicode first), binary
sets by octets.
"""

from __future__ import annotations

import json
import random
import struct
from dataclasses import dataclass
from functools import cache

_TEXT_DE = (
    "Habe nun ach Philosophie Juristerei und Medizin leider auch Theologie durchaus "
    "studiert mit heißem Bemühn da steh ich nun ich armer Tor bin so klug als wie zuvor "
    "heiße Magister Doktor gar ziehe schon an die zehen Jahr herauf herab und quer und "
    "krumm meine Schüler an der Nase herum und sehe dass wir nichts wissen können das "
    "will mir schier das Herz verbrennen zwar bin ich gescheiter als alle die Laffen "
    "Mephistopheles Gretchen Wagner Schwüler Nebel Mondenschein Gebirg Höhle Tür König"
)
_TEXT_EN = (
    "the quick brown fox jumps over lazy dog server client message frame window context "
    "compression deflate stream buffer socket greenlet handshake extension parameter "
    "value result status error timeout connection protocol payload octet header"
)
_WORDS_DE = _TEXT_DE.split()
_WORDS_EN = _TEXT_EN.split()
_NAMES = ["Zoë", "José", "Łukasz", "Søren", "Ünal", "東京", "Дмитрий", "Ana", "Bob", "Chen"]


@dataclass(frozen=True)
class TestData:
    key: str
    desc: str
    binary: bool

    @property
    def payload(self) -> bytes | str:
        """The whole data set: ``bytes`` (binary) or ``str`` (text)."""
        return _generate(self.key)


def _json(rng: random.Random) -> str:
    records = []
    for i in range(450):
        records.append({
            "id": i,
            "guid": f"{rng.getrandbits(64):016x}",
            "isActive": rng.random() < 0.5,
            "balance": f"${rng.randint(1000, 4000)}.{rng.randint(0, 99):02d}",
            "age": rng.randint(20, 70),
            "name": f"{rng.choice(_NAMES)} {rng.choice(_WORDS_DE)}",
            "tags": [rng.choice(_WORDS_EN) for _ in range(rng.randint(2, 6))],
            "about": " ".join(rng.choice(_WORDS_EN) for _ in range(rng.randint(8, 20))),
            "location": {"lat": round(rng.uniform(-90, 90), 6),
                         "lon": round(rng.uniform(-180, 180), 6)},
        })
    return json.dumps(records, ensure_ascii=False, indent=2)


def _bitmap(rng: random.Random) -> bytes:
    width = height = 512
    header = b"BM" + struct.pack("<IHHI", 54 + 1024 + width * height, 0, 0, 54 + 1024)
    header += struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 0, width * height,
                          2835, 2835, 256, 0)
    palette = b"".join(bytes((g, g, g, 0)) for g in range(256))
    rows = []
    for y in range(height):
        base = [(x * 7 // 16 + y // 3 + (x * y >> 12)) & 0xFF for x in range(width)]
        noise = rng.randbytes(width)
        rows.append(bytes((b + (n & 7)) & 0xFF for b, n in zip(base, noise)))
    return header + palette + b"".join(rows)


def _verse(rng: random.Random) -> bytes:
    lines: list[str] = []
    size = 0
    while size < 215_000:
        words = [rng.choice(_WORDS_DE) for _ in range(rng.randint(4, 9))]
        who = rng.choice(("FAUST", "MEPHISTOPHELES", "GRETCHEN", "WAGNER", ""))
        lines.append((f"{who}:\n" if who and rng.random() < 0.1 else "") +
                     " ".join(words).capitalize() + rng.choice((",", ".", "!", "?", ";")))
        size += len(lines[-1]) + 2
    return "\r\n".join(lines).encode("utf-8")


def _html(rng: random.Random) -> str:
    parts = ["<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
             "<title>Data</title></head>\n<body>\n"]
    n = 0
    while n < 255_000:
        cls = rng.choice(("item", "row odd", "row even", "note", "nav-link"))
        text = " ".join(rng.choice(_WORDS_EN + _WORDS_DE) for _ in range(rng.randint(5, 25)))
        href = f"/{rng.choice(_WORDS_EN)}/{rng.randint(1, 99999)}.html"
        piece = (f'<div class="{cls}" id="e{n}">\n  <p>{text}</p>\n'
                 f'  <a href="{href}" title="{rng.choice(_NAMES)}">{rng.choice(_WORDS_EN)}</a>'
                 f"\n</div>\n")
        parts.append(piece)
        n += len(piece)
    parts.append("</body></html>\n")
    return "".join(parts)


def _pdf(rng: random.Random) -> bytes:
    out = [b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"]
    size, obj = 0, 1
    while size < 1_000_000:
        stream = rng.randbytes(rng.randint(2_000, 40_000))
        piece = (b"%d 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n" % (obj, len(stream))
                 + stream + b"\nendstream\nendobj\n")
        out.append(piece)
        size += len(piece)
        obj += 1
    out.append(b"trailer\n<< /Root 1 0 R >>\n%%EOF\n")
    return b"".join(out)


_MAKERS = {
    "json_data1": _json,
    "lena512": _bitmap,
    "gutenberg_faust": _verse,
    "html_data1": _html,
    "ooms": _pdf,
}


@cache
def _generate(key: str) -> bytes | str:
    return _MAKERS[key](random.Random(f"geventws-{key}"))


#: Autobahn's ``WS_COMPRESSION_TESTDATA``, in its historical order (12.1 … 12.5).
TEST_DATA = [
    TestData("json_data1", "Large JSON data file", binary=False),
    TestData("lena512", "Lena Picture, Bitmap 512x512 bw", binary=True),
    TestData("gutenberg_faust", "Human readable text, Goethe's Faust I (German)", binary=True),
    TestData("html_data1", "Large HTML file", binary=False),
    TestData("ooms", "A larger PDF", binary=True),
]
