"""``import obskit`` loads only the standard library and does nothing."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("structlog", "orjson", "boto3", "botocore", "aws_xray_sdk", "opentelemetry", "pydantic",
         "yaml", "flask", "fastapi", "starlette", "httpx", "requests", "werkzeug")


def _modules_after(stmt: str) -> set[str]:
    code = (
        "import sys, json; before = set(sys.modules); "
        f"{stmt}; print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-I", "-c", code], check=True, capture_output=True, text=True)
    return set(json.loads(out.stdout))


def test_import_loads_no_third_party_module() -> None:
    """Importing obskit pulls in no third-party package."""
    loaded = _modules_after("import obskit")
    stdlib = set(sys.stdlib_module_names)
    foreign = {m for m in loaded if m.partition(".")[0] not in stdlib and not m.startswith("obskit")}
    assert foreign == set()
    assert not {m for m in loaded if m.partition(".")[0] in HEAVY}


def test_import_starts_no_thread() -> None:
    """Importing obskit starts no thread."""
    code = "import threading, obskit; print(threading.active_count())"
    out = subprocess.run([sys.executable, "-I", "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "1"


def test_import_loads_nothing_but_obskit_itself() -> None:
    """Without ``site`` (which an editable install makes import pathlib, re and collections), ``import
    obskit`` adds only its own two modules: no stdlib module either, so it costs well under a millisecond."""
    import os
    import pathlib

    src = pathlib.Path(__file__).resolve().parents[1] / "src"
    code = (
        "import sys; before = set(sys.modules); import obskit; "
        "sys.stdout.write(' '.join(sorted(set(sys.modules) - before)))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(src)
    out = subprocess.run([sys.executable, "-S", "-c", code], check=True, capture_output=True, text=True, env=env)
    assert out.stdout.split() == ["obskit", "obskit.errors"]
