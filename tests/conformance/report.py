"""Run every case against geventws and print Autobahn-style results per section.

    python -m tests.conformance.report [-v] [CASE_PREFIX ...]

``-v`` lists each case that is not plainly OK with the reason; prefixes such as
``6.4`` or ``9`` select cases.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from typing import Optional

from ..shipped import leave_out_installed_plugins
from .agent import deflate_options, run_case
from .cases import CASE_CLASSES, CASE_IDS, CaseResult
from .fuzzer import FuzzingServer

GRADES = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
SECTIONS = {
    "1": "Framing", "2": "Pings/Pongs", "3": "Reserved Bits", "4": "Opcodes",
    "5": "Fragmentation", "6": "UTF-8 Handling", "7": "Close Handling",
    "9": "Limits/Performance", "10": "Auto-Fragmentation",
    "12": "Compression (payloads)", "13": "Compression (params)",
}


def run_one(server: FuzzingServer, case_id: str, timeout: float = 120.0,
            options: Optional[dict[str, object]] = None) -> CaseResult:
    """Run ``case_id`` with the geventws agent and return the fuzzer's grade.

    ``options`` are more ``connect()`` options (the tests add a tracing plugin with them).
    """
    server.expect(case_id)
    offers = getattr(server.case_classes[case_id], "CLIENT_OFFERS", None)
    try:
        run_case(server.case_url(case_id),
                 options={**(deflate_options(offers) if offers is not None else {}),
                          **(options or {})})
    except Exception as exc:  # the agent failed to connect: the fuzzer may have no result
        result: Optional[CaseResult] = server.wait_result(case_id, 5)
        if result is None:
            return CaseResult(case_id, "FAILED", "FAILED", f"agent error: {exc!r}")
        return result
    result = server.wait_result(case_id, timeout)
    if result is None:
        return CaseResult(case_id, "FAILED", "FAILED", "the case did not end in time")
    return result


def overall(result: CaseResult) -> str:
    """One grade per case: the behaviour, demoted to FAILED when the close was wrong."""
    if result.behavior_close not in ("OK", "INFORMATIONAL"):
        return "FAILED"
    return result.behavior if result.behavior in GRADES else "FAILED"


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("prefixes", nargs="*")
    args = parser.parse_args(argv)
    ids = [c for c in CASE_IDS
           if not args.prefixes or any(c == p or c.startswith(p + ".") for p in args.prefixes)]
    table: dict[str, Counter[str]] = defaultdict(Counter)
    notes: list[str] = []
    leave_out_installed_plugins()  # geventws as shipped, fast paths included
    start = time.monotonic()
    with FuzzingServer(CASE_CLASSES) as server:
        for case_id in ids:
            result = run_one(server, case_id)
            grade = overall(result)
            section = case_id.split(".")[0]
            table[section][grade] += 1
            if grade != "OK" or (args.verbose and result.behavior_close != "OK"):
                notes.append(f"{case_id:8} {grade:13} {result.result} / {result.result_close}")
    elapsed = time.monotonic() - start
    header = f"{'section':24} {'total':>5} " + " ".join(f"{g:>13}" for g in GRADES)
    print(header)
    print("-" * len(header))
    totals: Counter[str] = Counter()
    for section in sorted(table, key=int):
        row = table[section]
        totals.update(row)
        name = f"{section} {SECTIONS.get(section, '')}"
        print(f"{name:24} {sum(row.values()):5} " + " ".join(f"{row[g]:13}" for g in GRADES))
    print("-" * len(header))
    print(f"{'all':24} {sum(totals.values()):5} " + " ".join(f"{totals[g]:13}" for g in GRADES))
    print(f"\n{len(ids)} cases in {elapsed:.1f} s")
    if notes:
        print("\nnot plainly OK:")
        print("\n".join(notes))
    return 0 if totals["FAILED"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
