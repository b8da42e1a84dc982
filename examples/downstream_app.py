"""The "inventory" service that the checkout examples call: a second FastAPI app.

Run it on its own with ``uvicorn examples.downstream_app:app --port 8001``. It is instrumented
exactly like ``fastapi_app.py``; what it shows is the *receiving* side of propagation: the
``traceparent`` and ``x-correlation-id`` headers that checkout's instrumented httpx client sends
make this service's spans children of checkout's, and its log lines carry the same ``trace_id``.

Nothing below names an emitter: obskit picks them from the environment. Set
``AWS_XRAY_DAEMON_ADDRESS`` and spans go to X-Ray; EMF metrics go to stdout unless
``AWS_EMF_AGENT_ENDPOINT`` names a CloudWatch agent. ``make demo`` runs it that way.
"""

import os

from fastapi import FastAPI, HTTPException

import obskit
import obskit.integrations.fastapi

obskit.configure(service="inventory", namespace="Shop", environment=os.environ.get("ENVIRONMENT", "dev"))
log = obskit.get_logger(__name__)

app = FastAPI(title="inventory")
obskit.integrations.fastapi.instrument(app, excluded_routes=["/health"])

STOCK = {"sku-1": 12, "sku-2": 0, "sku-3": 4}


@app.get("/stock/{sku}")
async def stock(sku: str) -> dict[str, object]:
    if sku not in STOCK:
        raise HTTPException(status_code=404, detail="unknown sku")
    log.info("stock looked up", sku=sku, available=STOCK[sku])
    obskit.metrics.count("StockLookups")
    return {"sku": sku, "available": STOCK[sku]}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
