"""The workloads, each written once for blocking adapters and once for asyncio ones.

Every workload returns a dict: ``value`` (in the workload's ``unit``), the wall time
and CPU of the timed section for the client process and for the echo server (read
from ``/proc/<pid>/schedstat``, nanosecond on-CPU time), plus workload extras. A
workload a client cannot run returns ``{"na": reason}``.
"""

from __future__ import annotations

import asyncio
import os
import random
import resource
import time
from typing import Any, Callable, Optional

from .clients import FLOORS, Target

MIB = 1 << 20

#: name -> (unit, higher_is_better, full-size count)
WORKLOADS: dict[str, tuple[str, bool, int]] = {
    "rtt_small": ("msg/s", True, 20_000),
    "pipelined_small": ("msg/s", True, 50_000),
    "bulk_1mib": ("MiB/s", True, 200),
    "handshake": ("conn/s", True, 500),
    "concurrent": ("s", False, 1_000),
    "deflate_64k": ("MiB/s", True, 500),
}

CONCURRENT_ROUND_TRIPS = 20
SMALL_TEXT = "geventws-bench-0123456789abcdef!"  # 32 bytes
SMALL_BINARY = bytes(range(32))
assert len(SMALL_TEXT.encode()) == 32


def json_like_text(size: int = 64 * 1024) -> str:
    """Deterministic, compressible JSON-ish text of exactly ``size`` ASCII characters."""
    rng = random.Random(6455)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]
    parts = []
    n = 0
    i = 0
    while n < size:
        rec = (
            f'{{"id": {i}, "user": "{rng.choice(words)}_{rng.randrange(1000)}", '
            f'"score": {rng.random():.6f}, "tags": ["{rng.choice(words)}", "{rng.choice(words)}"], '
            f'"active": {"true" if rng.random() < 0.5 else "false"}}},\n'
        )
        parts.append(rec)
        n += len(rec)
        i += 1
    return "".join(parts)[:size]


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _server_cpu_ns(pid: Optional[int]) -> int:
    if not pid:
        return 0
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


class Meter:
    """Wall time, client CPU (all threads) and server CPU over the timed section."""

    def __init__(self, server_pid: Optional[int]) -> None:
        self.server_pid = server_pid

    def start(self) -> None:
        self.s0 = _server_cpu_ns(self.server_pid)
        self.c0 = time.process_time()
        self.t0 = time.perf_counter()

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self.t0
        client_cpu = time.process_time() - self.c0
        server_cpu = (_server_cpu_ns(self.server_pid) - self.s0) / 1e9
        return {
            "wall_s": wall,
            "client_cpu_s": client_cpu,
            "client_cpu_pct": 100 * client_cpu / wall,
            "server_cpu_pct": 100 * server_cpu / wall,
        }


def _check(got: Any, want: Any) -> None:
    if got != want:
        raise AssertionError(f"echo mismatch: {type(got).__name__} of {len(got)} "
                             f"!= {type(want).__name__} of {len(want)}")


# ---------------------------------------------------------------------------- blocking


def run_blocking(client: Any, workload: str, target: Target, n: int,
                 meter: Meter) -> dict[str, Any]:
    fn: Callable[..., dict[str, Any]] = globals()["_b_" + workload]
    return fn(client, target, n, meter)


def _b_rtt_small(client: Any, target: Target, n: int, meter: Meter) -> dict[str, Any]:
    conn = client.connect(target)
    msg = SMALL_TEXT
    for _ in range(200):
        conn.send(msg)
        conn.recv()
    send, recv = conn.send, conn.recv
    meter.start()
    for _ in range(n):
        send(msg)
        _check(recv(), msg)
    m = meter.stop()
    conn.close()
    return {**m, "value": n / m["wall_s"], "client_cpu_us_per_msg": 1e6 * m["client_cpu_s"] / n}


