"""``python -m benchmarks [--quick] [FILTER ...]``: run the benchmark modules, write RESULTS.md.

Every ``benchmarks/bench_*.py`` module whose topic contains one of the FILTER words (all of
them without a filter) is imported and its ``run(quick)`` called. ``benchmarks/RESULTS.md`` gets
the machine description and one section per module; a filtered run replaces only its own
sections and keeps the others.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import re
import time
from pathlib import Path

from benchmarks._harness import machine, markdown_table

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
        "Regenerate with `.venv/bin/python -m benchmarks` (method: `benchmarks/_harness.py`). "
        "Ratios compare cases measured in the same process.\n\n"
        f"Machine: {machine()}\n\nLast run: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n\n"
    )
    RESULTS.write_text(head + body, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short smoke run; numbers are indicative only")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("filters", nargs="*", help="run only modules whose name contains one of these")
    args = parser.parse_args(argv)
    names = [n for n in _modules() if not args.filters or any(f in n for f in args.filters)]
    sections: dict[str, str] = {}
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        table = module.run(quick=args.quick)
        text = markdown_table(table)
        doc = (module.__doc__ or name).strip().splitlines()[0]
        print(f"## {name}: {doc}\n\n{text}")
        topic = name.removeprefix("bench_")
        note = " (quick run: indicative only)" if args.quick else ""
        sections[topic] = (
            f"<!-- bench:{topic} -->\n## {name}\n\n{doc}{note}\n\n{text}\n<!-- /bench:{topic} -->\n"
        )
    if not args.no_write and sections:
        _write(sections, full=not args.filters)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
