"""Collect these tests only where geventws-graphql-ws is installed (pip install ./plugins/...)."""

import importlib.metadata

try:
    importlib.metadata.distribution("geventws-graphql-ws")
except importlib.metadata.PackageNotFoundError:
    collect_ignore_glob = ["test_*.py"]
