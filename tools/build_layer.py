"""Build obskit's AWS Lambda layer: ``dist/obskit-layer-python<V>-<arch>.zip``.

Usage (``make layer`` runs the first line)::

    python tools/build_layer.py                       # python3.12, x86_64 and arm64
    python tools/build_layer.py --python 3.11 --arch host --out /tmp/layer

A layer is a zip whose ``python/`` directory Lambda puts on ``sys.path``. This one holds two
things and nothing else: obskit (built from this checkout as a wheel, installed without its
dependencies) and orjson, the fast JSON serialiser, as the wheel built for the layer's
architecture and Python version (``pip install --platform ... --only-binary=:all:``, so the
build machine's own architecture does not matter). structlog is not in it: obskit's log
pipeline needs only the standard library and uses structlog's pieces only when the app has
them. The zip and the unzipped size are printed; a layer over ``--max-mb`` (5 MB unzipped by
default) is an error, since every byte of a layer is cold-start time.

``--arch host`` builds for the machine that runs the script (its own Python version unless
``--python`` says otherwise), which is how the tests can import obskit from a layer they built.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent

PLATFORMS = {
    # Lambda's python3.12 runtime is Amazon Linux 2023 (glibc 2.34): any of these wheels runs there.
    "x86_64": ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "arm64": ("manylinux_2_28_aarch64", "manylinux_2_17_aarch64", "manylinux2014_aarch64"),
}
DEFAULT_MAX_MB = 5.0


def _host_arch() -> str:
    machine = platform.machine().lower()
    return "arm64" if machine in ("aarch64", "arm64") else "x86_64"


def _run(*args: str) -> None:
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def obskit_wheel(work: pathlib.Path) -> pathlib.Path:
    """Build obskit's wheel from this checkout into ``work``."""
    out = work / "wheel"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT))
    (wheel,) = out.glob("obskit-*.whl")
    return wheel


def _install(target: pathlib.Path, wheel: pathlib.Path, python: str, arch: str) -> None:
    """obskit (no dependencies) and orjson for ``python`` on ``arch`` into ``target``."""
    platforms = [arg for tag in PLATFORMS[arch] for arg in ("--platform", tag)]
    _run(sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--target", str(target),
         "--only-binary=:all:", "--implementation", "cp", "--python-version", python, *platforms,
         "--disable-pip-version-check", str(wheel), "orjson")
    shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts: a layer has no use for them
    for url in target.glob("*.dist-info/direct_url.json"):  # the build machine's path to the wheel
        url.unlink()
    for cache in target.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def _size(path: pathlib.Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _zip(root: pathlib.Path, out: pathlib.Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(root).as_posix())


def build(python: str, arch: str, out_dir: pathlib.Path, max_mb: float = DEFAULT_MAX_MB,
          wheel: pathlib.Path | None = None) -> pathlib.Path:
    """Build one layer zip and return its path (``wheel``: obskit's, when already built).

    Raises:
        SystemExit: when the unzipped layer is larger than ``max_mb``.
    """
    with tempfile.TemporaryDirectory(prefix="obskit-layer-") as tmp:
        work = pathlib.Path(tmp)
        wheel = wheel or obskit_wheel(work)
        layer = work / "layer"
        _install(layer / "python", wheel, python, arch)
        out = out_dir / f"obskit-layer-python{python}-{arch}.zip"
        _zip(layer, out)
        unzipped = _size(layer)
    zipped = out.stat().st_size
    print(f"{out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}: "
          f"{zipped / 1e6:.2f} MB zipped, {unzipped / 1e6:.2f} MB unzipped")
    if unzipped > max_mb * 1e6:
        raise SystemExit(f"{out.name}: {unzipped / 1e6:.2f} MB unzipped is over the {max_mb:g} MB budget")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default="3.12", help="the Lambda runtime's Python version (default 3.12)")
    parser.add_argument("--arch", action="append", choices=[*PLATFORMS, "host"],
                        help="x86_64, arm64 or host (repeatable; default: x86_64 and arm64)")
    parser.add_argument("--out", default=str(ROOT / "dist"), help="output directory (default dist/)")
    parser.add_argument("--max-mb", type=float, default=DEFAULT_MAX_MB, help="unzipped size budget in MB")
    args = parser.parse_args(argv)
    arches = args.arch or ["x86_64", "arm64"]
    with tempfile.TemporaryDirectory(prefix="obskit-wheel-") as tmp:
        wheel = obskit_wheel(pathlib.Path(tmp))
        for arch in arches:
            build(args.python, _host_arch() if arch == "host" else arch, pathlib.Path(args.out).resolve(),
                  args.max_mb, wheel)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    sys.exit(main())
