"""One request across three hops: HTTP client -> FastAPI (uvicorn) -> SQS (moto) -> consumer, one trace."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from fastapi import FastAPI
from moto import mock_aws

import obskit
from obskit.integrations import botocore as obskit_botocore
from obskit.integrations import fastapi as obskit_fastapi
from obskit.integrations.httpx import Transport
from obskit.integrations.sqs import record_scope
from obskit.testing import capture

from ._uvicorn import serve

RECEIVE = {"MessageSystemAttributeNames": ["AWSTraceHeader"], "MessageAttributeNames": ["All"], "WaitTimeSeconds": 0}


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str]]:
    """An instrumented SQS client on moto, and a queue."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws():
        client = obskit_botocore.instrument(boto3.Session()).client("sqs")
        yield client, client.create_queue(QueueName="orders")["QueueUrl"]


def _app(sqs: Any, url: str) -> FastAPI:
    app = FastAPI()
    log = obskit.get_logger("shop")

    @app.post("/orders/{order_id}")
    def place(order_id: int) -> dict[str, int]:
        log.info("order placed", order_id=order_id)
        sqs.send_message(QueueUrl=url, MessageBody=str(order_id))
        return {"order_id": order_id}

    return obskit_fastapi.instrument(app)


def _consume(sqs: Any, url: str) -> None:
    for message in sqs.receive_message(QueueUrl=url, **RECEIVE)["Messages"]:
        with record_scope(message, queue="orders"):
            obskit.get_logger("shipping").info("order shipped", order_id=int(message["Body"]))


def test_fastapi_request_to_sqs_consumer_shares_trace_and_correlation_id(sqs: tuple[Any, str]) -> None:
    """The producer's and the consumer's log lines carry the request's trace id and correlation id."""
    client, url = sqs
    with capture() as cap:
        with serve(_app(client, url)) as base:
            assert httpx.post(f"{base}/orders/7", headers={"x-correlation-id": "req-7"}).status_code == 200
        _consume(client, url)
    placed = cap.logs_with(message="order placed")[0]
    shipped = cap.logs_with(message="order shipped")[0]
    assert placed["correlation_id"] == shipped["correlation_id"] == "req-7"
    assert placed["trace_id"] == shipped["trace_id"]
    send = cap.spans_named("SQS.SendMessage")[0]
    assert cap.spans_named("process orders")[0]["parent_span_id"] == send["span_id"]


def test_http_client_to_uvicorn_to_sqs_consumer_is_one_trace(sqs: tuple[Any, str]) -> None:
    """An instrumented httpx call to a real uvicorn server starts the trace that the SQS consumer continues."""
    client, url = sqs
    caller = obskit.new_trace(correlation_id="checkout-1")
    with capture() as cap:
        with serve(_app(client, url)) as base, obskit.activate(caller), \
                httpx.Client(transport=Transport(propagate_to=["127.0.0.1"])) as http:
            assert http.post(f"{base}/orders/9").status_code == 200
        _consume(client, url)
    placed = cap.logs_with(message="order placed")[0]
    shipped = cap.logs_with(message="order shipped")[0]
    assert placed["trace_id"] == shipped["trace_id"] == caller.trace_id
    assert placed["correlation_id"] == shipped["correlation_id"] == "checkout-1"
    server_span = next(s for s in cap.spans if s["kind"] == "server")
    assert server_span["parent_span_id"] == cap.spans_named("POST")[0]["span_id"]
