"""obskit.integrations.botocore against moto (SQS, SNS, EventBridge) and botocore's Stubber (Lambda)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.exceptions
import pytest
from botocore.stub import Stubber
from moto import mock_aws

import obskit
from obskit.integrations import botocore as obskit_botocore
from obskit.integrations.sqs import record_scope
from obskit.semconv import (
    ATTR_AWS_REQUEST_ID,
    ATTR_CLOUD_REGION,
    ATTR_ERROR_TYPE,
    ATTR_HTTP_STATUS,
    ATTR_MESSAGING_DESTINATION,
    ATTR_MESSAGING_MESSAGE_ID,
    ATTR_RPC_METHOD,
    ATTR_RPC_SERVICE,
    ATTR_RPC_SYSTEM,
)
from obskit.testing import capture

RECEIVE = {"MessageSystemAttributeNames": ["AWSTraceHeader"], "MessageAttributeNames": ["All"]}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """Fake credentials, a region, moto, and an instrumented boto3 session."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        yield obskit_botocore.instrument(boto3.Session())


@pytest.fixture
def queue(aws: boto3.Session) -> tuple[Any, str]:
    sqs = aws.client("sqs")
    return sqs, sqs.create_queue(QueueName="orders")["QueueUrl"]


def _request() -> obskit.activate:
    """The context of an incoming request: a trace and a correlation id."""
    return obskit.activate(obskit.new_trace(correlation_id="order-42"))


def _receive(sqs: Any, url: str) -> dict[str, Any]:
    return sqs.receive_message(QueueUrl=url, **RECEIVE)["Messages"][0]  # type: ignore[no-any-return]


def _xray(trace_id: str, span_id: str) -> str:
    return f"Root=1-{trace_id[:8]}-{trace_id[8:]};Parent={span_id};Sampled=1"


def _attrs(n: int) -> dict[str, Any]:
    return {f"user{i}": {"DataType": "String", "StringValue": str(i)} for i in range(n)}


def _sent_bodies(client: Any, event: str) -> list[bytes]:
    """Record the serialized request bodies botocore sends (a handler after obskit's)."""
    bodies: list[bytes] = []
    client.meta.events.register(event, lambda params, **_: bodies.append(params["body"]))
    return bodies


# --- SQS ------------------------------------------------------------------------------------
def test_sqs_message_arrives_with_trace_header_and_attributes(queue: tuple[Any, str]) -> None:
    """A message sent inside a span carries AWSTraceHeader, traceparent and x-correlation-id."""
    sqs, url = queue
    with capture() as cap, _request():
        sqs.send_message(QueueUrl=url, MessageBody="hi")
    message = _receive(sqs, url)
    send = cap.spans_named("SQS.SendMessage")[0]
    assert message["Attributes"]["AWSTraceHeader"] == _xray(send["trace_id"], send["span_id"])
    assert message["MessageAttributes"]["traceparent"]["StringValue"].startswith(
        f"00-{send['trace_id']}-{send['span_id']}-"
    )
    assert message["MessageAttributes"]["x-correlation-id"] == {"StringValue": "order-42", "DataType": "String"}


def test_receiving_with_record_scope_continues_trace_and_correlation(queue: tuple[Any, str]) -> None:
    """The consumer's span and log lines carry the producer's trace id and correlation id."""
    sqs, url = queue
    with capture() as cap:
        with _request() as ctx:
            sqs.send_message(QueueUrl=url, MessageBody="hi")
        message = _receive(sqs, url)
        with record_scope(message, queue="orders"):
            obskit.get_logger("consumer").info("consumed")
    line = cap.logs_with(message="consumed")[0]
    assert (line["trace_id"], line["correlation_id"]) == (ctx.trace_id, "order-42")
    process = cap.spans_named("process orders")[0]
    send = cap.spans_named("SQS.SendMessage")[0]
    assert process["parent_span_id"] == send["span_id"]
    assert process["links"][0]["span_id"] == send["span_id"]


