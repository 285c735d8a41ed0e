"""Command line: ``python -m geventws demo`` and ``python -m geventws plugins``."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Optional


def demo(url: Optional[str] = None) -> int:
    """Start the embedded echo server (unless ``url`` is given) and talk to it."""
    from . import connect
    from .server import EchoServer

    server = None
    if url is None:
        server = EchoServer().start()
        url = server.url
        print(f"embedded echo server listening on {url}")
    try:
        t0 = time.perf_counter()
        with connect(url) as ws:
            t1 = time.perf_counter()
            print(f"connected in {(t1 - t0) * 1000:.2f} ms"
                  f" (subprotocol={ws.subprotocol!r}, extensions={ws.extensions!r})")
            ws.send("Hello, geventws!")
            reply = ws.recv(timeout=5)
            t2 = time.perf_counter()
            print(f"text   round trip: {reply!r} in {(t2 - t1) * 1000:.2f} ms")
            payload = bytes(range(256)) * 4096
            ws.send(payload)
            echoed = ws.recv(timeout=5)
            t3 = time.perf_counter()
            assert echoed == payload, "binary echo differs"
            print(f"binary round trip: {len(echoed):,} bytes in {(t3 - t2) * 1000:.2f} ms")
            latency = ws.ping().get(timeout=5)
            print(f"ping/pong: {latency * 1000:.2f} ms")
            n = 1000
            t4 = time.perf_counter()
            for i in range(n):
                ws.send(f"message {i}")
                ws.recv(timeout=5)
            t5 = time.perf_counter()
            print(f"{n} sequential round trips: {n / (t5 - t4):,.0f} messages/s")
        print(f"closed cleanly: code={ws.close_code} reason={ws.close_reason!r}")
    finally:
        if server is not None:
            server.stop()
    return 0


def plugins() -> int:
    """List the installed plugins: distribution, hooks, and what each offers."""
    from .plugins import list_plugins

    infos = list_plugins()
    if not infos:
        print("no geventws plugins installed")
        return 0
    for info in infos:
        dist = f" ({info.distribution} {info.version})" if info.distribution else ""
        print(f"{info.name}{dist}")
        print(f"  extensions:   {'; '.join(info.extensions) if info.extensions else '-'}")
        print(f"  subprotocols: {', '.join(info.subprotocols) if info.subprotocols else '-'}")
        print(f"  hooks:        {', '.join(info.hooks) if info.hooks else '-'}")
    return 0


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m geventws", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_demo = sub.add_parser("demo", help="round trips with the embedded echo server")
    p_demo.add_argument("url", nargs="?", help="talk to this server instead")
    sub.add_parser("plugins", help="list installed plugins and what they offer")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo(args.url)
    if args.command == "plugins":
        return plugins()
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
