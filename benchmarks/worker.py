"""One measurement in a fresh process: ``python -m benchmarks.worker CLIENT WORKLOAD ...``.

Printing one JSON line on stdout is the whole protocol with :mod:`benchmarks.run`.
A fresh process per measurement keeps each client's imports, caches, threads and
garbage out of the others' numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import traceback


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("client")
    p.add_argument("workload")
    p.add_argument("--ws-port", type=int, required=True)
    p.add_argument("--raw-port", type=int, required=True)
    p.add_argument("-n", type=int, required=True)
    p.add_argument("--server-pid", type=int, default=0)
    p.add_argument("--cpu", type=int, default=-1)
    args = p.parse_args(argv)
    if args.cpu >= 0:
        os.sched_setaffinity(0, {args.cpu})
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    from . import workloads
    from .clients import CLIENTS, Target

    target = Target(args.ws_port, args.raw_port)
    try:
        client = CLIENTS[args.client]()
        meter = workloads.Meter(args.server_pid)
        if args.workload == "idle":
            result = workloads.idle_connections(client, target, args.n)
        elif client.concurrency == "asyncio":
            result = workloads.run_async(client, args.workload, target, args.n, meter)
        else:
            result = workloads.run_blocking(client, args.workload, target, args.n, meter)
    except BaseException as exc:
        traceback.print_exc(file=sys.stderr)
        result = {"error": f"{type(exc).__name__}: {exc}"[:200]}
    print(json.dumps(result), flush=True)
    sys.stdout.flush()
    os._exit(0)  # don't wait for daemon threads or the event loop's leftovers


if __name__ == "__main__":
    sys.exit(main())