def test_client_span_has_the_aws_block_attributes(queue: tuple[Any, str]) -> None:
    """The call's span names service, operation, region, request id, status, queue and message id."""
    sqs, url = queue
    with capture() as cap, obskit.span("checkout") as parent:
        sent = sqs.send_message(QueueUrl=url, MessageBody="hi")
    span = cap.spans_named("SQS.SendMessage")[0]
    attrs = span["attributes"]
    assert span["kind"] == "client"
    assert span["parent_span_id"] == parent.span_id
    rpc = (attrs[ATTR_RPC_SYSTEM], attrs[ATTR_RPC_SERVICE], attrs[ATTR_RPC_METHOD])
    assert rpc == ("aws-api", "SQS", "SendMessage")
    assert attrs[ATTR_CLOUD_REGION] == "eu-west-1"
    assert attrs[ATTR_AWS_REQUEST_ID] == sent["ResponseMetadata"]["RequestId"]
    assert attrs[ATTR_HTTP_STATUS] == 200
    assert attrs[ATTR_MESSAGING_DESTINATION] == "orders"
    assert attrs[ATTR_MESSAGING_MESSAGE_ID] == sent["MessageId"]


def test_user_attributes_of_any_spelling_or_type_are_kept(queue: tuple[Any, str]) -> None:
    """A caller's Traceparent (Binary) and x-correlation-id are sent unchanged and counted as skipped."""
    sqs, url = queue
    mine = {
        "Traceparent": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        "x-correlation-id": {"DataType": "String", "StringValue": "mine"},
    }
    with capture(), _request():
        sqs.send_message(QueueUrl=url, MessageBody="hi", MessageAttributes=mine)
    got = _receive(sqs, url)["MessageAttributes"]
    assert set(got) == {"Traceparent", "x-correlation-id"}
    assert got["Traceparent"]["BinaryValue"] == b"\x00\x01"
    assert got["x-correlation-id"]["StringValue"] == "mine"
    assert obskit.diagnostics()["integrations.aws.skipped.user_value"] == 2


def test_callers_attribute_dict_is_not_mutated(queue: tuple[Any, str]) -> None:
    """obskit adds to a copy, so a dict the caller reuses never carries stale ids."""
    sqs, url = queue
    mine = _attrs(1)
    with capture(), _request():
        sqs.send_message(QueueUrl=url, MessageBody="hi", MessageAttributes=mine)
    assert mine == _attrs(1)


def test_message_with_ten_attributes_is_not_pushed_over_the_limit(queue: tuple[Any, str]) -> None:
    """Ten user attributes are sent as they are (the call succeeds); both of ours are counted as skipped."""
    sqs, url = queue
    with capture() as cap, _request():
        sqs.send_message(QueueUrl=url, MessageBody="hi", MessageAttributes=_attrs(10))
    message = _receive(sqs, url)
    assert set(message["MessageAttributes"]) == set(_attrs(10))
    assert obskit.diagnostics()["integrations.aws.skipped.attribute_limit"] == 2
    send = cap.spans_named("SQS.SendMessage")[0]
    assert message["Attributes"]["AWSTraceHeader"] == _xray(send["trace_id"], send["span_id"])


def test_ninth_attribute_slot_goes_to_the_correlation_id(queue: tuple[Any, str]) -> None:
    """With nine user attributes, the correlation id takes the last slot (AWSTraceHeader carries the trace)."""
    sqs, url = queue
    with capture(), _request():
        sqs.send_message(QueueUrl=url, MessageBody="hi", MessageAttributes=_attrs(9))
    got = _receive(sqs, url)["MessageAttributes"]
    assert len(got) == 10
    assert got["x-correlation-id"]["StringValue"] == "order-42"
    assert "traceparent" not in got


