"""The side-by-side benchmark: ``python -m benchmarks [--quick]`` or ``python benchmarks/run.py``.

Builds and starts the C echo server (pinned to one core), then for each repetition,
workload and client runs :mod:`benchmarks.worker` in a fresh process pinned to another
core, and prints a table of medians with ratios to the best WebSocket peer and to the
gevent raw-TCP floor. Results (every sample and the medians) go to
``benchmarks/results/<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from benchmarks.clients import CLIENTS, FLOORS, GEVENT_FLOOR
from benchmarks.workloads import WORKLOADS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SERVER_SRC = HERE / "echo_server" / "echo.c"
SERVER_BIN = HERE / "echo_server" / "echo"
RESULTS = HERE / "results"

QUICK_SCALE = 0.05


def build_server() -> Path:
    """Compile the echo server with the machine's gcc when the binary is missing or stale."""
    if SERVER_BIN.exists() and SERVER_BIN.stat().st_mtime >= SERVER_SRC.stat().st_mtime:
        return SERVER_BIN
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise SystemExit("no C compiler: install gcc (see benchmarks/README.md)")
    cmd = [cc, "-O2", "-o", str(SERVER_BIN), str(SERVER_SRC), "-lz"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"building the echo server failed ({' '.join(cmd)}):\n{res.stderr}\n"
                         "zlib headers missing? apt-get install -y zlib1g-dev")
    return SERVER_BIN


class EchoServer:
    """The C echo server in its own process, optionally pinned to ``cpu``."""

    def __init__(self, cpu: Optional[int]) -> None:
        def setup() -> None:
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

        self.proc = subprocess.Popen([str(build_server()), "0", "0"], stdout=subprocess.PIPE,
                                     text=True, preexec_fn=setup)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "READY":
            self.proc.kill()
            raise SystemExit(f"echo server did not start: {line}")
        self.ws_port, self.raw_port = int(line[1]), int(line[2])
        self.pid = self.proc.pid

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


def pick_cpus(pin: bool) -> tuple[Optional[int], Optional[int]]:
    """Server on the first allowed core, clients on the second (no pinning on one core)."""
    cpus = sorted(os.sched_getaffinity(0))
    if not pin or len(cpus) < 2:
        return None, None
    return cpus[0], cpus[1]


def run_one(server: EchoServer, client: str, workload: str, n: int, cpu: Optional[int],
            timeout: float) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "benchmarks.worker", client, workload,
           "--ws-port", str(server.ws_port), "--raw-port", str(server.raw_port),
           "-n", str(n), "--server-pid", str(server.pid), "--cpu", str(-1 if cpu is None else cpu)]
    try:
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    lines = res.stdout.strip().splitlines()
    if not lines:
        return {"error": f"worker exited {res.returncode}: {res.stderr.strip()[-300:]}"}
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def _median(samples: list[dict[str, Any]], key: str) -> Optional[float]:
    vals = [s[key] for s in samples if key in s]
    return statistics.median(vals) if vals else None


def summarize(samples: dict[str, dict[str, list[dict[str, Any]]]],
              counts: dict[str, int]) -> dict[str, Any]:
    """Medians per workload and client, with ratios (>1 means faster than the reference).

    Besides the wall-clock value, the client's CPU time per operation (round trip,
    connection) is kept: on a shared machine it moves far less than wall time.
    """
    summary: dict[str, Any] = {}
    for workload, per_client in samples.items():
        unit, higher, _ = WORKLOADS[workload]
        rows: dict[str, Any] = {}
        for client, runs in per_client.items():
            ok = [r for r in runs if "value" in r]
            for r in ok:
                r["client_cpu_us_per_op"] = 1e6 * r["client_cpu_s"] / counts[workload]
            if not ok:
                bad = runs[0] if runs else {}
                rows[client] = {"na": bad.get("na") or bad.get("error") or "no result"}
                continue
            keys = sorted({k for r in ok for k in r if isinstance(r[k], (int, float))})
            rows[client] = {k: _median(ok, k) for k in keys}
            rows[client]["samples"] = len(ok)

        def speed(a: float, b: float, higher: bool = higher) -> float:
            return a / b if higher else b / a

        peers = [r["value"] for c, r in rows.items() if c not in FLOORS and "value" in r]
        best = (max(peers) if higher else min(peers)) if peers else None
        floor = rows.get(GEVENT_FLOOR, {}).get("value")
        floor_cpu = rows.get(GEVENT_FLOOR, {}).get("client_cpu_us_per_op")
        for row in rows.values():
            if "value" in row:
                row["vs_best_peer"] = speed(row["value"], best) if best else None
                row["vs_gevent_floor"] = speed(row["value"], floor) if floor else None
                row["cpu_vs_gevent_floor"] = (row["client_cpu_us_per_op"] / floor_cpu
                                              if floor_cpu else None)
        summary[workload] = {"unit": unit, "higher_is_better": higher, "rows": rows}
    return summary


def _fmt(v: Optional[float], spec: str = ".3g") -> str:
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return format(v, spec)


