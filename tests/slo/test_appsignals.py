"""``--format application-signals``: the same SLOs as CloudWatch Application Signals SLO resources."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from cfnlint.api import ManualArgs, lint

from obskit.cli import main
from obskit.errors import SLOSpecError
from obskit.slo.alarms import build
from obskit.slo.appsignals import to_cloudformation, to_resources
from obskit.slo.render import to_api
from obskit.slo.spec import load, parse

NAME = re.compile(r"^[0-9A-Za-z][-._0-9A-Za-z ]{0,126}[0-9A-Za-z]$")


def _lint(text: str) -> list[str]:
    return [str(m) for m in lint(text, config=ManualArgs(regions=["eu-west-1"]))]


def test_example_is_cfn_lint_clean(example: Path) -> None:
    """cfn-lint validates every SLO of the example against the resource schema it ships: no findings."""
    text = to_cloudformation(load(example))
    assert _lint(text) == []
    resources = yaml.safe_load(text)["Resources"]
    assert len(resources) == 5
    assert {r["Type"] for r in resources.values()} == {"AWS::ApplicationSignals::ServiceLevelObjective"}
    assert all(NAME.match(r["Properties"]["Name"]) for r in resources.values())


@pytest.mark.parametrize(("path", "value", "rule"), [
    (("Goal", "Interval", "RollingInterval", "DurationUnit"), "FORTNIGHT", "E3030"),
    (("BurnRateConfigurations",), [{"LookBackWindowMinutes": m} for m in range(1, 12)], "E3032"),
    (("BurnRateConfigurations",), [{"LookBackWindowMinutes": 20_000}], "E3034"),
])
def test_cfn_lint_checks_the_shipped_schema(example: Path, path: tuple[str, ...], value: object, rule: str) -> None:
    """The installed cfn-lint knows the resource: a bad unit, 11 windows or a 2-week window are findings."""
    template = yaml.safe_load(to_cloudformation(load(example)))
    props = template["Resources"]["SLOAvailability"]["Properties"]
    for key in path[:-1]:
        props = props[key]
    props[path[-1]] = value
    findings = _lint(json.dumps(template))
    assert any(rule in f for f in findings), findings


def test_slis_read_the_alarms_statistics_and_windows(example: Path) -> None:
    """Each SLO reads the metrics, dimensions and statistics its alarms read, with a burn rate per alert window."""
    config = load(example)
    metric_params, _ = to_api(build(config))
    resources = to_resources(config)
    for slo in config.slos:
        props = next(r["Properties"] for r in resources.values() if r["Properties"]["Name"].endswith("-" + slo.name))
        sli = props["RequestBasedSli"]["RequestBasedSliMetric"]
        queries = [*sli["TotalRequestCountMetric"], *next(iter(sli["MonitoredRequestCountMetric"].values()))]
        stats = {json.dumps({**q["MetricStat"], "Period": 0}, sort_keys=True) for q in queries if "MetricStat" in q}
        alarm = next(p for p in metric_params if p["AlarmName"].endswith(f"/{slo.name}/page-1h"))
        alarm_stats = {json.dumps({**m["MetricStat"], "Period": 0}, sort_keys=True)
                       for m in alarm["Metrics"] if "MetricStat" in m}
        assert stats == alarm_stats, slo.name
        windows = sorted({s // 60 for w in slo.alerting.windows for s in (w.long_s, w.short_s)})
        assert [b["LookBackWindowMinutes"] for b in props["BurnRateConfigurations"]] == windows
        assert props["Goal"]["AttainmentGoal"] == slo.objective
        assert props["Goal"]["Interval"]["RollingInterval"] == {"Duration": 30, "DurationUnit": "DAY"}


def test_percentage_slis_become_good_counts(example: Path) -> None:
    """Latency reads PR(:300) like its alarms: good requests = that percentage x the request count."""
    props = to_resources(load(example))["SLOLatency"]["Properties"]
    good = props["RequestBasedSli"]["RequestBasedSliMetric"]["MonitoredRequestCountMetric"]["GoodCountMetric"]
    assert [q["MetricStat"]["Stat"] for q in good if "MetricStat" in q] == ["PR(:300)", "SampleCount"]
    assert [(q["Expression"], q["ReturnData"]) for q in good if "Expression" in q] == [
        ("good_pct * total / 100", True)]
    assert "WarningThreshold" not in props["Goal"]
    warned = to_resources(load(example))["SLOAvailability"]["Properties"]["Goal"]
    assert warned["WarningThreshold"] == 25  # budget_remaining.below_percent


def test_more_windows_than_application_signals_takes_are_refused() -> None:
    """Six tiers with twelve distinct windows: located at the SLO's alerting, with a fix."""
    windows = ", ".join(f"{{severity: ticket, long: {h}h, short: {h * 5}m, burn_rate: 1}}" for h in range(1, 7))
    config = parse(f"service: s\nslos:\n  - name: a\n    objective: 99\n    sli: {{kind: availability}}\n"
                   f"    alerting: {{windows: [{windows}]}}\n")
    with pytest.raises(SLOSpecError) as info:
        to_resources(config)
    (problem,) = info.value.problems
    assert problem.field == "slos[0].alerting"
    assert "Application Signals takes 10 burn-rate windows" in problem.message


def test_generate_writes_it(example: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`obskit slo generate -f application-signals` writes the template; with --with-dashboard it refuses."""
    out = tmp_path / "slo.yaml"
    assert main(["slo", "generate", str(example), "-f", "application-signals", "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == to_cloudformation(load(example))
    assert main(["slo", "generate", str(example), "-f", "application-signals", "--with-dashboard"]) == 2
    assert "alarm formats" in capsys.readouterr().err
