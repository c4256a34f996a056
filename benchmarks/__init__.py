"""Benchmarks: speed and search quality, side by side with the tools users would pick instead.

Run each script as a module from the repository root, e.g.
``python -m benchmarks.peer_throughput --quick``; see ``benchmarks/README.md``.
"""
