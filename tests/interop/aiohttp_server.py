"""Interop peer: an `aiohttp` web server with ``WebSocketResponse``, started by the interop tests.

Same listeners ("plain", "deflate", optional "tls"), readiness line and routes as
``websockets_server.py`` (see its docstring). Where aiohttp has no API for a
behaviour (sending a fragmented message), the route writes the RFC 6455 frames to
the transport itself: server frames are unmasked, so a frame is a header and the
payload. aiohttp has no server-side permessage-deflate settings (it honours what
the client asks for), so it has no "deflate-nct"/"deflate-bits" listeners, and it
cannot send a compressed message in fragments: ``/deflate-fragments`` closes 4404.

Each connection is served through :class:`WireProtocol`, which shows every byte
read from the socket to a :class:`wireframes.WireFrames` before aiohttp sees it
(for ``/wire``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import struct
import sys
import threading

from aiohttp import WSMsgType, web
from wireframes import WireFrames

MAX_SIZE = 2**25
SERVER_PROTOCOLS = ("chat.v2", "chat.v1")
TEXT_FRAGMENTS = [b"frag", b"ment\xc3", b"\xa9 \xf0\x9f", b"\x9a\x80"]  # "fragmenté 🚀"
BINARY_FRAGMENTS = [b"\x00\x01", b"", b"\x02\x03"]
REJECT_BODY = "go away: this route always answers 403"

records: dict[str, dict[str, object]] = {}
servers: list[asyncio.Server] = []  # kept alive until the process exits
record_events: dict[str, asyncio.Event] = {}


def record(token: str | None, code: int | None, reason: str | None) -> None:
    if token:
        records[token] = {"code": code, "reason": reason}
        record_events.setdefault(token, asyncio.Event()).set()


class WireProtocol(asyncio.Protocol):
    """Wraps aiohttp's protocol for one connection, noting the frames it reads."""

    def __init__(self, inner: asyncio.Protocol) -> None:
        self.inner = inner
        self.wire = WireFrames()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.wire.feed(data)
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


def pattern(n: int, zero: bool = False) -> bytes:
    return bytes(n) if zero else bytes(range(256)) * (n // 256) + bytes(range(n % 256))


def raw_frame(opcode: int, payload: bytes, fin: bool) -> bytes:
    """One unmasked frame (server to client), RFC 6455 §5.2."""
    first = opcode | (0x80 if fin else 0)
    n = len(payload)
    if n < 126:
        return struct.pack("!BB", first, n) + payload
    if n < 65536:
        return struct.pack("!BBH", first, 126, n) + payload
    return struct.pack("!BBQ", first, 127, n) + payload


async def open_ws(request: web.Request, **kwargs: object) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=MAX_SIZE, compress=request.app["compress"],
                               timeout=5, **kwargs)  # type: ignore[arg-type]
    await ws.prepare(request)
    return ws


async def echo(ws: web.WebSocketResponse) -> tuple[int | None, str | None]:
    """Echo until the client closes; return the close code and reason it sent."""
    while True:
        msg = await ws.receive()
        if msg.type is WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type is WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
        elif msg.type is WSMsgType.PING:  # only seen with autoping=False
            await ws.pong(msg.data)
        elif msg.type is WSMsgType.PONG:
            continue
        elif msg.type is WSMsgType.CLOSE:
            return msg.data, msg.extra
        else:  # CLOSING, CLOSED, ERROR
            return None, None


async def echo_route(request: web.Request) -> web.StreamResponse:
    ws = await open_ws(request)
    code, reason = await echo(ws)
    record(request.query.get("id"), code, reason)
    return ws


async def close_route(request: web.Request) -> web.StreamResponse:
    ws = await open_ws(request)
    pad = "." * int(request.query.get("pad", "0"))
    for i in range(int(request.query.get("send", "0"))):
        await ws.send_str(f"message {i}{pad}")
    if "code" in request.query:
        await ws.close(code=int(request.query["code"]),
                       message=request.query.get("reason", "").encode())
    else:  # aiohttp always sends a status code: write the empty close frame ourselves
        assert request.transport is not None
        request.transport.write(raw_frame(0x8, b"", True))
        await ws.receive(timeout=5)  # the client's answer (aiohttp then closes the transport)
    # After a server-initiated close, aiohttp keeps the code of the client's reply
    # (not its reason).
    record(request.query.get("id"), ws.close_code, None)
    return ws


async def closed_route(request: web.Request) -> web.StreamResponse:
    ws = await open_ws(request)
    token = request.query["id"]
    event = record_events.setdefault(token, asyncio.Event())
    try:
        await asyncio.wait_for(event.wait(), 5)
        await ws.send_str(json.dumps(records[token]))
    except asyncio.TimeoutError:
        await ws.send_str(json.dumps({"error": "no record"}))
    await ws.close()
    return ws


