"""The "orders" Lambda function behind an API Gateway HTTP API, instrumented with obskit.

Deploy with the handler ``lambda_function.handler``; try it locally with
``python examples/invoke_lambda.py``, which feeds it ``examples/events/apigw_v2.json``.

In Lambda obskit needs no emitter settings: logs are JSON lines on stdout, metrics are EMF
documents on stdout (CloudWatch extracts them from the log group) and spans go to Lambda's
X-Ray daemon as subsegments of the function's own segment. Each invocation also gets
``cold_start``, ``function_name`` and ``function_request_id`` on every log line and a
``ColdStart`` metric once per process; ``obskit.flush()`` runs before the handler returns.
"""

import json

import obskit
from obskit.integrations.aws_lambda import instrument_handler

# Configure at import: it runs once per execution environment, not per invocation.
obskit.configure(service="orders", namespace="Shop", environment="dev")
log = obskit.get_logger(__name__)

ORDERS = {"1001": {"order_id": "1001", "sku": "sku-1", "quantity": 2}}


@instrument_handler
def handler(event, context):
    order_id = (event.get("pathParameters") or {}).get("order_id")
    with obskit.span("load order", attributes={"order_id": order_id}):
        order = ORDERS.get(order_id)
    if order is None:
        log.info("order not found", order_id=order_id)
        return {"statusCode": 404, "body": json.dumps({"message": "no such order"})}
    log.info("order found", order_id=order_id)
    obskit.metrics.count("OrdersRead")
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(order)}
