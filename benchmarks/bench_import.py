"""Cold start: what importing (and first using) obskit costs next to the peers, in fresh interpreters.

Imports: standard library and ``benchmarks._harness`` (for the machine description only).

Every target runs as ``python -c STMT`` in a new process, round-robin over all targets, after
warm-up runs that also write the bytecode caches (``PYTHONDONTWRITEBYTECODE`` is removed from
the children's environment: a deployment ships ``.pyc`` files, or pays compile time on every
cold start whatever library it uses). Children get no AWS, OTEL, POWERTOOLS or OBSKIT variables
(except the Lambda row, which sets what Lambda sets) and write to /dev/null. The report is the
median wall time of each target and what it adds over a bare interpreter.

The "no site" rows run with ``-S`` and a copy of obskit's package on ``PYTHONPATH``: in this
checkout's editable install, ``site`` runs setuptools' finder, which imports ``pathlib``,
``re`` and ``collections`` into every interpreter, so the main rows cannot see obskit import
any of those. An installed wheel has no such finder; these rows measure obskit as it costs
there, against their own floor. The Lambda row among them has what ``make layer`` ships
(obskit and orjson, nothing else of this venv: no opentelemetry, so no bridge to load), the
handler module as a function deployed with the layer imports it.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

BARE = "bare interpreter (floor)"

TARGETS: dict[str, str] = {
    BARE: "pass",
    "import obskit": "import obskit",
    "import obskit; configure(); one log line": (
        "import obskit; obskit.configure(service='s', metrics='none'); obskit.get_logger().info('hi')"
    ),
    "obskit Lambda handler module (import + configure + instrument_handler)": (
        "import obskit; from obskit.integrations.aws_lambda import instrument_handler; "
        "obskit.configure(service='s'); instrument_handler(lambda e, c: None)"
    ),
    "from aws_lambda_powertools import Logger, Metrics, Tracer": (
        "from aws_lambda_powertools import Logger, Metrics, Tracer"
    ),
    "Powertools Logger(), Metrics(), Tracer() in a Lambda environment": (
        "from aws_lambda_powertools import Logger, Metrics, Tracer; "
        "Logger(service='s'); Metrics(namespace='n', service='s'); Tracer(service='s')"
    ),
    "import structlog": "import structlog",
    "import opentelemetry.sdk.trace": "import opentelemetry.sdk.trace",
    "import aws_xray_sdk.core": "import aws_xray_sdk.core",
    "import aws_embedded_metrics": "import aws_embedded_metrics",
}
LAMBDA_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "bench", "LAMBDA_TASK_ROOT": "/var/task",
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11", "AWS_REGION": "eu-west-1",
    "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
}
_DROP = ("AWS_", "OTEL_", "POWERTOOLS_", "OBSKIT_", "_X_AMZN", "LAMBDA_", "PYTHONDONTWRITEBYTECODE")
BARE_NO_SITE = "bare interpreter, no site (-S)"
NO_SITE: dict[str, str] = {
    BARE_NO_SITE: "pass",
    "import obskit, no site (-S): as from a wheel, no editable-install finder": "import obskit",
    "obskit Lambda handler module, no site (-S): obskit and orjson only, as from the layer": (
        "import obskit; from obskit.integrations.aws_lambda import instrument_handler; "
        "obskit.configure(service='s'); instrument_handler(lambda e, c: None)"
    ),
}
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _layer_like() -> str:
    """A directory with what the Lambda layer holds: obskit (with its integrations) and orjson."""
    root = tempfile.mkdtemp(prefix="obskit-layer-")
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(os.path.join(_ROOT, "src", "obskit"), os.path.join(root, "obskit"), ignore=ignore)
    shutil.copytree(os.path.join(_ROOT, "integrations"), os.path.join(root, "obskit", "integrations"), ignore=ignore)
    try:
        import orjson

        shutil.copytree(os.path.dirname(orjson.__file__), os.path.join(root, "orjson"), ignore=ignore)
    except ImportError:
        pass
    return root


def _env(name: str, layer: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROP)}
    if "Lambda" in name:
        env.update(LAMBDA_ENV)
    if name in NO_SITE:
        env["PYTHONPATH"] = layer
    return env


def _run(stmt: str, env: dict[str, str], flags: tuple[str, ...] = ()) -> float | None:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, *flags, "-c", stmt], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, check=False)
    elapsed = time.perf_counter() - t0
    return elapsed * 1000.0 if done.returncode == 0 else None


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Median wall milliseconds per target, and what each adds over a bare interpreter."""
    rounds = 3 if quick else 15
    targets = {**TARGETS, **NO_SITE}
    layer = _layer_like()
    try:
        return _measure(targets, {name: _env(name, layer) for name in targets}, rounds)
    finally:
        shutil.rmtree(layer, ignore_errors=True)


def _measure(targets: dict[str, str], envs: dict[str, dict[str, str]], rounds: int) -> list[dict[str, Any]]:
    flags = {name: ("-S",) if name in NO_SITE else () for name in targets}
    available = {}
    for name, stmt in targets.items():
        for _ in range(2):  # warm up, write bytecode
            ok = _run(stmt, envs[name], flags[name])
        if ok is not None:
            available[name] = stmt
    samples: dict[str, list[float]] = {name: [] for name in available}
    for _ in range(rounds):
        for name, stmt in available.items():
            ms = _run(stmt, envs[name], flags[name])
            if ms is not None:
                samples[name].append(ms)
    floor = {name: statistics.median(samples[BARE_NO_SITE if name in NO_SITE else BARE]) for name in samples}
    bare = floor[BARE]
    pt = samples.get("from aws_lambda_powertools import Logger, Metrics, Tracer")
    pt_added = statistics.median(pt) - bare if pt else None
    out = []
    for name, values in samples.items():
        median = statistics.median(values)
        row: dict[str, Any] = {
            "case": name,
            "median_ms": round(median, 1),
            "min_ms": round(min(values), 1),
            "added_ms_over_bare": round(median - floor[name], 1),
        }
        if pt_added and name not in NO_SITE:
            row["added_vs_powertools_import"] = f"{(median - bare) / pt_added:.2f}\u00d7"
        out.append(row)
    for name in targets:
        if name not in available:
            out.append({"case": name, "median_ms": "not installed", "min_ms": "", "added_ms_over_bare": ""})
    return out


if __name__ == "__main__":
    from benchmarks.__main__ import render

    print(render(run(quick="--quick" in sys.argv)))
