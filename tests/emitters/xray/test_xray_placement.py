"""Annotations vs metadata as the user chooses, metadata namespaces, ColdStart/Service, HTTP host names."""

from __future__ import annotations

from typing import Any

import pytest

import obskit
from obskit import semconv
from obskit.integrations.aws_lambda import instrument_handler

from .conftest import Daemon


def configure(daemon: Daemon, **kwargs: Any) -> None:
    obskit.configure(service="checkout", traces="xray", xray_daemon_address=daemon.address, **kwargs)


def test_annotation_true_and_false_override_the_automatic_rule(daemon: Daemon) -> None:
    """annotation=False keeps an indexable value out of the annotations; annotation=True asks for one."""
    configure(daemon)
    with obskit.span("GET /", kind="server") as span:
        span.set_attribute("customer_id", "c-42", annotation=False)
        span.set_attribute("tier", "gold", annotation=True)
        span.set_attribute("paid", True)
    (doc,) = daemon.receive()
    assert doc["annotations"] == {"tier": "gold", "paid": True}
    assert doc["metadata"]["default"] == {"customer_id": "c-42"}


def test_annotation_true_with_a_key_xray_refuses_stays_metadata(daemon: Daemon) -> None:
    """X-Ray annotation keys are letters, digits and '_': another key stays metadata, counted."""
    configure(daemon)
    with obskit.span("GET /", kind="server") as span:
        span.set_attribute("order.id", "o-1", annotation=True)
        span.set_attribute("items", [1, 2], annotation=True)
    (doc,) = daemon.receive()
    assert "annotations" not in doc
    assert doc["metadata"]["default"] == {"order.id": "o-1", "items": [1, 2]}
    assert obskit.diagnostics()["xray.annotation_refused"] == 2


def test_metadata_namespaces_and_dict_values(daemon: Daemon) -> None:
    """set_metadata writes under its namespace; a dict attribute is kept as metadata, both redacted."""
    configure(daemon)
    with obskit.span("GET /", kind="server"), obskit.span("charge") as span:
        span.set_metadata("charge", {"amount": 12, "card": {"token": "tok_1"}}, namespace="payments")
        span.set_attribute("request", {"items": 3, "password": "hunter2"})
    (doc,) = daemon.receive()
    sub = doc["subsegments"][0]
    assert sub["metadata"]["payments"] == {"charge": {"amount": 12, "card": {"token": semconv.LOG_REDACTED}}}
    assert sub["metadata"]["default"] == {"request": {"items": 3, "password": semconv.LOG_REDACTED}}


def test_segment_metadata_keeps_obskit_block_beside_the_users(daemon: Daemon) -> None:
    configure(daemon)
    with obskit.span("GET /", kind="server") as span:
        span.set_metadata("k", [1, 2], namespace="mine")
    (doc,) = daemon.receive()
    assert doc["metadata"]["mine"] == {"k": [1, 2]}
    assert doc["metadata"]["obskit"]["span_name"] == "GET /"


def test_lambda_span_has_coldstart_and_service_annotations(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    """Filter expressions Powertools users have (annotation.ColdStart = true, annotation.Service) keep working."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orders")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
    configure(daemon)

    @instrument_handler(capture_response=True)
    def handler(event: Any, context: Any) -> dict[str, Any]:
        return {"ok": True}

    handler({}, None)
    docs = daemon.receive()
    (sub,) = [d for d in docs if d.get("annotations", {}).get("ColdStart") is not None]
    assert sub["annotations"]["ColdStart"] is True
    assert sub["annotations"]["Service"] == "checkout"
    assert sub["metadata"]["checkout"] == {"handler response": {"ok": True}}


def test_http_client_subsegment_is_named_by_its_host(daemon: Daemon) -> None:
    """A client span named 'GET' (OpenTelemetry's HTTP rule) shows in the service map as its host."""
    configure(daemon)
    with obskit.span("GET /", kind="server"), obskit.span("GET", kind="client", attributes={
        semconv.ATTR_HTTP_METHOD: "GET", semconv.ATTR_SERVER_ADDRESS: "api.example.com",
        semconv.ATTR_URL_FULL: "https://api.example.com/p",
    }):
        pass
    sub = daemon.receive()[0]["subsegments"][0]
    assert sub["name"] == "api.example.com"
    assert sub["namespace"] == "remote"


def test_current_span_annotates_like_put_annotation(daemon: Daemon) -> None:
    """Powertools' tracer.put_annotation/put_metadata inside a capture_method: obskit.current_span()."""
    configure(daemon)

    @obskit.span()
    def charge() -> None:
        obskit.current_span().set_attribute("payment_id", "p-1", annotation=True)
        obskit.current_span().set_metadata("card", {"brand": "visa"}, namespace="payments")

    with obskit.span("GET /", kind="server"):
        charge()
    sub = daemon.receive()[0]["subsegments"][0]
    assert sub["annotations"] == {"payment_id": "p-1"}
    assert sub["metadata"]["payments"] == {"card": {"brand": "visa"}}


def test_stop_using_aws_xray_sdk_restores_the_recorder() -> None:
    """use_with_aws_xray_sdk reconfigures a recorder; stop_using_aws_xray_sdk gives it its own settings back."""
    from aws_xray_sdk.core import xray_recorder as recorder  # the SDK's global one (conftest closes its socket)

    from obskit.emitters.xray import stop_using_aws_xray_sdk, use_with_aws_xray_sdk

    before = (recorder.context, recorder.streaming_threshold, recorder.sampling)
    use_with_aws_xray_sdk()
    use_with_aws_xray_sdk()  # twice: still undone in one call
    assert recorder.context is not before[0]
    assert (recorder.streaming_threshold, recorder.sampling) == (0, False)
    stop_using_aws_xray_sdk()
    assert (recorder.context, recorder.streaming_threshold, recorder.sampling) == before
    stop_using_aws_xray_sdk()  # nothing left to undo
    assert recorder.context is before[0]
