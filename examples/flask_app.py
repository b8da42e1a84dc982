"""The "checkout" service again, in Flask: the same routes, the same telemetry.

Run it with ``flask --app examples/flask_app.py run`` (and the inventory service with
``uvicorn examples.downstream_app:app --port 8001``).

``instrument(app)`` names each request by its URL rule (``/orders/<order_id>`` becomes the
operation ``GET /orders/{order_id}``, as in every other integration), so the metrics and the
alarms of ``examples/slo.yaml`` do not depend on the framework.
"""

import os
import time

import requests
from flask import Flask, abort, jsonify, request

import obskit
import obskit.integrations.flask
import obskit.integrations.requests

# 1. Configure once, at import (emitters come from the environment, as in fastapi_app.py).
obskit.configure(service="checkout-api", namespace="Shop", environment=os.environ.get("ENVIRONMENT", "dev"))
log = obskit.get_logger(__name__)
INVENTORY_URL = os.environ.get("INVENTORY_URL", "http://127.0.0.1:8001")

# 2. A requests session that opens a client span per call and sends the trace headers.
inventory = obskit.integrations.requests.instrument_session(requests.Session())

app = Flask(__name__)
# 3. One line per app; the health check makes no spans, logs or metrics.
obskit.integrations.flask.instrument(app, excluded_routes=["/health"])

ORDERS = {"1001": {"order_id": "1001", "sku": "sku-1", "quantity": 2}}


@app.get("/orders/<order_id>")
def get_order(order_id: str):
    order = ORDERS.get(order_id)
    if order is None:
        log.info("order not found", order_id=order_id)
        abort(404)  # Error=1, not a Fault
    return jsonify(order)


@app.post("/orders")
def create_order():
    order = request.get_json(force=True)
    sku = str(order.get("sku", ""))
    # The downstream call: a client span, and inventory's spans and logs join this trace.
    response = inventory.get(f"{INVENTORY_URL}/stock/{sku}", timeout=5)
    if response.status_code != 200 or response.json()["available"] < 1:
        abort(409)
    with obskit.span("reserve stock", attributes={"sku": sku}):  # a span of your own
        order_id = str(1000 + len(ORDERS) + 1)
        ORDERS[order_id] = {"order_id": order_id, **order}
    log.info("order placed", order_id=order_id, sku=sku)
    obskit.metrics.count("OrdersPlaced")  # a business metric next to the request metrics
    return jsonify(ORDERS[order_id]), 201


@app.get("/reports/daily")
def daily_report():
    time.sleep(0.35)  # slower than the 300 ms latency SLO in examples/slo.yaml
    log.info("report built", orders=len(ORDERS))
    return jsonify(orders=len(ORDERS))


@app.get("/fail")
def fail():
    raise RuntimeError("payment provider unreachable")  # a 500: Fault=1, exception on the span


@app.get("/health")
def health():
    return jsonify(status="ok")