def _b_pipelined_small(client: Any, target: Target, n: int, meter: Meter) -> dict[str, Any]:
    conn = client.connect(target)
    msg = SMALL_BINARY
    for _ in range(200):
        conn.send(msg)
        conn.recv()
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            for _ in range(n):
                _check(conn.recv(), msg)
        except BaseException as exc:
            errors.append(exc)

    meter.start()
    handle = client.spawn(reader)
    send = conn.send
    for _ in range(n):
        send(msg)
    client.join([handle])
    m = meter.stop()
    if errors:
        raise errors[0]
    conn.close()
    return {**m, "value": n / m["wall_s"], "client_cpu_us_per_msg": 1e6 * m["client_cpu_s"] / n}


def _b_bulk_1mib(client: Any, target: Target, n: int, meter: Meter) -> dict[str, Any]:
    conn = client.connect(target)
    msg = os.urandom(MIB)
    conn.send(msg)
    conn.recv()
    meter.start()
    for _ in range(n):
        conn.send(msg)
        _check(conn.recv(), msg)
    m = meter.stop()
    conn.close()
    return {**m, "value": n / m["wall_s"]}


def _b_handshake(client: Any, target: Target, n: int, meter: Meter) -> dict[str, Any]:
    for _ in range(10):
        client.connect(target).close()
    meter.start()
    for _ in range(n):
        client.connect(target).close()
    m = meter.stop()
    return {**m, "value": n / m["wall_s"]}


def _b_concurrent(client: Any, target: Target, n: int, meter: Meter) -> dict[str, Any]:
    client.connect(target).close()
    conns: list[Any] = [None] * n
    errors: list[BaseException] = []

    def opener(i: int) -> None:
        try:
            conns[i] = client.connect(target)
        except BaseException as exc:
            errors.append(exc)

    def talker(i: int) -> None:
        try:
            conn = conns[i]
            for _ in range(CONCURRENT_ROUND_TRIPS):
                conn.send(SMALL_TEXT)
                _check(conn.recv(), SMALL_TEXT)
            conn.close()
        except BaseException as exc:
            errors.append(exc)

    base = rss_bytes()
    meter.start()
    client.join([client.spawn(opener, i) for i in range(n)])
    if errors:
        raise errors[0]
    client.sleep(0.05)  # let openers' stacks go before measuring
    idle = rss_bytes()
    client.join([client.spawn(talker, i) for i in range(n)])
    m = meter.stop()
    if errors:
        raise errors[0]
    return {**m, "value": m["wall_s"], "rss_per_idle_conn_kib": (idle - base) / n / 1024,
            "peak_rss_mib": peak_rss_bytes() / MIB}


def _b_deflate_64k(client: Any, target: Target, n: int, meter: Meter) -> dict[str, Any]:
    if not client.supports_deflate:
        return {"na": "no permessage-deflate"}
    conn = client.connect(target, deflate=True)
    if not conn.deflate and client.name not in FLOORS:
        conn.close()
        return {"na": "not negotiated"}
    msg = json_like_text()
    conn.send(msg)
    conn.recv()
    meter.start()
    for _ in range(n):
        conn.send(msg)
        _check(conn.recv(), msg)
    m = meter.stop()
    conn.close()
    return {**m, "value": n * len(msg) / MIB / m["wall_s"]}


# ----------------------------------------------------------------------------- asyncio


def run_async(client: Any, workload: str, target: Target, n: int, meter: Meter) -> dict[str, Any]:
    fn = globals()["_a_" + workload]

    async def main() -> dict[str, Any]:
        try:
            return await fn(client, target, n, meter)  # type: ignore[no-any-return]
        finally:
            await client.shutdown()

    return asyncio.run(main())


async def _a_rtt_small(client: Any, target: Target, n: int, meter: Meter) -> dict[str, Any]:
    conn = await client.connect(target)
    msg = SMALL_TEXT
    for _ in range(200):
        await conn.send(msg)
        await conn.recv()
    send, recv = conn.send, conn.recv
    meter.start()
    for _ in range(n):
        await send(msg)
        _check(await recv(), msg)
    m = meter.stop()
    await conn.close()
    return {**m, "value": n / m["wall_s"], "client_cpu_us_per_msg": 1e6 * m["client_cpu_s"] / n}


