"""The import rules (CONTRIBUTING.md): what each layer may import, checked on the source itself."""

from __future__ import annotations

import ast
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "obskit"


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(ROOT / "src").with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: pathlib.Path) -> set[str]:
    """Every module named by an import statement anywhere in the file (top level or inside functions)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.add(mod)
            found.update(f"{mod}.{alias.name}" for alias in node.names)
    return found


CORE = [p for p in SRC.rglob("*.py") if not {"emitters", "slo"} & set(p.relative_to(SRC).parts)
        and p.name != "cli.py" and p.name != "__main__.py"]


def test_core_never_imports_emitters_or_integrations() -> None:
    """Core modules reach emitters only by name through the factory table, never by import."""
    offenders = {
        _module_name(p): sorted(m for m in _imports(p) if m.startswith(("obskit.emitters", "obskit.integrations")))
        for p in CORE
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_slo_and_cli_import_only_semconv_errors_and_deps_from_core() -> None:
    """The SLO generator and the CLI stand apart from the runtime: only semconv, errors, _deps, _version."""
    allowed = ("obskit.semconv", "obskit.errors", "obskit._deps", "obskit._version", "obskit.slo", "obskit.cli")
    files = [*(SRC / "slo").rglob("*.py"), *(p for p in (SRC / "cli.py", SRC / "__main__.py") if p.exists())]
    offenders = {}
    for p in files:
        bad = sorted(m for m in _imports(p) if m.startswith("obskit") and m != "obskit"
                     and not m.startswith(allowed))
        if bad:
            offenders[_module_name(p)] = bad
    assert offenders == {}


def test_no_module_of_the_package_imports_a_third_party_package_at_import_time() -> None:
    """Importing any obskit module (integrations aside) loads only the standard library."""
    # pytest_plugin is loaded only by pytest, through its entry point: it imports pytest.
    modules = sorted(_module_name(p) for p in SRC.rglob("*.py") if p.name != "pytest_plugin.py")
    code = (
        "import importlib, json, sys\n"
        "before = set(sys.modules)\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    out = subprocess.run([sys.executable, "-I", "-c", code], check=True, capture_output=True, text=True)
    loaded = json.loads(out.stdout)
    stdlib = set(sys.stdlib_module_names)
    foreign = sorted({m.partition(".")[0] for m in loaded} - stdlib - {"obskit"})
    assert foreign == []
