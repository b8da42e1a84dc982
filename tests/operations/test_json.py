"""The standard-library serialiser (a core install without orjson): non-finite floats become null, counted."""

from __future__ import annotations

import json

import pytest

from operations._listeners import figures, spawn

pytestmark = pytest.mark.slow

CHILD = """
import json, sys
import obskit
obskit.configure(service="svc", metrics="none", log_serializer="json")
log = obskit.get_logger("job")
for v in (float("nan"), float("inf"), -float("inf"), 1.5):
    log.info("measured", value=v, nested={"ratio": v, "list": [v, 2]})
obskit.shutdown()
sys.stderr.write("COUNTERS " + json.dumps(dict(obskit.diagnostics())) + "\\n")
"""


def _strict(line: bytes) -> dict[str, object]:
    def refuse(name: str) -> object:
        raise ValueError(f"not JSON: {name}")

    return json.loads(line, parse_constant=refuse)  # type: ignore[no-any-return]


def test_nan_and_infinity_are_written_as_null_and_counted() -> None:
    proc = spawn(CHILD)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    lines = [d for d in (_strict(line) for line in out.splitlines() if line.strip()) if d["message"] == "measured"]
    counters = json.loads(err.decode().split("COUNTERS ", 1)[1])
    produced = 9  # non-finite values logged: three lines, three each
    nulls = sum(1 for d in lines for v in (d["value"], d["nested"]["ratio"], d["nested"]["list"][0])  # type: ignore[index]
                if v is None)
    counted = counters.get("logs.clipped.non_finite", 0)
    assert len(lines) == 4, out.decode()
    assert nulls == counted == produced, figures(produced, nulls, counted, counters)
    assert lines[3]["value"] == 1.5
