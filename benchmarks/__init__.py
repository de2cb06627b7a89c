"""glassnet vs PyTorch benchmarks: ``python -m benchmarks`` (see docs/benchmarks.md)."""
