"""Interop peer: a `websockets` (asyncio) server the interop tests start as a subprocess.

Listens on 127.0.0.1, free ports: one listener with permessage-deflate enabled
("deflate"), one without ("plain"), and with ``--certfile/--keyfile`` a TLS one
("tls"). Prints the ports as one JSON line, then serves until stdin closes (so a
dead test run never leaves it behind). Peers whose permessage-deflate has server
settings add listeners for them ("deflate-nct": the server forces
server_no_context_takeover and client_no_context_takeover; "deflate-bits": it
forces server_max_window_bits=10 and client_max_window_bits=10). Routes (the same
on every peer):

``/echo[?id=T]``       echo each message; record the close code/reason the client sent under T
``/close?code=C&reason=R[&send=N][&pad=P][&id=T]``
                       send N text messages "message i" (+ P dots each), close with C/R
                       (no code: a close frame without status code); record the client's reply
``/closed?id=T``       send the record T as JSON ({"code": .., "reason": ..}), then close 1000
``/send?n=N[&zero=1][&id=T]``
                       send one binary message of N bytes (byte i is i % 256, or all zero
                       with zero=1), then as /echo
``/wire``              echo each message, except the text "wire?", answered with JSON
                       {"messages": [[[rsv1, opcode, fin, length], ...], ...], "bytes": B}:
                       the frames each earlier message arrived in, as read off the socket
                       (compressed lengths), and the bytes read since the handshake
``/deflate-fragments?n=K&size=S``
                       send one binary message in K fragments of S bytes (pattern as /send)
                       through the library's compressing send, then echo (peers that cannot
                       send fragments: close 4404)
``/fragments``         send a text message in 4 fragments (split inside UTF-8 sequences) with a
                       ping b"mid-message" between two of them, a binary message in 3 fragments
                       (one empty), then "pong:mid-message" once the pong arrived, then echo
``/headers``           send the request's headers as a JSON object (lower-case names), then echo
``/abort``             send "last words", then drop the TCP connection without a close frame
``/ping``              ping with b"srv-ping", send "pong:<payload>" once the pong arrives, then echo
``/subprotocol``       select the first of ("chat.v2", "chat.v1") the client offered, send its
                       name ("" for none), then echo
``/reject``            answer 403 with a plain-text body instead of 101
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import threading
import urllib.parse
from collections.abc import AsyncIterator
from http import HTTPStatus

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from wireframes import WireFrames

MAX_SIZE = 2**25
SERVER_PROTOCOLS = ("chat.v2", "chat.v1")
TEXT_FRAGMENTS = [b"frag", b"ment\xc3", b"\xa9 \xf0\x9f", b"\x9a\x80"]  # "fragmenté 🚀"
BINARY_FRAGMENTS = [b"\x00\x01", b"", b"\x02\x03"]
REJECT_BODY = "go away: this route always answers 403"

records: dict[str, dict[str, object]] = {}
record_events: dict[str, asyncio.Event] = {}


class WireConnection(ServerConnection):
    """A connection that shows every byte it reads to a :class:`WireFrames` first."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.wire = WireFrames()

    def data_received(self, data: bytes) -> None:
        self.wire.feed(data)
        super().data_received(data)


