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


def test_a_lambda_handler_modules_cold_start_loads_nothing_costly() -> None:
    """import + configure() + instrument_handler in Lambda: none of the modules that cost a cold start most.

    ``importlib.metadata`` 10-25 ms, ``asyncio``, and the OpenTelemetry API 10-15 ms (installed here,
    unused by the handler): see ``benchmarks/bench_import.py``. (orjson brings ``dataclasses``,
    ``inspect``, ``uuid`` and ``platform`` itself: the price of the fast encoder.)
    """
    loaded = _modules_after(
        "import os; os.environ.update(AWS_LAMBDA_FUNCTION_NAME='f', LAMBDA_TASK_ROOT='/var/task', "
        "AWS_REGION='eu-west-1'); import obskit; from obskit.integrations.aws_lambda import instrument_handler; "
        "obskit.configure(service='s'); instrument_handler(lambda event, context: None)"
    )
    costly = {"importlib.metadata", "asyncio", "opentelemetry.trace"}
    assert loaded & costly == set()
