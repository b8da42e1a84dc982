"""Metric options Powertools users expect: default dimensions, single_metric, dimension names, switches."""

from __future__ import annotations

from typing import Any

import pytest

import obskit
from obskit import metrics
from obskit.errors import ConfigError
from obskit.testing import capture


def _docs(cap: Any, name: str) -> list[dict[str, Any]]:
    return [d for d in cap.metrics if name in d]


def _dims(doc: dict[str, Any]) -> list[list[str]]:
    return doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"]  # type: ignore[no-any-return]


def test_default_dimensions_go_on_every_metric() -> None:
    """configure(metrics_default_dimensions=...) adds the keys after Service to every dimension set."""
    obskit.configure(service="orders", metrics_default_dimensions={"Team": "payments", "Tier": "gold"})
    with capture() as cap:
        metrics.count("OrderPlaced", dimensions={"Channel": "web"})
        metrics.record("Basket", 3)
        metrics.flush()
    (placed,) = _docs(cap, "OrderPlaced")
    assert _dims(placed) == [["Service", "Team", "Tier", "Channel"]]
    assert (placed["Team"], placed["Tier"], placed["Channel"]) == ("payments", "gold", "web")
    (basket,) = _docs(cap, "Basket")
    assert _dims(basket) == [["Service", "Team", "Tier"]]


def test_a_call_overrides_a_default_dimension() -> None:
    """A call's own value for a default key wins, in its own document; other calls keep the default."""
    obskit.configure(service="orders", metrics_default_dimensions={"Team": "payments"})
    with capture() as cap:
        metrics.count("Refund", dimensions={"Team": "support"})
        metrics.count("Refund")
        metrics.count("Mixed", dimensions=[{}, {"Team": "support"}])
        metrics.flush()
    teams = sorted(d["Team"] for d in _docs(cap, "Refund"))
    assert teams == ["payments", "support"]
    assert all(_dims(d) == [["Service", "Team"]] for d in _docs(cap, "Refund"))
    # one set keeps the default, the other overrides it: they cannot share a document
    assert sorted(d["Team"] for d in _docs(cap, "Mixed")) == ["payments", "support"]


def test_default_dimensions_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """OBSKIT_METRICS_DEFAULT_DIMENSIONS takes Key=value pairs."""
    monkeypatch.setenv("OBSKIT_METRICS_DEFAULT_DIMENSIONS", "Team=payments, Tier=gold")
    cfg = obskit.configure(service="orders")
    assert dict(cfg.option("metrics_default_dimensions")) == {"Team": "payments", "Tier": "gold"}


@pytest.mark.parametrize("value", [{"": "x"}, {"Team": ""}, {"Team": "é"}, {":x": "y"}, "Team", 7,
                                   {f"K{i}": "v" for i in range(29)}])
def test_bad_default_dimensions_fail_at_configure_time(value: Any) -> None:
    """A dimension CloudWatch would reject is a ConfigError naming the option."""
    with pytest.raises(ConfigError, match="metrics_default_dimensions"):
        obskit.configure(metrics_default_dimensions=value)


