"""``make layer``: the Lambda layer holds obskit and orjson only, and obskit runs from it with nothing else.

The layers ``make layer`` ships are for Lambda's python3.12 on x86_64 and arm64; this machine's
Python is another version (and maybe another architecture), so it cannot import them. The test
therefore builds the same layer a third time for this machine's own Python and architecture,
with the same script and options, unzips it into an empty directory and runs a Lambda handler
from it under ``python -S`` (no site-packages: only the standard library and the layer). The
two real layers are checked for their contents, the orjson binary's target and their size.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import textwrap
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import build_layer  # noqa: E402

pytestmark = pytest.mark.slow

MAX_UNZIPPED = 5_000_000


def _top_level(zf: zipfile.ZipFile) -> set[str]:
    return {"/".join(name.split("/")[:2]) for name in zf.namelist()}


def _unzipped(zf: zipfile.ZipFile) -> int:
    return sum(info.file_size for info in zf.infolist())


@pytest.fixture(scope="module")
def layers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    out = tmp_path_factory.mktemp("dist")
    wheel = build_layer.obskit_wheel(tmp_path_factory.mktemp("wheel"))
    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    return {
        "x86_64": build_layer.build("3.12", "x86_64", out, wheel=wheel),
        "arm64": build_layer.build("3.12", "arm64", out, wheel=wheel),
        "host": build_layer.build(host, build_layer._host_arch(), out, wheel=wheel),
    }


@pytest.mark.parametrize(("arch", "machine"), [("x86_64", "x86_64"), ("arm64", "aarch64")])
def test_lambda_layers_hold_obskit_and_orjson_for_their_target(layers: dict[str, pathlib.Path], arch: str,
                                                               machine: str) -> None:
    """python/ has obskit, orjson and their metadata, nothing else; orjson is built for CPython 3.12 on the arch."""
    path = layers[arch]
    assert path.name == f"obskit-layer-python3.12-{arch}.zip"
    with zipfile.ZipFile(path) as zf:
        tops = _top_level(zf)
        assert {t for t in tops if not t.endswith(".dist-info")} == {"python/obskit", "python/orjson"}
        assert {t.split("-")[0] for t in tops if t.endswith(".dist-info")} == {"python/obskit", "python/orjson"}
        binaries = [n for n in zf.namelist() if n.endswith(".so")]
        assert binaries
        assert all(f"cpython-312-{machine}-linux-gnu" in n for n in binaries)
        assert "python/obskit/integrations/aws_lambda.py" in zf.namelist()
        assert not [n for n in zf.namelist() if "__pycache__" in n or n.endswith("direct_url.json")]
        assert _unzipped(zf) < MAX_UNZIPPED


def test_obskit_runs_from_the_layer_alone(layers: dict[str, pathlib.Path], tmp_path: pathlib.Path) -> None:
    """Unzipped into an empty directory, the layer runs an instrumented handler under python -S."""
    opt = tmp_path / "opt"
    with zipfile.ZipFile(layers["host"]) as zf:
        zf.extractall(opt)
    program = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(opt / "python")!r})  # what Lambda does with /opt/python
        import obskit, orjson
        from obskit.integrations.aws_lambda import instrument_handler
        assert obskit.__file__.startswith({str(opt)!r}), obskit.__file__
        assert orjson.__file__.startswith({str(opt)!r}), orjson.__file__
        try:
            import structlog
        except ImportError:
            pass
        else:
            raise SystemExit("structlog came from outside the layer")

        class Context:
            function_name = "orders"
            aws_request_id = "req-1"
            invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:orders"
            memory_limit_in_mb = 128
            def get_remaining_time_in_millis(self):
                return 10_000

        log = obskit.get_logger("orders")

        @instrument_handler
        def handler(event, context):
            log.info("order placed", order_id=event["id"])
            obskit.metrics.count("OrderPlaced")
            return {{"statusCode": 200}}

        print(handler({{"id": 7}}, Context()))
    """)
    env = {"AWS_LAMBDA_FUNCTION_NAME": "orders", "LAMBDA_TASK_ROOT": "/var/task", "OBSKIT_SERVICE": "orders",
           "OBSKIT_TRACES": "none", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-S", "-c", program], capture_output=True, text=True, env=env,
                          timeout=60, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "{'statusCode': 200}"
    docs = [json.loads(line) for line in lines[:-1]]
    placed = next(d for d in docs if d.get("message") == "order placed")
    assert placed["order_id"] == 7
    assert placed["function_request_id"] == "req-1"
    emf = [d for d in docs if "_aws" in d]
    assert any("OrderPlaced" in d for d in emf)
    assert any("ColdStart" in d for d in emf)


def test_make_layer_runs_the_builder_for_both_targets() -> None:
    """The Makefile's layer target builds python3.12 for x86_64 and arm64 with this script."""
    done = subprocess.run(["make", "-n", "--no-print-directory", "layer"], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    (command,) = [line for line in done.stdout.splitlines() if "build_layer" in line]
    assert "tools/build_layer.py" in command
    assert "--python 3.12" in command
    assert "--arch x86_64" in command
    assert "--arch arm64" in command