def test_message_at_the_size_limit_gets_no_attributes(queue: tuple[Any, str]) -> None:
    """A body 20 bytes under 256 KiB is sent as is: adding attributes would have made it invalid."""
    sqs, url = queue
    body = "x" * (262_144 - 20)
    with capture(), _request():
        sqs.send_message(QueueUrl=url, MessageBody=body)
    message = _receive(sqs, url)
    assert "MessageAttributes" not in message
    assert obskit.diagnostics()["integrations.aws.skipped.size_limit"] == 2


def test_user_aws_trace_header_is_kept(queue: tuple[Any, str]) -> None:
    """A caller's AWSTraceHeader system attribute wins."""
    sqs, url = queue
    mine = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
    system = {"AWSTraceHeader": {"DataType": "String", "StringValue": mine}}
    with capture(), _request():
        sqs.send_message(QueueUrl=url, MessageBody="hi", MessageSystemAttributes=system)
    assert _receive(sqs, url)["Attributes"]["AWSTraceHeader"] == mine


def test_batch_entries_each_get_the_context(queue: tuple[Any, str]) -> None:
    """SendMessageBatch adds the attributes to every entry that has room, and to none that is full.

    moto drops the system attributes of batch entries, so AWSTraceHeader is checked on the request.
    """
    sqs, url = queue
    bodies = _sent_bodies(sqs, "before-call.sqs.SendMessageBatch")
    entries = [
        {"Id": "a", "MessageBody": "a"},
        {"Id": "b", "MessageBody": "b", "MessageAttributes": _attrs(10)},
    ]
    with capture(), _request():
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    got = {m["Body"]: m for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, **RECEIVE)["Messages"]}
    assert got["a"]["MessageAttributes"]["x-correlation-id"]["StringValue"] == "order-42"
    assert "traceparent" in got["a"]["MessageAttributes"]
    assert set(got["b"]["MessageAttributes"]) == set(_attrs(10))
    sent = json.loads(bodies[0])["Entries"]
    assert all("AWSTraceHeader" in e["MessageSystemAttributes"] for e in sent)
    assert "MessageAttributes" not in entries[0]


def test_lambda_lineage_is_kept_in_aws_trace_header(queue: tuple[Any, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """In Lambda, AWSTraceHeader keeps the invocation's Lineage (recursive-loop detection reads it)."""
    sqs, url = queue
    monkeypatch.setenv("_X_AMZN_TRACE_ID", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;"
                                           "Sampled=1;Lineage=a87bd80c:1")
    with capture(), _request():
        sqs.send_message(QueueUrl=url, MessageBody="hi")
    assert _receive(sqs, url)["Attributes"]["AWSTraceHeader"].endswith(";Lineage=a87bd80c:1")


def test_failed_call_raises_unchanged_and_marks_the_span(aws: boto3.Session) -> None:
    """A ClientError reaches the caller; the span has status error and the AWS error code."""
    sqs = aws.client("sqs")
    with capture() as cap, pytest.raises(botocore.exceptions.ClientError):
        sqs.get_queue_url(QueueName="missing")
    span = cap.spans_named("SQS.GetQueueUrl")[0]
    assert span["status"] == "error"
    assert span["attributes"][ATTR_ERROR_TYPE] == "AWS.SimpleQueueService.NonExistentQueue"


def test_invalid_parameters_still_end_the_span(aws: boto3.Session) -> None:
    """botocore rejecting the parameters raises as usual, and the started span ends as not sent."""
    sqs = aws.client("sqs")
    with capture() as cap:
        try:
            sqs.send_message(QueueUrl="https://sqs.eu-west-1.amazonaws.com/123456789012/orders")
        except botocore.exceptions.ParamValidationError:
            pass
    span = cap.spans_named("SQS.SendMessage")[0]
    assert span["attributes"][ATTR_ERROR_TYPE] == "NotSent"


def test_connection_error_is_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unreachable endpoint raises EndpointConnectionError; the span records the exception."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    config = botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=1)
    sqs = obskit_botocore.instrument(
        boto3.Session(region_name="eu-west-1").client("sqs", endpoint_url="http://127.0.0.1:9", config=config)
    )
    with capture() as cap, pytest.raises(botocore.exceptions.EndpointConnectionError):
        sqs.list_queues()
    span = cap.spans_named("SQS.ListQueues")[0]
    assert span["status"] == "error"
    assert span["attributes"][ATTR_ERROR_TYPE] == "EndpointConnectionError"


def test_instrument_twice_registers_once(aws: boto3.Session) -> None:
    """A second instrument() on the same session adds no second span."""
    obskit_botocore.instrument(aws)
    sqs = aws.client("sqs")
    with capture() as cap:
        sqs.list_queues()
    assert len(cap.spans_named("SQS.ListQueues")) == 1


def test_uninstrument_removes_the_handlers(aws: boto3.Session) -> None:
    """Clients created after uninstrument() make no spans."""
    obskit_botocore.uninstrument(aws)
    with capture() as cap:
        aws.client("sqs").list_queues()
    assert cap.spans == []


# --- SNS ------------------------------------------------------------------------------------
def _topic_to_queue(aws: boto3.Session, *, raw: bool) -> tuple[Any, Any, str, str]:
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name="events")["TopicArn"]
    url = sqs.create_queue(QueueName="events-q")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                  Attributes={"RawMessageDelivery": "true" if raw else "false"})
    return sns, sqs, topic, url


