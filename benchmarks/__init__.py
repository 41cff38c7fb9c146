"""Benchmarks: speed, memory and accuracy figures, each written to benchmarks/results/<name>.json.

Run all with ``make bench`` (``python -m benchmarks``) or one with
``python -m benchmarks.<name> --help``.
"""
