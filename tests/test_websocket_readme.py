"""The README's WebSocket example runs as written (extracted and executed, with a timeout)."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def websocket_example() -> str:
    section = README.read_text(encoding="utf-8").split("## The WebSocket object", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "no python block in the WebSocket section"
    return match.group(1)


def test_readme_websocket_example_runs():
    out = subprocess.run([sys.executable, "-c", websocket_example()], capture_output=True,
                         text=True, timeout=60, cwd=README.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "Hello! You speak myProtocol.\nConnection closed.\n"
