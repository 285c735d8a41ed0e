"""Which zlib permessage-deflate uses: zlib-ng when installed, else the stdlib's.

``zlib_ng.zlib_ng`` (``pip install geventws[speedups]``) is a drop-in for
:mod:`zlib` with the same API and stream format, and cheaper at the same level:
on 64 KiB of JSON-like text at level 6 it compresses with ~20 % fewer
instructions (~10 % less CPU time) and inflates with ~40 % fewer (~35 % less
time), for output ~3 % larger (its level 6 searches a little differently).
Both sides of a connection stay interoperable: raw DEFLATE is raw DEFLATE, and
zlib-ng honours the window size it is given. Where permessage-deflate uses it,
and where it keeps the stdlib's, is in its module doc. (aiohttp offers the
same choice as ``set_zlib_backend``.)

The choice is made once, at import, from the environment variable
``GEVENTWS_ZLIB``: ``auto`` (or unset) takes zlib-ng when importable,
``stdlib`` forces :mod:`zlib`, ``zlib-ng`` requires zlib-ng. :func:`use`
changes it later; each permessage-deflate extension keeps the backend that was
current when its connection negotiated it, so a switch never mixes two
libraries inside one stream.
"""

from __future__ import annotations

import importlib
import os
import zlib
from types import ModuleType

__all__ = ["NAMES", "backend", "name", "use"]

NAMES = ("auto", "stdlib", "zlib-ng")


def _load(choice: str) -> tuple[str, ModuleType]:
    if choice not in NAMES:
        raise ValueError(f"zlib backend must be one of {', '.join(NAMES)}, not {choice!r}")
    if choice != "stdlib":
        try:  # by name: zlib-ng is optional, and mypy need not have it installed
            zlib_ng = importlib.import_module("zlib_ng.zlib_ng")
        except ImportError:
            if choice == "zlib-ng":
                raise
        else:
            return "zlib-ng", zlib_ng
    return "stdlib", zlib


#: the name of the backend in use: ``"zlib-ng"`` or ``"stdlib"``
name: str
#: the module in use (``zlib_ng.zlib_ng`` or :mod:`zlib`)
backend: ModuleType
name, backend = _load(os.environ.get("GEVENTWS_ZLIB", "").strip().lower() or "auto")


def use(choice: str) -> str:
    """Switch the backend for connections negotiated from now on; returns the name chosen.

    ``"auto"`` takes zlib-ng when installed; ``"zlib-ng"`` raises ``ImportError``
    when it is not.
    """
    global name, backend
    name, backend = _load(choice)
    return name
