"""The ``obskit`` command, run as ``python -m obskit`` in a subprocess: output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "slo.yaml"

pytestmark = pytest.mark.slow


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "obskit", *args], check=False, capture_output=True, text=True,
                          timeout=60, env=env, cwd=ROOT)


def test_validate_ok() -> None:
    """validate prints a summary and exits 0 for a valid file."""
    out = _run("slo", "validate", str(EXAMPLE))
    assert out.returncode == 0
    assert "OK: 5 SLOs" in out.stdout


def test_validate_reports_every_problem_and_exits_2(tmp_path: Path) -> None:
    """A bad file prints every FILE:LINE problem on stderr, no traceback, and exits 2."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("service: a\nslos:\n  - name: x\n    objective: 120\n    sli: {kind: nope}\n    extra: 1\n")
    out = _run("slo", "validate", str(bad))
    assert out.returncode == 2
    lines = out.stderr.splitlines()
    assert lines[:3] == [
        f"{bad}:4: slos[0].objective: 120 is outside (0, 100); a percentage strictly between 0 and 100, e.g. 99.9",
        f"{bad}:5: slos[0].sli.kind: unknown kind 'nope'; use one of: availability, latency, ratio, synthetic",
        f"{bad}:6: slos[0].extra: unknown key; allowed keys: alerting, description, expected_rps, name, "
        "objective, operation, sli",
    ]
    assert lines[-1] == "obskit: 3 problems found"
    assert "Traceback" not in out.stderr


def test_yaml_syntax_error_exits_2(tmp_path: Path) -> None:
    """A YAML syntax error is reported with its position and exit status 2."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("service: a\nslos: [\n")
    out = _run("slo", "validate", str(bad))
    assert out.returncode == 2
    assert f"{bad}:3: (yaml): syntax error" in out.stderr


def test_missing_file_exits_2(tmp_path: Path) -> None:
    """A file that does not exist is a located problem, not a traceback."""
    out = _run("slo", "validate", str(tmp_path / "nope.yaml"))
    assert out.returncode == 2
    assert "cannot be read" in out.stderr


@pytest.mark.parametrize(("fmt", "parse"), [("cloudformation", yaml.safe_load),
                                            ("cloudformation-json", json.loads), ("terraform", json.loads)])
def test_generate_writes_each_format(tmp_path: Path, fmt: str, parse) -> None:
    """generate -f FORMAT -o OUT writes a parseable document of that format."""
    out_file = tmp_path / "out"
    out = _run("slo", "generate", str(EXAMPLE), "--format", fmt, "-o", str(out_file))
    assert out.returncode == 0, out.stderr
    doc = parse(out_file.read_text())
    assert "Resources" in doc or "resource" in doc


def test_generate_to_stdout() -> None:
    """Without -o the template goes to standard output."""
    out = _run("slo", "generate", str(EXAMPLE))
    assert out.returncode == 0
    assert yaml.safe_load(out.stdout)["AWSTemplateFormatVersion"] == "2010-09-09"


def test_explain_and_schema() -> None:
    """explain prints a table per SLO; schema prints JSON Schema."""
    explain = _run("slo", "explain", str(EXAMPLE))
    assert explain.returncode == 0
    assert explain.stdout.count("error budget:") == 5
    schema = _run("slo", "schema")
    assert json.loads(schema.stdout)["title"] == "obskit SLO file"


def test_usage_errors_exit_2() -> None:
    """No command, or an unknown format, is a usage error with status 2."""
    assert _run().returncode == 2
    assert _run("slo").returncode == 2
    assert _run("slo", "generate", str(EXAMPLE), "--format", "pulumi").returncode == 2


def test_console_script_is_the_same_command() -> None:
    """The installed `obskit` script runs the same main()."""
    script = Path(sys.executable).with_name("obskit")
    out = subprocess.run([str(script), "--version"], check=False, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert out.stdout.startswith("obskit ")


def test_apply_dry_run_changes_nothing(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """apply --dry-run prints what it would create from describe_alarms, exits 0 and writes nothing.

    In-process (moto's mock works inside this process only); the other tests run the real command.
    """
    import boto3
    from moto import mock_aws

    from obskit.cli import main

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    with mock_aws():
        status = main(["slo", "apply", str(EXAMPLE), "--dry-run", "--region", "eu-west-1"])
        left = boto3.client("cloudwatch", region_name="eu-west-1").describe_alarms()["MetricAlarms"]
    out = capsys.readouterr().out
    assert status == 0
    assert left == []
    assert "+ create metric alarm obskit-prod/checkout-api/availability/page-1h" in out
    assert out.rstrip().endswith("dry run: 48 to create, 0 to update, 0 to delete, 0 unchanged; nothing was changed")


def test_aws_failure_exits_1_without_traceback(tmp_path: Path) -> None:
    """When AWS cannot be reached, apply says why and exits 1."""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_MAX_ATTEMPTS": "1"}
    out = _run("slo", "apply", str(EXAMPLE), "--dry-run", "--region", "eu-west-1", env=env)
    assert out.returncode == 1
    assert out.stderr.startswith("obskit: ")
    assert "Traceback" not in out.stderr
