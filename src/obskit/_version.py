"""obskit's version: the one place it is written (``pyproject.toml`` reads it from here).

A constant rather than ``importlib.metadata.version("obskit")``: that import costs 10-25 ms,
a fifth to a half of a Lambda function's whole budget for obskit's cold start
(``benchmarks/bench_import.py``), and the X-Ray emitter writes the version into every segment.
"""

__version__ = "0.1.0"