@pytest.mark.parametrize("raw", [True, False], ids=["raw", "envelope"])
def test_sns_publish_reaches_sqs_consumer_with_trace_and_correlation(aws: boto3.Session, raw: bool) -> None:
    """Publish -> SQS subscription -> record_scope continues the trace, with or without raw delivery."""
    sns, sqs, topic, url = _topic_to_queue(aws, raw=raw)
    with capture() as cap:
        with _request() as ctx:
            sns.publish(TopicArn=topic, Message="hello")
        with record_scope(_receive(sqs, url)):
            obskit.get_logger("consumer").info("consumed")
    line = cap.logs_with(message="consumed")[0]
    assert (line["trace_id"], line["correlation_id"]) == (ctx.trace_id, "order-42")
    publish = cap.spans_named("SNS.Publish")[0]
    assert cap.spans_named("process")[0]["parent_span_id"] == publish["span_id"]


def test_sns_publish_batch_adds_attributes_to_each_entry(aws: boto3.Session) -> None:
    """PublishBatch entries each carry the correlation id to the subscribed queue."""
    sns, sqs, topic, url = _topic_to_queue(aws, raw=True)
    with capture(), _request():
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": "1", "Message": "a"}, {"Id": "2", "Message": "b"},
        ])
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, **RECEIVE)["Messages"]
    assert len(messages) == 2
    assert all(m["MessageAttributes"]["x-correlation-id"]["StringValue"] == "order-42" for m in messages)


# --- EventBridge ----------------------------------------------------------------------------
def test_eventbridge_entries_get_the_trace_header(aws: boto3.Session) -> None:
    """PutEvents entries carry TraceHeader = the call span's X-Ray header; moto accepts the call.

    moto delivers the event to targets but not its TraceHeader (AWS hands it to X-Ray, not to the
    target), so the check is on the request itself.
    """
    events = aws.client("events")
    bodies = _sent_bodies(events, "before-call.events.PutEvents")
    with capture() as cap, _request():
        result = events.put_events(Entries=[
            {"Source": "shop", "DetailType": "order", "Detail": "{}"},
            {"Source": "shop", "DetailType": "order", "Detail": "{}", "TraceHeader": "Root=mine"},
        ])
    assert result["FailedEntryCount"] == 0
    sent = json.loads(bodies[0])["Entries"]
    span = cap.spans_named("EventBridge.PutEvents")[0]
    assert sent[0]["TraceHeader"] == _xray(span["trace_id"], span["span_id"])
    assert sent[1]["TraceHeader"] == "Root=mine"


