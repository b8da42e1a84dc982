"""obskit benchmarks: each ``bench_<topic>.py`` measures obskit next to its peers, as ratios.

Run every module with ``python -m benchmarks`` (writes ``benchmarks/RESULTS.md``), or one with
``python -m benchmarks.bench_<topic>``. Speed is measured here only, never asserted in tests.
"""
