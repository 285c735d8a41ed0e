"""Collect these tests only where geventws-metrics is installed (pip install ./plugins/...)."""

import importlib.metadata

try:
    importlib.metadata.distribution("geventws-metrics")
except importlib.metadata.PackageNotFoundError:
    collect_ignore_glob = ["test_*.py"]