def test_eventbridge_trace_header_over_500_characters_is_not_written(aws: boto3.Session) -> None:
    """A trace header longer than EventBridge accepts is skipped and counted; the call succeeds."""
    events = aws.client("events")
    bodies = _sent_bodies(events, "before-call.events.PutEvents")
    header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Custom=" + "a" * 600
    with capture(), obskit.activate(obskit.extract({"x-amzn-trace-id": header})):
        assert events.put_events(Entries=[{"Source": "s", "DetailType": "d", "Detail": "{}"}])["FailedEntryCount"] == 0
    assert "TraceHeader" not in json.loads(bodies[0])["Entries"][0]
    assert obskit.diagnostics()["integrations.aws.skipped.too_long"] == 1


# --- Lambda Invoke (Stubber: moto runs functions only with Docker) ----------------------------
def _invoke(client_context: str | None = None) -> dict[str, Any]:
    """Invoke through a Stubber and return the decoded client context that was sent.

    The Stubber answers in before-call, so the parameters are read by a handler registered after
    obskit's on the same (unqualified) event name, which botocore runs after it.
    """
    client = obskit_botocore.instrument(boto3.Session(region_name="eu-west-1").client("lambda"))
    sent: list[str] = []
    client.meta.events.register(
        "before-parameter-build", lambda params, **_: sent.append(params.get("ClientContext"))
    )
    with Stubber(client) as stub:
        stub.add_response("invoke", {"StatusCode": 200})
        kwargs = {"ClientContext": client_context} if client_context is not None else {}
        client.invoke(FunctionName="fn", **kwargs)
    return json.loads(base64.b64decode(sent[0])) if sent[0] else {}


def test_lambda_invoke_carries_context_in_client_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """Invoke's client context 'custom' holds traceparent and x-correlation-id."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with capture() as cap, _request():
        custom = _invoke()["custom"]
    span = cap.spans_named("Lambda.Invoke")[0]
    assert custom["traceparent"].startswith(f"00-{span['trace_id']}-{span['span_id']}-")
    assert custom["x-correlation-id"] == "order-42"


def test_lambda_invoke_keeps_the_callers_client_context(monkeypatch: pytest.MonkeyPatch) -> None:
    """The caller's client context fields and custom keys survive; ours are added beside them."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    mine = base64.b64encode(json.dumps({"client": {"app": "x"}, "custom": {"x-correlation-id": "mine"}}).encode())
    with capture(), _request():
        sent = _invoke(mine.decode())
    assert sent["client"] == {"app": "x"}
    assert sent["custom"]["x-correlation-id"] == "mine"
    assert "traceparent" in sent["custom"]


def test_lambda_invoke_leaves_an_unreadable_client_context_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client context that is not base64 JSON is sent as the caller wrote it, and counted."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    mine = base64.b64encode(b"not json").decode()
    client = obskit_botocore.instrument(boto3.Session(region_name="eu-west-1").client("lambda"))
    sent: list[str] = []
    client.meta.events.register(
        "before-parameter-build", lambda params, **_: sent.append(params["ClientContext"])
    )
    with capture(), _request(), Stubber(client) as stub:
        stub.add_response("invoke", {"StatusCode": 200})
        client.invoke(FunctionName="fn", ClientContext=mine)
    assert sent == [mine]
    assert obskit.diagnostics()["integrations.aws.skipped.unreadable"] == 1