def test_single_metric_has_its_own_namespace_and_only_its_dimensions() -> None:
    """single_metric writes a document of its own: another namespace, exactly the dimensions given."""
    obskit.configure(service="orders", namespace="Shop", metrics_default_dimensions={"Team": "payments"})
    with capture() as cap:
        metrics.count("OrderPlaced")
        metrics.single_metric("Refund", 2, "Count", namespace="Finance", dimensions={"Reason": "late"},
                              default_dimensions=False)
        metrics.single_metric("Audit", 1, "Count")
        metrics.flush()
    (refund,) = _docs(cap, "Refund")
    directive = refund["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Finance"
    assert directive["Dimensions"] == [["Reason"]]
    assert "Service" not in refund
    assert "Team" not in refund
    assert directive["Metrics"] == [{"Name": "Refund", "Unit": "Count"}]
    (audit,) = _docs(cap, "Audit")
    assert audit["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Shop"
    assert _dims(audit) == [["Service", "Team"]]
    assert "Refund" not in _docs(cap, "OrderPlaced")[0]


def test_single_metric_never_raises_on_bad_input() -> None:
    """A bad namespace or value is dropped and counted, as record() does."""
    with capture() as cap:
        metrics.single_metric("X", 1, namespace="")
        metrics.single_metric("Y", float("nan"))
        metrics.single_metric("Z", 1, dimensions=["not", "a", "mapping"])  # type: ignore[arg-type]
    diag = obskit.diagnostics()
    assert diag["metrics.dropped.invalid_namespace"] == 1
    assert diag["metrics.dropped.non_finite"] == 1
    assert diag["metrics.clipped.not_a_mapping"] == 1
    assert [d for d in cap.metrics if "Z" in d]  # written with the default dimensions only


def test_powertools_dimension_names() -> None:
    """metrics_dimension_names='powertools' writes the service dimension as Powertools does: 'service'."""
    obskit.configure(service="orders", metrics_dimension_names="powertools")
    with capture() as cap:
        metrics.count("OrderPlaced", dimensions={"Channel": "web"})
        metrics.flush()
    (doc,) = _docs(cap, "OrderPlaced")
    assert _dims(doc) == [["service", "Channel"]]
    assert doc["service"] == "orders"


def test_powertools_cold_start_document() -> None:
    """In Powertools mode ColdStart is its own document with exactly function_name and service."""
    obskit.configure(service="orders", metrics_dimension_names="powertools", environment="prod",
                     metrics_default_dimensions={"Team": "payments"})
    with capture() as cap:
        metrics.record_cold_start("orders-fn")
    (doc,) = _docs(cap, "ColdStart")
    assert _dims(doc) == [["function_name", "service"]]
    assert (doc["function_name"], doc["service"]) == ("orders-fn", "orders")


def test_metrics_function_name_overrides_the_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """POWERTOOLS_METRICS_FUNCTION_NAME names the function of ColdStart, as in Powertools."""
    monkeypatch.setenv("POWERTOOLS_METRICS_FUNCTION_NAME", "checkout")
    obskit.configure(service="orders")
    with capture() as cap:
        metrics.record_cold_start("orders-fn")
        metrics.flush()
    (doc,) = _docs(cap, "ColdStart")
    assert doc["FunctionName"] == "checkout"


@pytest.mark.parametrize("value", ["obskit", "POWERTOOLS"])
def test_dimension_names_accepts_its_two_values(value: str) -> None:
    assert obskit.configure(metrics_dimension_names=value).option("metrics_dimension_names") == value.lower()


def test_dimension_names_rejects_others() -> None:
    with pytest.raises(ConfigError, match=r"'obskit'.*'powertools'"):
        obskit.configure(metrics_dimension_names="otel")


def test_powertools_metrics_disabled_turns_metrics_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """POWERTOOLS_METRICS_DISABLED=true: no metric emitter, unless obskit's own setting chose one."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    cfg = obskit.configure()
    assert cfg.metrics == "none"
    assert cfg.sources["metrics"] == "POWERTOOLS_METRICS_DISABLED"
    assert obskit.configure(metrics="stdout").metrics == "stdout"
    monkeypatch.setenv("OBSKIT_METRICS", "stdout")
    assert obskit.configure().metrics == "stdout"


def test_powertools_metrics_disabled_false_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    assert obskit.configure().metrics == "stdout"


def test_powertools_trace_disabled_turns_traces_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """POWERTOOLS_TRACE_DISABLED=true: no trace emitter even in Lambda, where 'auto' would pick X-Ray."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    assert obskit.configure().traces == ("xray",)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    cfg = obskit.configure()
    assert cfg.traces == ()
    assert cfg.sources["traces"] == "POWERTOOLS_TRACE_DISABLED"
    assert obskit.configure(traces="xray").traces == ("xray",)