def pattern(n: int, zero: bool = False) -> bytes:
    return bytes(n) if zero else bytes(range(256)) * (n // 256) + bytes(range(n % 256))


def record(token: str | None, code: int | None, reason: str | None) -> None:
    if token:
        records[token] = {"code": code, "reason": reason}
        record_events.setdefault(token, asyncio.Event()).set()


async def echo(ws: ServerConnection) -> None:
    try:
        async for message in ws:
            await ws.send(message)
    except ConnectionClosed:
        pass


async def handler(ws: ServerConnection) -> None:
    assert ws.request is not None
    url = urllib.parse.urlsplit(ws.request.path)
    query = dict(urllib.parse.parse_qsl(url.query))
    route = url.path
    if route == "/echo":
        await echo(ws)
        await ws.wait_closed()
        record(query.get("id"), ws.close_code, ws.close_reason)
    elif route == "/close":
        pad = "." * int(query.get("pad", "0"))
        for i in range(int(query.get("send", "0"))):
            await ws.send(f"message {i}{pad}")
        if "code" in query:
            await ws.close(int(query["code"]), query.get("reason", ""))
        else:
            await ws.close(None)  # type: ignore[arg-type]  # a close frame with no status code
        await ws.wait_closed()
        # The close frame the client answered with (websockets keeps the received one).
        rcvd = ws.protocol.close_rcvd
        record(query.get("id"), rcvd and rcvd.code, rcvd and rcvd.reason)
    elif route == "/closed":
        event = record_events.setdefault(query["id"], asyncio.Event())
        try:
            await asyncio.wait_for(event.wait(), 5)
            await ws.send(json.dumps(records[query["id"]]))
        except asyncio.TimeoutError:
            await ws.send(json.dumps({"error": "no record"}))
        await ws.close()
    elif route == "/send":
        await ws.send(pattern(int(query["n"]), query.get("zero") == "1"))
        await echo(ws)
        await ws.wait_closed()
        record(query.get("id"), ws.close_code, ws.close_reason)
    elif route == "/fragments":
        pong_waiter: list[asyncio.Future[float]] = []

        async def text_fragments() -> AsyncIterator[bytes]:
            for i, fragment in enumerate(TEXT_FRAGMENTS):
                if i == 2:  # a control frame between fragments (RFC 6455 §5.4)
                    pong_waiter.append(await ws.ping(b"mid-message"))
                yield fragment

        await ws.send(text_fragments(), text=True)
        await ws.send(BINARY_FRAGMENTS)
        try:
            await asyncio.wait_for(pong_waiter[0], 5)
            await ws.send("pong:mid-message")
        except asyncio.TimeoutError:
            await ws.send("no pong")
        await echo(ws)
    elif route == "/headers":
        headers: dict[str, str] = {}
        for name, value in ws.request.headers.raw_items():
            headers[name.lower()] = value
        await ws.send(json.dumps(headers))
        await echo(ws)
    elif route == "/abort":
        await ws.send("last words")
        assert ws.transport is not None
        ws.transport.abort()  # no close frame, just the end of TCP
    elif route == "/ping":
        waiter = await ws.ping(b"srv-ping")
        try:
            await asyncio.wait_for(waiter, 5)
            await ws.send("pong:srv-ping")
        except asyncio.TimeoutError:
            await ws.send("no pong")
        await echo(ws)
    elif route == "/wire":
        assert isinstance(ws, WireConnection)
        messages: list[object] = []
        try:
            async for message in ws:
                frames = ws.wire.take_message()
                if message == "wire?":
                    await ws.send(json.dumps({"messages": messages, "bytes": ws.wire.bytes}))
                else:
                    messages.append(frames)
                    await ws.send(message)
        except ConnectionClosed:
            pass
    elif route == "/deflate-fragments":
        chunk = pattern(int(query["size"]))
        await ws.send([chunk] * int(query["n"]))
        await echo(ws)
    elif route == "/subprotocol":
        await ws.send(ws.subprotocol or "")
        await echo(ws)
    else:
        await ws.close(4404, f"no route {route}")


def process_request(connection: ServerConnection, request: object) -> object:
    path = urllib.parse.urlsplit(request.path).path  # type: ignore[attr-defined]
    if path == "/reject":
        response = connection.respond(HTTPStatus.FORBIDDEN, REJECT_BODY)
        response.headers["X-Interop"] = "rejected"
        return response
    return None


def select_subprotocol(connection: ServerConnection, offered: list[str]) -> str | None:
    """Server-preference choice on /subprotocol; never reject for a missing one."""
    for name in SERVER_PROTOCOLS:
        if name in offered:
            return name
    return None


async def main(args: argparse.Namespace) -> None:
    options = dict(
        process_request=process_request,
        select_subprotocol=select_subprotocol,
        max_size=MAX_SIZE,
        ping_interval=None,
        close_timeout=5,
        backlog=1024,
        create_connection=WireConnection,
    )
    nct = ServerPerMessageDeflateFactory(server_no_context_takeover=True,
                                         client_no_context_takeover=True)
    bits = ServerPerMessageDeflateFactory(server_max_window_bits=10, client_max_window_bits=10)
    servers = {
        "plain": await serve(handler, "127.0.0.1", 0, compression=None, **options),
        # websockets' own defaults: server_max_window_bits=12, client_max_window_bits=12
        "deflate": await serve(handler, "127.0.0.1", 0, compression="deflate", **options),
        "deflate-nct": await serve(handler, "127.0.0.1", 0, compression=None,
                                   extensions=[nct], **options),
        "deflate-bits": await serve(handler, "127.0.0.1", 0, compression=None,
                                    extensions=[bits], **options),
    }
    if args.certfile:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.certfile, args.keyfile)
        servers["tls"] = await serve(handler, "127.0.0.1", 0, compression=None, ssl=context,
                                     **options)
    ports = {name: srv.sockets[0].getsockname()[1] for name, srv in servers.items()}
    print(json.dumps(ports), flush=True)
    stdin_closed = asyncio.Event()
    loop = asyncio.get_running_loop()

    def watch_stdin() -> None:
        sys.stdin.read()
        loop.call_soon_threadsafe(stdin_closed.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    await stdin_closed.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--certfile")
    parser.add_argument("--keyfile")
    asyncio.run(main(parser.parse_args()))