# --- aws-xray-sdk coexistence ---------------------------------------------------------------
@pytest.mark.slow
def test_with_xray_sdk_patch_there_is_no_obskit_span_but_messages_still_carry_ids() -> None:
    """Under aws-xray-sdk's botocore patch obskit records no span of its own and still writes the attributes.

    Runs in a subprocess: the X-Ray SDK patches botocore for the whole process and cannot undo it.
    """
    script = textwrap.dedent("""
        import json, os
        os.environ.update(AWS_ACCESS_KEY_ID="t", AWS_SECRET_ACCESS_KEY="t", AWS_DEFAULT_REGION="eu-west-1",
                          AWS_XRAY_CONTEXT_MISSING="IGNORE_ERROR")
        from aws_xray_sdk.core import patch
        patch(["botocore"])
        import boto3, obskit
        from moto import mock_aws
        from obskit.integrations import botocore as ob
        from obskit.testing import capture
        with mock_aws(), capture() as cap:
            sqs = ob.instrument(boto3.Session()).client("sqs")
            url = sqs.create_queue(QueueName="q")["QueueUrl"]
            with obskit.activate(obskit.new_trace(correlation_id="c-9")), obskit.span("work") as span:
                sqs.send_message(QueueUrl=url, MessageBody="hi")
            m = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["AWSTraceHeader"],
                                    MessageAttributeNames=["All"])["Messages"][0]
        print(json.dumps({"spans": [s["name"] for s in cap.spans], "trace_id": span.trace_id,
                          "attrs": m.get("MessageAttributes", {}), "system": m.get("Attributes", {})}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["spans"] == ["work"]
    assert got["attrs"]["x-correlation-id"]["StringValue"] == "c-9"
    assert got["trace_id"][8:] in got["system"]["AWSTraceHeader"]


# --- hooks (OpenTelemetry's botocore request_hook / response_hook) ---------------------------
def test_request_and_response_hooks_see_the_span_and_the_call(aws: boto3.Session) -> None:
    """request_hook(span, service, operation, params) at the start; response_hook(..., result) before the end."""
    seen: list[tuple[Any, ...]] = []

    def request_hook(span: Any, service: str, operation: str, params: dict[str, Any]) -> None:
        seen.append(("request", service, operation, params.get("QueueName")))
        span.set_attribute("app.queue", params.get("QueueName"))

    def response_hook(span: Any, service: str, operation: str, result: dict[str, Any]) -> None:
        seen.append(("response", service, operation, "QueueUrl" in result))
        span.set_attribute("app.created", "QueueUrl" in result)

    obskit_botocore.instrument(aws, request_hook=request_hook, response_hook=response_hook)
    with capture() as cap:
        aws.client("sqs").create_queue(QueueName="hooked")
    assert seen == [("request", "SQS", "CreateQueue", "hooked"), ("response", "SQS", "CreateQueue", True)]
    (span,) = cap.spans_named("SQS.CreateQueue")
    assert span["attributes"]["app.queue"] == "hooked"
    assert span["attributes"]["app.created"] is True


def test_hooks_are_replaced_by_a_second_instrument_and_removed_by_uninstrument(aws: boto3.Session) -> None:
    calls: list[str] = []
    obskit_botocore.instrument(aws, request_hook=lambda *a: calls.append("first"))
    obskit_botocore.instrument(aws, request_hook=lambda *a: calls.append("second"))
    with capture():
        aws.client("sqs").list_queues()
    assert calls == ["second"]
    obskit_botocore.uninstrument(aws)
    with capture():
        aws.client("sqs").list_queues()
    assert calls == ["second"]


def test_a_raising_hook_is_counted_and_the_call_goes_on(aws: boto3.Session) -> None:
    def boom(*args: Any) -> None:
        raise RuntimeError("hook")

    obskit_botocore.instrument(aws, request_hook=boom, response_hook=boom)
    with capture() as cap:
        aws.client("sqs").list_queues()
    assert len(cap.spans_named("SQS.ListQueues")) == 1
    assert obskit.diagnostics()["integrations.http.hook_failure"] == 2


def test_a_hook_that_is_not_callable_fails_at_instrument(aws: boto3.Session) -> None:
    from obskit.errors import ConfigError

    with pytest.raises(ConfigError, match="response_hook"):
        obskit_botocore.instrument(aws, response_hook="later")
