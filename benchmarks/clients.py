"""One small adapter per client implementation, so every workload is written once per style.

Two styles, because the peers come in two: *blocking* adapters (geventws, websocket-client,
websockets.sync, the two raw-TCP floors), whose connections have ``send``/``recv``/``close``
methods and which run concurrent work in greenlets or threads; and *asyncio* adapters
(websockets.asyncio, aiohttp, picows), whose connection methods are coroutines.

Each adapter is imported only inside the worker subprocess that measures it, so one
client's imports (and monkey business such as hiding wsaccel) never reach another's.
"""

from __future__ import annotations

import collections
import socket
import sys
from typing import Any, Callable, Optional, Union

Message = Union[str, bytes]


class Target:
    """Where the echo server listens: the WebSocket port and the raw-TCP echo port."""

    def __init__(self, ws_port: int, raw_port: int) -> None:
        self.ws_url = f"ws://127.0.0.1:{ws_port}/"
        self.raw_addr = ("127.0.0.1", raw_port)


# --------------------------------------------------------------------------- blocking


class BlockingClient:
    """Adapter interface for blocking clients; ``concurrency`` is "gevent" or "thread"."""

    name = ""
    concurrency = "thread"
    supports_deflate = False

    def connect(self, target: Target, deflate: bool = False) -> Any:
        """Open a connection; the result has send(msg), recv() -> msg, close(), deflate."""
        raise NotImplementedError

    def spawn(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.concurrency == "gevent":
            import gevent

            return gevent.spawn(fn, *args)
        import threading

        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        return t

    def join(self, handles: list[Any]) -> None:
        if self.concurrency == "gevent":
            import gevent

            gevent.joinall(handles, raise_error=True)
        else:
            for t in handles:
                t.join()

    def sleep(self, seconds: float) -> None:
        if self.concurrency == "gevent":
            import gevent

            gevent.sleep(seconds)
        else:
            import time

            time.sleep(seconds)


class GeventWS(BlockingClient):
    """geventws; ``zlib="stdlib"`` forces the stdlib zlib where zlib-ng is installed
    (``geventws (stdlib zlib)``), as websocket-client runs with and without wsaccel;
    ``level=6`` compresses at zlib's default level, as websockets does (``geventws
    (level 6)``), instead of geventws's default 5: the same work, level for level."""

    concurrency = "gevent"
    supports_deflate = True

    def __init__(self, zlib: str = "auto", level: Optional[int] = None) -> None:
        import geventws
        from geventws.extensions import zlib_backend
        from geventws.plugins import get_plugin_manager

        self.name = "geventws" if zlib == "auto" else f"geventws ({zlib} zlib)"
        self._options: dict[str, Any] = {}
        if level is not None:
            self.name = f"geventws (level {level})"
            self._options = {"permessage-deflate": {"compress_level": level}}
        if zlib != "auto":  # "auto" leaves GEVENTWS_ZLIB its say
            zlib_backend.use(zlib)  # before any connection: each keeps the backend it started with

        self._connect = geventws.connect
        # geventws as shipped: its built-in plugin only. Installed third-party plugins
        # (the example metrics plugin observes every frame) would tax each message.
        self._disabled = [name for name, _ in get_plugin_manager().list_name_plugin()
                          if name != "permessage-deflate"]

    def connect(self, target: Target, deflate: bool = False) -> Any:
        ws = self._connect(
            target.ws_url,
            compression="deflate" if deflate else None,
            max_size=None,
            ping_interval=None,
            disable_plugins=self._disabled,
            plugin_options=self._options,
        )
        ws.deflate = "permessage-deflate" in (ws.extensions or "")
        return ws


class WebsocketClient(BlockingClient):
    """websocket-client; ``accel=False`` hides wsaccel before the import (pure-Python paths)."""

    concurrency = "thread"

    def __init__(self, accel: bool) -> None:
        if not accel:
            sys.modules["wsaccel"] = None  # type: ignore[assignment]
            sys.modules["wsaccel.xormask"] = None  # type: ignore[assignment]
            sys.modules["wsaccel.utf8validator"] = None  # type: ignore[assignment]
        import websocket

        self.name = "websocket-client+wsaccel" if accel else "websocket-client"
        self._ws = websocket
        if accel:
            import websocket._abnf as abnf

            assert "wsaccel" in repr(getattr(abnf, "XorMaskerSimple", None)), "wsaccel not in use"

    def connect(self, target: Target, deflate: bool = False) -> Any:
        ws = self._ws.create_connection(target.ws_url)
        binary = self._ws.ABNF.OPCODE_BINARY

        class Conn:
            deflate = False

            def send(self, msg: Message) -> None:
                if isinstance(msg, str):
                    ws.send(msg)
                else:
                    ws.send(msg, binary)

            recv = staticmethod(ws.recv)
            close = staticmethod(ws.close)

        return Conn()


class WebsocketsSync(BlockingClient):
    name = "websockets.sync"
    concurrency = "thread"
    supports_deflate = True

    def __init__(self) -> None:
        from websockets.sync.client import connect

        self._connect = connect

    def connect(self, target: Target, deflate: bool = False) -> Any:
        ws = self._connect(
            target.ws_url,
            compression="deflate" if deflate else None,
            max_size=None,
            ping_interval=None,
            proxy=None,
        )
        ws.deflate = bool(ws.protocol.extensions)
        return ws


class RawConn:
    """The floor: the same bytes and round trips as a WebSocket message, with no framing.

    ``recv`` reads exactly as many bytes as the oldest unanswered ``send`` wrote, and
    decodes them when that was text, as a WebSocket client would. A reader that runs
    ahead of the writer (the pipelined workload's reader thread) expects the size of
    the previous message: every workload sends messages of one size.
    """

    deflate = False

    def __init__(self, sock: Any) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.pending: collections.deque[tuple[int, bool]] = collections.deque()
        self.last = (0, False)
        self.buf = bytearray()

    def send(self, msg: Message) -> None:
        text = isinstance(msg, str)
        data = msg.encode("utf-8") if text else msg  # type: ignore[union-attr]
        self.last = (len(data), text)
        self.pending.append(self.last)
        self.sock.sendall(data)

    def recv(self) -> Message:
        size, text = self.pending.popleft() if self.pending else self.last
        sock = self.sock
        data = sock.recv(size) if size <= 65536 else b""
        if len(data) < size:
            # Into a buffer kept across messages, then one copy out: the fewest copies
            # (and allocations) a Python client can make for a large message.
            if len(self.buf) < size:
                self.buf = bytearray(size)
            view = memoryview(self.buf)
            got = len(data)
            view[:got] = data
            while got < size:
                n = sock.recv_into(view[got:size])
                if not n:
                    raise ConnectionError("raw echo closed")
                got += n
            data = bytes(view[:size])
        return data.decode("utf-8") if text else data

    def close(self) -> None:
        self.sock.close()


class RawSocket(BlockingClient):
    name = "floor: raw socket"
    concurrency = "thread"
    supports_deflate = True  # sends the same text uncompressed: the transport floor

    def connect(self, target: Target, deflate: bool = False) -> Any:
        return RawConn(socket.create_connection(target.raw_addr))


class RawGevent(BlockingClient):
    name = "floor: raw gevent socket"
    concurrency = "gevent"
    supports_deflate = True

    def __init__(self) -> None:
        import gevent.socket

        self._socket = gevent.socket.socket

    def connect(self, target: Target, deflate: bool = False) -> Any:
        sock = self._socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.connect(target.raw_addr)  # an IP literal: no trip through gevent's resolver
        return RawConn(sock)


# ---------------------------------------------------------------------------- asyncio


class AsyncClient:
    """Adapter interface for asyncio clients: ``await connect()``, then async send/recv/close."""

    name = ""
    concurrency = "asyncio"
    supports_deflate = False

    async def connect(self, target: Target, deflate: bool = False) -> Any:
        raise NotImplementedError

    async def shutdown(self) -> None:
        """Release what the adapter holds (aiohttp's session)."""


class WebsocketsAsyncio(AsyncClient):
    name = "websockets.asyncio"
    supports_deflate = True

    def __init__(self) -> None:
        from websockets.asyncio.client import connect

        self._connect = connect

    async def connect(self, target: Target, deflate: bool = False) -> Any:
        ws = await self._connect(
            target.ws_url,
            compression="deflate" if deflate else None,
            max_size=None,
            ping_interval=None,
            proxy=None,
        )
        ws.deflate = bool(ws.protocol.extensions)
        return ws


class Aiohttp(AsyncClient):
    name = "aiohttp"
    supports_deflate = True

    def __init__(self) -> None:
        import aiohttp

        self._aiohttp = aiohttp
        self._session: Optional[Any] = None

    async def connect(self, target: Target, deflate: bool = False) -> Any:
        aiohttp = self._aiohttp
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        ws = await self._session.ws_connect(
            target.ws_url, compress=15 if deflate else 0, max_msg_size=0, autoping=True
        )

        class Conn:
            def __init__(self) -> None:
                self.deflate = bool(ws.compress)

            async def send(self, msg: Message) -> None:
                if isinstance(msg, str):
                    await ws.send_str(msg)
                else:
                    await ws.send_bytes(msg)

            async def recv(self) -> Message:
                m = await ws.receive()
                if m.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    raise ConnectionError(f"aiohttp: unexpected {m.type}")
                return m.data  # type: ignore[no-any-return]

            async def close(self) -> None:
                await ws.close()

        return Conn()

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()


class Picows(AsyncClient):
    """picows is callback-based: frames land in a deque, ``recv`` waits on a future."""

    name = "picows"

    def __init__(self) -> None:
        import picows

        self._picows = picows

    async def connect(self, target: Target, deflate: bool = False) -> Any:
        import asyncio

        picows = self._picows
        WSMsgType = picows.WSMsgType

        class Listener(picows.WSListener):  # type: ignore[misc, name-defined]
            def __init__(self) -> None:
                self.queue: collections.deque[Any] = collections.deque()
                self.waiter: Optional[asyncio.Future[None]] = None
                self.transport: Any = None

            def on_ws_connected(self, transport: Any) -> None:
                self.transport = transport

            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                t = frame.msg_type
                if t == WSMsgType.TEXT:
                    self.queue.append(frame.get_payload_as_utf8_text())
                elif t == WSMsgType.BINARY:
                    self.queue.append(frame.get_payload_as_bytes())
                elif t == WSMsgType.CLOSE:
                    transport.disconnect()
                    return
                else:
                    return
                w = self.waiter
                if w is not None and not w.done():
                    w.set_result(None)

            def on_ws_disconnected(self, transport: Any) -> None:
                w = self.waiter
                if w is not None and not w.done():
                    w.set_exception(ConnectionError("picows: disconnected"))

        transport, listener = await picows.ws_connect(Listener, target.ws_url,
                                                      max_frame_size=64 << 20)
        loop = asyncio.get_running_loop()

        class Conn:
            deflate = False

            async def send(self, msg: Message) -> None:
                if isinstance(msg, str):
                    transport.send(WSMsgType.TEXT, msg.encode("utf-8"))
                else:
                    transport.send(WSMsgType.BINARY, msg)

            async def recv(self) -> Message:
                q = listener.queue
                while not q:
                    listener.waiter = loop.create_future()
                    await listener.waiter
                return q.popleft()  # type: ignore[no-any-return]

            async def close(self) -> None:
                transport.send_close(picows.WSCloseCode.OK)
                transport.disconnect()
                await transport.wait_disconnected()

        return Conn()


CLIENTS: dict[str, Callable[[], Any]] = {
    "geventws": GeventWS,
    "geventws (stdlib zlib)": lambda: GeventWS(zlib="stdlib"),
    "geventws (level 6)": lambda: GeventWS(level=6),
    "websocket-client": lambda: WebsocketClient(accel=False),
    "websocket-client+wsaccel": lambda: WebsocketClient(accel=True),
    "websockets.sync": WebsocketsSync,
    "websockets.asyncio": WebsocketsAsyncio,
    "aiohttp": Aiohttp,
    "picows": Picows,
    "floor: raw socket": RawSocket,
    "floor: raw gevent socket": RawGevent,
}

FLOORS = ("floor: raw socket", "floor: raw gevent socket")
GEVENT_FLOOR = "floor: raw gevent socket"
