"""configure(): precedence, validation with specific errors, atomic replacement."""

from __future__ import annotations

import pytest

import obskit
from obskit.config import current_config
from obskit.errors import ConfigError, ObskitWarning


def test_unconfigured_obskit_uses_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before configure(), settings come from the environment."""
    monkeypatch.setenv("OBSKIT_SERVICE", "from-env")
    assert current_config().service == "from-env"
    assert current_config().sources["service"] == "OBSKIT_SERVICE"


def test_argument_beats_obskit_variable_beats_compatible_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """argument > OBSKIT_* > OTEL_/POWERTOOLS_ > AWS_LAMBDA_FUNCTION_NAME > default."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn")
    assert obskit.configure(metrics="none").service == "fn"
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "pt")
    assert obskit.configure(metrics="none").service == "pt"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "otel")
    assert obskit.configure(metrics="none").service == "otel"
    monkeypatch.setenv("OBSKIT_SERVICE", "obskit")
    assert obskit.configure(metrics="none").service == "obskit"
    assert obskit.configure(service="arg", metrics="none").service == "arg"


def test_defaults() -> None:
    """Without arguments or environment, obskit has documented defaults."""
    cfg = obskit.configure()
    assert cfg.service == "unknown_service"
    assert cfg.namespace == "obskit"
    assert cfg.traces == ()
    assert cfg.logs == "json"
    assert cfg.log_level == 20
    assert cfg.propagation == ("tracecontext", "xray", "lambda")
    assert cfg.correlation_headers == ("x-correlation-id", "x-request-id")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"traces": "xrya"}, "did you mean 'xray'"),
        ({"traces": ["xray", "none"]}, "'none' alone"),
        ({"metrics": "cloudwatch"}, "configure(metrics='cloudwatch')"),
        ({"logs": "yaml"}, "'json', 'console', 'none'"),
        ({"log_level": "LOUD"}, "level name"),
        ({"sample_rate": 1.5}, "from 0 to 1"),
        ({"trace_sample_rate": "half"}, "from 0 to 1"),
        ({"trace_reservoir_per_s": 1.5}, "configure(trace_reservoir_per_s=1.5): expected an integer"),
        ({"trace_reservoir_per_s": -1}, "from 0 to 1e+06"),
        ({"namespace": ":bad"}, "CloudWatch namespace"),
        ({"service": ""}, "non-empty string"),
        ({"propagation": ["w3c"]}, "'tracecontext', 'xray', 'lambda'"),
        ({"id_generator": object()}, "trace_id() and span_id()"),
        ({"no_such_option": 1}, "unknown option 'no_such_option'"),
    ],
)
def test_invalid_option_raises_config_error_naming_it(kwargs: dict[str, object], fragment: str) -> None:
    """A bad option raises ConfigError with the option, the value and what is accepted."""
    with pytest.raises(ConfigError) as info:
        obskit.configure(**kwargs)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_bad_environment_variable_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad value from the environment is reported with the variable's name."""
    monkeypatch.setenv("OBSKIT_TRACES", "bogus")
    with pytest.raises(ConfigError, match="OBSKIT_TRACES='bogus'"):
        obskit.configure()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OBSKIT_TRACE_SAMPLE_RATE", "half"),
        ("OBSKIT_SAMPLE_RATE", "2"),
        ("OBSKIT_METRICS", "cloudwatch"),
        ("OBSKIT_LOG_LEVEL", "LOUD"),
        ("OBSKIT_LOGS", "yaml"),
        ("OBSKIT_DEBUG", "maybe"),
    ],
)
def test_every_bad_environment_variable_is_named(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    """The error quotes the variable the value came from, not an argument nobody passed."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        obskit.configure()
    assert f"{variable}={value!r}" in str(info.value)
    assert "configure(" not in str(info.value)


@pytest.mark.parametrize(
    ("variable", "value", "item"),
    [("OBSKIT_PROPAGATION", "tracecontext,w3c", "w3c"), ("OBSKIT_TRACES", "xray,bogus", "bogus")],
)
def test_a_bad_item_of_a_list_is_quoted_with_the_whole_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, item: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        obskit.configure()
    assert f"{variable}={value!r}" in str(info.value)
    assert f"{item!r} is not one" in str(info.value)


@pytest.mark.parametrize("kwargs", [{"traces": "memory"}, {"metrics": "memory"}, {"traces": ["xray", "memory"]}])
def test_memory_emitters_are_for_capture_and_say_so(kwargs: dict[str, object]) -> None:
    """The in-memory emitters need capture()'s lists: asking configure() for them is a ConfigError that points there."""
    with pytest.raises(ConfigError, match=r"obskit\.testing\.capture\(\)"):
        obskit.configure(**kwargs)


def test_trace_reservoir_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """OBSKIT_TRACE_RESERVOIR_PER_S sets the reservoir; it is off (0) by default."""
    assert obskit.configure().trace_reservoir_per_s == 0
    monkeypatch.setenv("OBSKIT_TRACE_RESERVOIR_PER_S", "3")
    cfg = obskit.configure()
    assert cfg.trace_reservoir_per_s == 3
    assert cfg.sources["trace_reservoir_per_s"] == "OBSKIT_TRACE_RESERVOIR_PER_S"
    monkeypatch.setenv("OBSKIT_TRACE_RESERVOIR_PER_S", "many")
    with pytest.raises(ConfigError, match="OBSKIT_TRACE_RESERVOIR_PER_S='many'"):
        obskit.configure()


def test_bad_environment_does_not_break_the_unconfigured_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without configure(), a bad variable is reported once and defaults are used."""
    monkeypatch.setenv("OBSKIT_TRACES", "bogus")
    assert current_config().traces == ()
    assert obskit.diagnostics()["config.implicit_failure"] == 1


def test_disabled_turns_every_emitter_off() -> None:
    """disabled=True leaves no emitter configured."""
    cfg = obskit.configure(disabled=True, traces="none", logs="json")
    assert (cfg.traces, cfg.metrics, cfg.logs) == ((), "none", "none")


def test_traces_auto_is_xray_in_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    """traces='auto' resolves to X-Ray inside Lambda."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    cfg = obskit.config.resolve({})
    assert cfg.in_lambda
    assert cfg.traces == ("xray",)


def test_traces_auto_is_none_outside_aws() -> None:
    """traces='auto' with nothing configured creates no trace emitter."""
    assert obskit.config.resolve({}).traces == ()


def test_lambda_log_level_wins_when_less_verbose(monkeypatch: pytest.MonkeyPatch) -> None:
    """AWS_LAMBDA_LOG_LEVEL less verbose than the configured level wins, with a warning."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", "WARN")
    with pytest.warns(ObskitWarning, match="AWS_LAMBDA_LOG_LEVEL"):
        cfg = obskit.config.resolve({"log_level": "DEBUG"})
    assert cfg.log_level == 30


def test_log_level_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    """OBSKIT_LOG_LEVEL > POWERTOOLS_LOG_LEVEL > LOG_LEVEL > INFO."""
    monkeypatch.setenv("LOG_LEVEL", "ERROR")
    assert obskit.config.resolve({}).log_level == 40
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    assert obskit.config.resolve({}).log_level == 30
    monkeypatch.setenv("OBSKIT_LOG_LEVEL", "debug")
    assert obskit.config.resolve({}).log_level == 10


def test_configure_again_replaces_the_configuration() -> None:
    """A second configure() call replaces the first completely."""
    obskit.configure(service="a", environment="prod", metrics="none")
    obskit.configure(service="b", metrics="none")
    cfg = current_config()
    assert (cfg.service, cfg.environment) == ("b", None)


def test_asking_for_an_unavailable_emitter_fails_at_configure_time() -> None:
    """An emitter name that resolves to nothing raises ConfigError, never later."""
    with pytest.raises(ConfigError, match=r"configure\(traces='nope'\): expected one of"):
        obskit.configure(traces="nope")


def test_traces_auto_ignores_otel_variables_without_an_exporter_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT alone does not select OpenTelemetry when no OTLP exporter is installed."""
    import importlib.util

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    try:
        installed = importlib.util.find_spec("opentelemetry.exporter.otlp") is not None
    except ModuleNotFoundError:
        installed = False
    expected = ("otel",) if installed else ()
    assert obskit.config.resolve({}).traces == expected


def test_traces_auto_picks_otel_for_the_console_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    """OTEL_TRACES_EXPORTER=console selects OpenTelemetry when the SDK is installed."""
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    assert obskit.config.resolve({}).traces == ("otel",)
