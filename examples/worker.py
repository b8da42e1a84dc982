"""An SQS consumer outside Lambda (a container or a VM): each message continues its producer's trace.

Run it with ``QUEUE_URL=https://sqs.eu-west-1.amazonaws.com/111111111111/orders python examples/worker.py``.

The producer (any service that sends with an instrumented boto3 client, see
``obskit.integrations.botocore``) puts ``traceparent`` and ``x-correlation-id`` message
attributes on each message and SQS adds ``AWSTraceHeader``. ``record_scope(message)`` reads
them, so the log lines of each message carry the producer's ``trace_id`` and correlation id,
and its ``process orders`` span is a child of the producer's span.
"""

import json
import os

import boto3

import obskit
import obskit.integrations.botocore
from obskit.integrations.sqs import record_scope

obskit.configure(service="fulfilment-worker", namespace="Shop", environment=os.environ.get("ENVIRONMENT", "dev"))
obskit.integrations.botocore.instrument()  # client spans for boto3 calls made from now on
log = obskit.get_logger(__name__)


def handle(order: dict) -> None:
    """Your business logic: here it only logs and counts."""
    log.info("order shipped", order_id=order["order_id"])
    obskit.metrics.count("OrdersShipped")


def poll_once(sqs, queue_url: str, wait_s: int = 20) -> int:
    """Receive one batch, process each message in its producer's trace; returns how many were handled."""
    response = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s,
        MessageSystemAttributeNames=["AWSTraceHeader"],  # ask for the trace attributes:
        MessageAttributeNames=["All"],                     # SQS leaves them out otherwise
    )
    handled = 0
    for message in response.get("Messages", []):
        with record_scope(message, queue="orders"):
            try:
                handle(json.loads(message["Body"]))
            except Exception:
                log.exception("order not shipped; SQS will deliver it again")
                continue
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            handled += 1
    return handled


def main() -> None:
    sqs = boto3.client("sqs")
    queue_url = os.environ["QUEUE_URL"]
    log.info("worker started", queue_url=queue_url)
    try:
        while True:
            poll_once(sqs, queue_url)
    finally:
        obskit.flush()  # metrics buffered since the last interval


if __name__ == "__main__":
    main()
