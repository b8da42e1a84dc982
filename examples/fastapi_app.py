"""A small "checkout" service in FastAPI, instrumented with obskit.

Run it with ``uvicorn examples.fastapi_app:app`` (and the inventory service it calls with
``uvicorn examples.downstream_app:app --port 8001``), or see it all at once with ``make demo``.

Every request gets a server span named by its route (``GET /orders/{order_id}``), one access
log line, and the ``Latency``/``Error``/``Fault`` metrics that ``examples/slo.yaml`` alarms on.
Log lines written while a request runs carry its ``trace_id``; so do the calls to inventory.
"""

import asyncio
import os
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, HTTPException

import obskit
import obskit.integrations.fastapi
import obskit.integrations.httpx

# 1. Configure once, at import. Emitters come from the environment (X-Ray when a daemon address
#    is set, EMF on stdout or to the CloudWatch agent); "service" must match examples/slo.yaml.
obskit.configure(service="checkout-api", namespace="Shop", environment=os.environ.get("ENVIRONMENT", "dev"))
log = obskit.get_logger(__name__)
INVENTORY_URL = os.environ.get("INVENTORY_URL", "http://127.0.0.1:8001")


@asynccontextmanager
async def lifespan(app: FastAPI):
    # 2. One shared client whose transport opens a client span per call and sends the trace
    #    headers (only to hosts of your own network by default: see ``propagate_to``).
    transport = obskit.integrations.httpx.AsyncTransport()
    async with httpx.AsyncClient(base_url=INVENTORY_URL, transport=transport, timeout=5.0) as client:
        app.state.inventory = client
        yield


app = FastAPI(title="checkout", lifespan=lifespan)
# 3. One line per app; the health check makes no spans, logs or metrics.
obskit.integrations.fastapi.instrument(app, excluded_routes=["/health"])

ORDERS = {"1001": {"order_id": "1001", "sku": "sku-1", "quantity": 2}}


@app.get("/orders/{order_id}")
async def get_order(order_id: str) -> dict[str, object]:
    order = ORDERS.get(order_id)
    if order is None:
        log.info("order not found", order_id=order_id)
        raise HTTPException(status_code=404, detail="no such order")  # Error=1, not a Fault
    return order


@app.post("/orders", status_code=201)
async def create_order(order: dict[str, object]) -> dict[str, object]:
    sku = str(order.get("sku", ""))
    # The downstream call: a client span, and inventory's spans and logs join this trace.
    response = await app.state.inventory.get(f"/stock/{sku}")
    if response.status_code != 200 or response.json()["available"] < 1:
        raise HTTPException(status_code=409, detail="out of stock")
    with obskit.span("reserve stock", attributes={"sku": sku}):  # a span of your own
        order_id = str(1000 + len(ORDERS) + 1)
        ORDERS[order_id] = {"order_id": order_id, **order}
    log.info("order placed", order_id=order_id, sku=sku)
    obskit.metrics.count("OrdersPlaced")  # a business metric next to the request metrics
    return ORDERS[order_id]


@app.get("/reports/daily")
async def daily_report() -> dict[str, object]:
    await asyncio.sleep(0.35)  # slower than the 300 ms latency SLO in examples/slo.yaml
    log.info("report built", orders=len(ORDERS))
    return {"orders": len(ORDERS)}


@app.get("/orders/{order_id}/receipt")
def receipt(order_id: str) -> dict[str, object]:
    # A sync endpoint runs in a worker thread; obskit's context follows it there.
    log.info("rendering receipt", order_id=order_id)
    return {"order_id": order_id, "text": f"Thank you for order {order_id}"}


@app.get("/fail")
async def fail() -> dict[str, object]:
    raise RuntimeError("payment provider unreachable")  # a 500: Fault=1, exception on the span


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
