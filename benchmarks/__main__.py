"""``python -m benchmarks [--quick] [FILTER ...]``: run the benchmark modules, write RESULTS.md.

Every ``benchmarks/bench_*.py`` module whose topic contains one of the FILTER words (all of
them without a filter) runs in an interpreter of its own (``python -m benchmarks --child NAME``,
which imports it and calls its ``run(quick)``), so no comparison inherits another's imports,
patches, threads or heap. ``benchmarks/RESULTS.md`` gets the machine description (CPU, cores,
memory, Python, versions of obskit and of every peer) and one section per module; a filtered
run replaces only its own sections and keeps the others. ``make bench`` runs them all,
``make bench-quick`` a short smoke run that leaves RESULTS.md alone.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._harness import machine, markdown_table, package_versions

RESULTS = Path(__file__).with_name("RESULTS.md")
_SECTION = re.compile(r"<!-- bench:(?P<name>[\w]+) -->\n.*?<!-- /bench:(?P=name) -->\n", re.DOTALL)


def _modules() -> list[str]:
    here = str(Path(__file__).parent)
    return sorted(m.name for m in pkgutil.iter_modules([here]) if m.name.startswith("bench_"))


def _write(sections: dict[str, str], full: bool) -> None:
    old = {} if full or not RESULTS.exists() else {
        m.group("name"): m.group(0) for m in _SECTION.finditer(RESULTS.read_text(encoding="utf-8"))
    }
    old.update(sections)
    body = "".join(old[k] for k in sorted(old))
    head = (
        "# Benchmark results\n\n"
        "Regenerate with `make bench` (or `.venv/bin/python -m benchmarks`; method: `benchmarks/_harness.py`). "
        "Ratios compare cases measured in the same process.\n\n"
        f"Machine: {machine()}\n\nPackages: {package_versions()}\n\n"
        f"Last run: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n\n"
    )
    RESULTS.write_text(head + body, encoding="utf-8")


def _generic_table(table: list[dict[str, Any]]) -> str:
    """Rows that are not timing rows (throughput under a server, sizes): every key as a column."""
    keys: list[str] = []
    for row in table:
        keys.extend(k for k in row if k not in keys)
    lines = ["| " + " | ".join(k.replace("_", " ") for k in keys) + " |", "|---" + "|---:" * (len(keys) - 1) + "|"]
    lines.extend("| " + " | ".join(str(row.get(k, "")) for k in keys) + " |" for row in table)
    return "\n".join(lines) + "\n"


def render(table: list[dict[str, Any]]) -> str:
    """Timing rows (``median_us``) as the harness table, any other rows as a table of their own."""
    timed = [r for r in table if "median_us" in r]
    other = [r for r in table if "median_us" not in r]
    parts = [markdown_table(timed)] if timed or not other else []
    if other:
        parts.append(_generic_table(other))
    return "\n".join(parts)


def _child(name: str, quick: bool, out: str) -> int:
    """Run one module in this interpreter and write its rows as JSON to ``out``."""
    module = importlib.import_module(f"benchmarks.{name}")
    table = module.run(quick=quick)
    Path(out).write_text(json.dumps(table), encoding="utf-8")
    return 0


def _run_isolated(name: str, quick: bool) -> list[dict[str, Any]]:
    """``python -m benchmarks --child NAME`` in a fresh interpreter; its rows."""
    root = Path(__file__).resolve().parent.parent
    fd, out = tempfile.mkstemp(prefix=f"obskit-{name}-", suffix=".json")
    os.close(fd)
    try:
        cmd = [sys.executable, "-m", "benchmarks", "--child", name, "--out", out] + (["--quick"] if quick else [])
        subprocess.run(cmd, cwd=root, check=True)
        rows: list[dict[str, Any]] = json.loads(Path(out).read_text(encoding="utf-8"))
        return rows
    finally:
        Path(out).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run; numbers are indicative only")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--child", metavar="MODULE", help=argparse.SUPPRESS)
    parser.add_argument("--out", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("filters", nargs="*", help="run only modules whose name contains one of these")
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child, args.quick, args.out)
    names = [n for n in _modules() if not args.filters or any(f in n for f in args.filters)]
    sections: dict[str, str] = {}
    failed: list[str] = []
    for name in names:
        started = time.monotonic()
        print(f"## {name} ...", flush=True)
        try:
            table = _run_isolated(name, args.quick)
        except subprocess.CalledProcessError as exc:
            print(f"{name} failed (exit status {exc.returncode}); its section is left as it was", flush=True)
            failed.append(name)
            continue
        module = importlib.import_module(f"benchmarks.{name}")
        text = render(table)
        doc = (module.__doc__ or name).strip().splitlines()[0]
        print(f"## {name}: {doc} ({time.monotonic() - started:.0f} s)\n\n{text}", flush=True)
        topic = name.removeprefix("bench_")
        note = " (quick run: indicative only)" if args.quick else ""
        sections[topic] = (
            f"<!-- bench:{topic} -->\n## {name}\n\n{doc}{note}\n\n{text}\n<!-- /bench:{topic} -->\n"
        )
    if not args.no_write and sections:
        _write(sections, full=not args.filters and not failed)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