async def _a_pipelined_small(client: Any, target: Target, n: int, meter: Meter) -> dict[str, Any]:
    conn = await client.connect(target)
    msg = SMALL_BINARY
    for _ in range(200):
        await conn.send(msg)
        await conn.recv()

    async def reader() -> None:
        for _ in range(n):
            _check(await conn.recv(), msg)

    meter.start()
    task = asyncio.ensure_future(reader())
    send = conn.send
    for _ in range(n):
        await send(msg)
    await task
    m = meter.stop()
    await conn.close()
    return {**m, "value": n / m["wall_s"], "client_cpu_us_per_msg": 1e6 * m["client_cpu_s"] / n}


async def _a_bulk_1mib(client: Any, target: Target, n: int, meter: Meter) -> dict[str, Any]:
    conn = await client.connect(target)
    msg = os.urandom(MIB)
    await conn.send(msg)
    await conn.recv()
    meter.start()
    for _ in range(n):
        await conn.send(msg)
        _check(await conn.recv(), msg)
    m = meter.stop()
    await conn.close()
    return {**m, "value": n / m["wall_s"]}


async def _a_handshake(client: Any, target: Target, n: int, meter: Meter) -> dict[str, Any]:
    for _ in range(10):
        await (await client.connect(target)).close()
    meter.start()
    for _ in range(n):
        await (await client.connect(target)).close()
    m = meter.stop()
    return {**m, "value": n / m["wall_s"]}


async def _a_concurrent(client: Any, target: Target, n: int, meter: Meter) -> dict[str, Any]:
    await (await client.connect(target)).close()

    async def talk(conn: Any) -> None:
        for _ in range(CONCURRENT_ROUND_TRIPS):
            await conn.send(SMALL_TEXT)
            _check(await conn.recv(), SMALL_TEXT)
        await conn.close()

    base = rss_bytes()
    meter.start()
    conns = await asyncio.gather(*(client.connect(target) for _ in range(n)))
    idle = rss_bytes()
    await asyncio.gather(*(talk(c) for c in conns))
    m = meter.stop()
    return {**m, "value": m["wall_s"], "rss_per_idle_conn_kib": (idle - base) / n / 1024,
            "peak_rss_mib": peak_rss_bytes() / MIB}


async def _a_deflate_64k(client: Any, target: Target, n: int, meter: Meter) -> dict[str, Any]:
    if not client.supports_deflate:
        return {"na": "no permessage-deflate"}
    conn = await client.connect(target, deflate=True)
    if not conn.deflate:
        await conn.close()
        return {"na": "not negotiated"}
    msg = json_like_text()
    await conn.send(msg)
    await conn.recv()
    meter.start()
    for _ in range(n):
        await conn.send(msg)
        _check(await conn.recv(), msg)
    m = meter.stop()
    await conn.close()
    return {**m, "value": n * len(msg) / MIB / m["wall_s"]}


# ------------------------------------------------------------------------- idle run


def idle_connections(client: Any, target: Target, n: int, batch: int = 500) -> dict[str, Any]:
    """Hold ``n`` idle connections in this process; report RSS per idle connection."""
    client.connect(target).close()
    base = rss_bytes()
    t0 = time.perf_counter()
    conns: list[Any] = []
    for start in range(0, n, batch):
        count = min(batch, n - start)
        got: list[Any] = [None] * count

        def opener(i: int, got: list[Any] = got) -> None:
            got[i] = client.connect(target)

        client.join([client.spawn(opener, i) for i in range(count)])
        conns.extend(got)
    open_s = time.perf_counter() - t0
    client.sleep(1.0)
    idle = rss_bytes()
    # Prove they are alive: one round trip on a sample of them.
    for conn in conns[:: max(1, n // 100)]:
        conn.send(SMALL_TEXT)
        _check(conn.recv(), SMALL_TEXT)
    for conn in conns:
        conn.close()
    return {"connections": n, "open_s": open_s, "rss_base_mib": base / MIB,
            "rss_idle_mib": idle / MIB, "rss_per_idle_conn_kib": (idle - base) / n / 1024}