async def send_route(request: web.Request) -> web.StreamResponse:
    ws = await open_ws(request)
    await ws.send_bytes(pattern(int(request.query["n"]), request.query.get("zero") == "1"))
    code, reason = await echo(ws)
    record(request.query.get("id"), code, reason)
    return ws


async def wire_route(request: web.Request) -> web.StreamResponse:
    ws = await open_ws(request)
    assert request.transport is not None
    wire = request.transport.get_protocol().wire  # type: ignore[attr-defined]
    messages: list[object] = []
    while True:
        msg = await ws.receive()
        if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            break
        frames = wire.take_message()
        if msg.type is WSMsgType.TEXT and msg.data == "wire?":
            await ws.send_str(json.dumps({"messages": messages, "bytes": wire.bytes}))
            continue
        messages.append(frames)
        if msg.type is WSMsgType.TEXT:
            await ws.send_str(msg.data)
        else:
            await ws.send_bytes(msg.data)
    return ws


async def deflate_fragments_route(request: web.Request) -> web.StreamResponse:
    ws = await open_ws(request)
    await ws.close(code=4404, message=b"aiohttp cannot send compressed fragments")
    return ws


async def fragments_route(request: web.Request) -> web.StreamResponse:
    ws = await open_ws(request, autoping=False)  # so that the pong reaches us
    transport = request.transport
    assert transport is not None
    for opcode, parts in ((0x1, TEXT_FRAGMENTS), (0x2, BINARY_FRAGMENTS)):
        for i, part in enumerate(parts):
            if opcode == 0x1 and i == 2:  # a control frame between fragments (RFC 6455 §5.4)
                transport.write(raw_frame(0x9, b"mid-message", True))
            transport.write(raw_frame(opcode if i == 0 else 0x0, part, i == len(parts) - 1))
    if not await wait_pong(ws):
        return ws
    await echo(ws)
    return ws


async def headers_route(request: web.Request) -> web.StreamResponse:
    ws = await open_ws(request)
    await ws.send_str(json.dumps({name.lower(): value for name, value in request.headers.items()}))
    await echo(ws)
    return ws


async def abort_route(request: web.Request) -> web.StreamResponse:
    ws = await open_ws(request)
    await ws.send_str("last words")
    assert request.transport is not None
    request.transport.abort()  # no close frame, just the end of TCP
    return ws


async def wait_pong(ws: web.WebSocketResponse) -> bool:
    """Send "pong:<payload>" for the next pong (or "no pong" after 5 s); False if it closed."""

    async def first_pong() -> bool:
        while True:
            msg = await ws.receive()
            if msg.type is WSMsgType.PONG:
                await ws.send_str("pong:" + msg.data.decode())
                return True
            if msg.type is WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return False

    try:
        return await asyncio.wait_for(first_pong(), 5)
    except asyncio.TimeoutError:
        await ws.send_str("no pong")
        return True


async def ping_route(request: web.Request) -> web.StreamResponse:
    ws = await open_ws(request, autoping=False)  # so that the pong reaches us
    await ws.ping(b"srv-ping")
    if await wait_pong(ws):
        await echo(ws)
    return ws


async def subprotocol_route(request: web.Request) -> web.StreamResponse:
    ws = await open_ws(request, protocols=SERVER_PROTOCOLS)
    await ws.send_str(ws.ws_protocol or "")
    await echo(ws)
    return ws


async def reject_route(request: web.Request) -> web.StreamResponse:
    return web.Response(status=403, text=REJECT_BODY, headers={"X-Interop": "rejected"})


def make_app(compress: bool) -> web.Application:
    app = web.Application()
    app["compress"] = compress
    app.router.add_get("/echo", echo_route)
    app.router.add_get("/close", close_route)
    app.router.add_get("/closed", closed_route)
    app.router.add_get("/send", send_route)
    app.router.add_get("/fragments", fragments_route)
    app.router.add_get("/ping", ping_route)
    app.router.add_get("/subprotocol", subprotocol_route)
    app.router.add_get("/reject", reject_route)
    app.router.add_get("/abort", abort_route)
    app.router.add_get("/headers", headers_route)
    app.router.add_get("/wire", wire_route)
    app.router.add_get("/deflate-fragments", deflate_fragments_route)
    return app


async def start(app: web.Application, context: ssl.SSLContext | None = None) -> int:
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    factory = runner.server
    assert factory is not None
    server = await asyncio.get_running_loop().create_server(
        lambda: WireProtocol(factory()), "127.0.0.1", 0, backlog=1024, ssl=context)
    servers.append(server)
    return int(server.sockets[0].getsockname()[1])


async def main(args: argparse.Namespace) -> None:
    ports = {"plain": await start(make_app(False)), "deflate": await start(make_app(True))}
    if args.certfile:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.certfile, args.keyfile)
        ports["tls"] = await start(make_app(False), context)
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
