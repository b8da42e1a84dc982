"""The package as users get it: the built wheel, the public names, the declared packages."""

from __future__ import annotations

import importlib
import os
import pathlib
import subprocess
import sys
import tomllib
import zipfile

import pytest

import obskit

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_all_is_sorted_and_every_name_resolves() -> None:
    """obskit.__all__ is sorted and each name in it can be looked up."""
    assert obskit.__all__ == sorted(obskit.__all__)
    for name in obskit.__all__:
        assert getattr(obskit, name) is not None


def test_public_namespace_equals_all() -> None:
    """Every public, non-module name in the obskit namespace is in __all__ (and no more)."""
    for name in obskit.__all__:
        getattr(obskit, name)
    public = {
        n for n in dir(obskit)
        if not n.startswith("_") and type(getattr(obskit, n)).__name__ != "module" and n != "TYPE_CHECKING"
    }
    assert public == set(obskit.__all__) - {"metrics"}


def test_every_package_folder_is_declared_in_pyproject() -> None:
    """Each folder with an __init__.py is listed in [tool.setuptools] packages."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = set(config["tool"]["setuptools"]["packages"])
    found = {"obskit", "obskit.integrations"}
    for init in (ROOT / "src" / "obskit").rglob("__init__.py"):
        rel = init.parent.relative_to(ROOT / "src")
        found.add(".".join(rel.parts))
    assert found == declared


@pytest.mark.slow
def test_built_wheel_contains_and_imports_every_module(tmp_path: pathlib.Path) -> None:
    """The wheel ships core, integrations and py.typed, and each module imports from it."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
        check=True, capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("obskit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "obskit/py.typed" in names
    sources = [p.relative_to(ROOT / "src").as_posix() for p in (ROOT / "src" / "obskit").rglob("*.py")]
    sources += ["obskit/integrations/" + p.name for p in (ROOT / "integrations").glob("*.py")]
    assert set(sources) <= names
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(target)
    modules = sorted(m[:-3].replace("/", ".").removesuffix(".__init__") for m in sources)
    code = (
        "import importlib, sys, obskit\n"
        f"assert obskit.__file__.startswith({str(target)!r}), obskit.__file__\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
    assert out.stdout.strip() == "ok"


def test_integrations_package_is_the_integrations_folder() -> None:
    """obskit.integrations maps to the top-level integrations/ folder."""
    mod = importlib.import_module("obskit.integrations")
    assert pathlib.Path(mod.__file__).parent == ROOT / "integrations"
