"""geventws side-by-side benchmark: ``python -m benchmarks`` (see README, "Benchmarks")."""