def render(summary: dict[str, Any], counts: dict[str, int], repeat: int) -> str:
    out = []
    for workload, data in summary.items():
        unit = data["unit"]
        better = "higher" if data["higher_is_better"] else "lower"
        out.append(f"\n### {workload}: {unit} ({better} is better; n={counts[workload]}, "
                   f"median of {repeat})\n")
        extra_hdr = " client CPU µs/op | CPU vs gevent floor |"
        if workload == "concurrent":
            extra_hdr += " KiB RSS/idle conn | peak RSS MiB |"
        out.append(f"| client | {unit} | vs best peer | vs gevent floor |{extra_hdr}"
                   " client CPU % | server CPU % |")
        out.append("|---|---:|---:|---:|" + "---:|" * (extra_hdr.count("|")) + "---:|---:|")
        for client, row in data["rows"].items():
            if "value" not in row:
                cells = f" n/a ({row['na']}) | | |" + " |" * extra_hdr.count("|") \
                    + " | |"
                out.append(f"| {client} |{cells}")
                continue
            extra = (f" {_fmt(row.get('client_cpu_us_per_op'))} |"
                     f" ×{_fmt(row.get('cpu_vs_gevent_floor'), '.2f')} |")
            if workload == "concurrent":
                extra += (f" {_fmt(row.get('rss_per_idle_conn_kib'))} |"
                         f" {_fmt(row.get('peak_rss_mib'))} |")
            out.append(
                f"| {client} | {_fmt(row['value'])} | ×{_fmt(row.get('vs_best_peer'), '.2f')} |"
                f" ×{_fmt(row.get('vs_gevent_floor'), '.2f')} |{extra}"
                f" {_fmt(row.get('client_cpu_pct'), '.0f')} |"
                f" {_fmt(row.get('server_cpu_pct'), '.0f')} |"
            )
    return "\n".join(out)


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true",
                   help=f"counts × {QUICK_SCALE}, one repetition: a check under a minute")
    p.add_argument("--repeat", type=int, default=None,
                   help="repetitions (default 3; 1 with --quick)")
    p.add_argument("--clients", default=",".join(CLIENTS),
                   help="comma-separated subset of: " + ", ".join(CLIENTS))
    p.add_argument("--workloads", default=",".join(WORKLOADS),
                   help="comma-separated subset of: " + ", ".join(WORKLOADS))
    p.add_argument("--scale", type=float, default=None, help="multiply every count")
    p.add_argument("--idle", type=int, metavar="N", default=0,
                   help="instead: hold N idle geventws connections in one process, report RSS/conn")
    p.add_argument("--no-pin", action="store_true", help="don't pin server and clients to cores")
    args = p.parse_args(argv)

    clients = [c for c in args.clients.split(",") if c]
    workloads = [w for w in args.workloads.split(",") if w]
    for c in clients:
        if c not in CLIENTS:
            p.error(f"unknown client {c!r}")
    for w in workloads:
        if w not in WORKLOADS:
            p.error(f"unknown workload {w!r}")
    scale = args.scale if args.scale is not None else (QUICK_SCALE if args.quick else 1.0)
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    server_cpu, client_cpu = pick_cpus(not args.no_pin)
    server = EchoServer(server_cpu)
    started = time.time()
    try:
        if args.idle:
            print(f"holding {args.idle} idle geventws connections "
                  f"(RLIMIT_NOFILE hard limit {resource.getrlimit(resource.RLIMIT_NOFILE)[1]})")
            result = run_one(server, "geventws", "idle", args.idle, client_cpu, timeout=600)
            print(json.dumps(result, indent=2))
            _write({"kind": "idle", "result": result, **_env(server_cpu, client_cpu)})
            return 0 if "error" not in result else 1
        counts = {w: max(1, round(WORKLOADS[w][2] * scale)) for w in workloads}
        print(f"echo server pid {server.pid} on cpu {server_cpu}, clients on cpu {client_cpu}; "
              f"{repeat} repetition(s); counts {counts}", flush=True)
        samples: dict[str, dict[str, list[dict[str, Any]]]] = {
            w: {c: [] for c in clients} for w in workloads}
        timeout = 120 if args.quick else 600
        for rep in range(repeat):
            for w in workloads:
                for c in clients:
                    r = run_one(server, c, w, counts[w], client_cpu, timeout)
                    samples[w][c].append(r)
                    shown = r.get("value", r.get("na", r.get("error")))
                    if isinstance(shown, float):
                        shown = f"{shown:,.1f} {WORKLOADS[w][0]}"
                    print(f"  [{rep + 1}/{repeat}] {w:16} {c:26} {shown}", flush=True)
        summary = summarize(samples, counts)
        table = render(summary, counts, repeat)
        print(table)
        print(f"\ntotal {time.time() - started:.0f} s")
        path = _write({"kind": "workloads", "counts": counts, "repeat": repeat, "summary": summary,
                       "samples": samples, "table": table, **_env(server_cpu, client_cpu)})
        print(f"results: {path.relative_to(ROOT)}")
        failed = [(w, c) for w in samples for c in samples[w]
                  if any("error" in r for r in samples[w][c])]
        if failed:
            print(f"errors in: {failed}", file=sys.stderr)
            return 1
        return 0
    finally:
        server.stop()


def _env(server_cpu: Optional[int], client_cpu: Optional[int]) -> dict[str, Any]:
    versions = {}
    from importlib import metadata

    for dist in ("geventws", "gevent", "zlib-ng", "websocket-client", "wsaccel", "websockets",
                 "aiohttp", "picows"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "python": sys.version.split()[0],
            "platform": platform.platform(), "cpus": os.cpu_count(), "server_cpu": server_cpu,
            "client_cpu": client_cpu, "versions": versions}


def _write(data: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{time.strftime('%Y%m%d-%H%M%S')}-{data['kind']}.json"
    path.write_text(json.dumps(data, indent=1))
    return path


if __name__ == "__main__":
    sys.exit(main())
