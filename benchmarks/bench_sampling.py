"""One head-sampling decision for a new request under 20 X-Ray sampling rules, obskit next to aws-xray-sdk.

The rule set is a fleet's: 19 rules for other paths, methods and hosts (one with attributes),
then ``/orders/*`` and ``Default``; most requests decided here are ``GET /orders/N``, which only
the 20th rule (``/orders/*``) matches, so each matcher walks past the others. The rules are
loaded into each sampler directly (no poller thread, no daemon): what is timed is the decision
alone, as the request path pays it.

Cases: obskit with 64 distinct paths cycling (its cache of requests answers); obskit with paths
it has never matched, as a long-running service with ids in its paths sees them (its cache is
full of other paths): ``/orders/<id>``, whose first segment settles the rule, and
``/users/<id>``, which the 16th rule's ``/users/???`` leaves to the compiled path expression;
aws-xray-sdk's ``DefaultSampler.should_trace`` with the same rules. The request attributes are
built before the timed call, as a request's are. The floor is obskit's ratio sampler
(``trace_sampler="ratio"``), the decision every request already pays. DESIGN's budget: under
2 us a decision with 20 rules.
"""

from __future__ import annotations

import time
from itertools import cycle
from typing import Any

from benchmarks._harness import markdown_table, measure, rows

FLOOR = "floor: obskit ratio sampler (trace_sample_rate)"
SERVICE = "orders"
OTHERS = [  # (name, method, host, path), in priority order before /orders/*
    ("health", "*", "*", "/health*"), ("ready", "GET", "*", "/ready"), ("metrics", "GET", "*", "/metrics*"),
    ("login", "POST", "*", "/login"), ("logout", "POST", "*", "/logout"), ("admin", "*", "admin.*", "*"),
    ("static", "GET", "*", "/static/*"), ("images", "GET", "*", "/img/*.png"), ("cart-put", "PUT", "*", "/cart/*"),
    ("cart-del", "DELETE", "*", "/cart/*"), ("search", "GET", "*", "/search?q=*"), ("api-v1", "*", "*", "/v1/*"),
    ("webhooks", "POST", "hooks.*", "*"), ("graphql", "POST", "*", "/graphql"), ("internal", "*", "*.internal", "*"),
    ("users", "GET", "*", "/users/???"), ("pay", "POST", "*", "/pay*"), ("export", "GET", "*", "/export/*"),
]
ATTRIBUTE_RULE = ("gold", "*", "*", "*")


def _definitions() -> list[dict[str, Any]]:
    rules = [
        {"RuleName": name, "Priority": i + 1, "FixedRate": 0.1, "ReservoirSize": 1, "ServiceName": SERVICE,
         "ServiceType": "*", "Host": host, "HTTPMethod": method, "URLPath": path, "ResourceARN": "*", "Version": 1}
        for i, (name, method, host, path) in enumerate(OTHERS)
    ]
    rules.append({**rules[0], "RuleName": "gold", "Priority": 19, "Host": "*", "HTTPMethod": "*", "URLPath": "*",
                  "Attributes": {"customer.tier": "gold"}})
    rules.append({**rules[0], "RuleName": "orders", "Priority": 20, "Host": "*", "HTTPMethod": "GET",
                  "URLPath": "/orders/*", "FixedRate": 0.05})
    rules.append({**rules[0], "RuleName": "Default", "Priority": 10000, "Host": "*", "HTTPMethod": "*",
                  "URLPath": "*", "ServiceName": "*", "FixedRate": 0.05})
    return rules


def _requests(n: int, prefix: str = "/orders/", first: int = 0) -> list[dict[str, str]]:
    """The span attributes of ``n`` requests ``GET <prefix><id>``, each with its own id."""
    return [{"http.request.method": "GET", "url.path": f"{prefix}{i}", "server.address": "api.example.com"}
            for i in range(first, first + n)]


def _obskit_sampler() -> Any:
    from obskit.sampling import Rule, RuleSet, XRaySampler

    sampler = XRaySampler(service=SERVICE, service_type="", resource_arn="", address=("127.0.0.1", 9),
                          clock=time.time_ns, enabled=False)  # no poller: the rules are set below
    sampler._ruleset = RuleSet([Rule(d) for d in _definitions()], int(time.time()))
    return sampler


def _obskit_cases() -> dict[str, Any]:
    from obskit.sampling import _CACHE_SIZE

    seen, fresh = _obskit_sampler(), _obskit_sampler()
    assert len(seen._ruleset.rules) == 21
    ids = cycle(range(1 << 40, (1 << 40) + 4096))
    # The attributes of a request exist before its decision: they are built here, not timed.
    few = cycle(_requests(64))
    # A long-running service with ids in its paths: the requests cache is full (of other paths), so
    # each of these requests is matched however often it comes back: /orders/<id> by its first
    # segment, which settles the rule; /users/<id> (the rule is /users/???) by the path expression.
    for request in _requests(_CACHE_SIZE, "/carts/"):
        fresh.sample(1, request)
    new, users = cycle(_requests(1024, "/orders/")), cycle(_requests(900, "/users/", first=100))
    cached_sample, fresh_sample = seen.sample, fresh.sample

    def cached() -> None:
        cached_sample(next(ids), next(few))

    def uncached() -> None:
        fresh_sample(next(ids), next(new))

    def by_expression() -> None:
        fresh_sample(next(ids), next(users))

    assert len(fresh._ruleset.cache) == _CACHE_SIZE
    assert ("GET", "api.example.com", "/orders/1") not in fresh._ruleset.cache
    for path, name in (("/orders/7", "orders"), ("/users/123", "users")):
        check = seen._ruleset.find({"http.request.method": "GET", "url.path": path, "server.address": "a"})
        assert check is not None
        assert check.name == name
    return {"obskit xray sampler, 20 rules, 64 paths cycling": cached,
            "obskit xray sampler, 20 rules, every path new": uncached,
            "obskit xray sampler, 20 rules, every path new, matched by the path expression": by_expression}


def _floor_case() -> Any:
    import obskit
    from obskit import _pipeline

    obskit.configure(traces="none", metrics="none", logs="none", trace_sample_rate=0.05, trace_reservoir_per_s=1)
    sample = _pipeline.get().sample
    ids = cycle(range(1 << 40, (1 << 40) + 4096))

    def floor() -> None:
        sample(next(ids), None)

    return floor


def _xray_sdk_case() -> dict[str, Any]:
    from aws_xray_sdk.core.sampling.sampler import DefaultSampler
    from aws_xray_sdk.core.sampling.sampling_rule import SamplingRule

    sampler = DefaultSampler()
    sampler._started = True  # no poller threads: the rules are loaded below
    rules = [SamplingRule(name=d["RuleName"], priority=d["Priority"], rate=d["FixedRate"],
                          reservoir_size=d["ReservoirSize"], host=d["Host"], method=d["HTTPMethod"], path=d["URLPath"],
                          service=d["ServiceName"], service_type=d["ServiceType"])
             for d in _definitions() if not d.get("Attributes")]  # the SDK skips attribute rules
    sampler._cache.load_rules(rules)
    sampler._cache.last_updated = int(time.time())
    paths = cycle([f"/orders/{i}" for i in range(64)])
    should_trace = sampler.should_trace

    def xray_sdk() -> None:
        should_trace({"host": "api.example.com", "method": "GET", "path": next(paths), "service": SERVICE})

    assert should_trace({"host": "h", "method": "GET", "path": "/orders/1", "service": SERVICE}) in ("orders", False)
    return {"aws-xray-sdk DefaultSampler.should_trace, 20 rules": xray_sdk}


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Every case in one process; ratios against the ratio sampler, obskit's against aws-xray-sdk's."""
    import logging

    logging.getLogger("obskit").setLevel(logging.ERROR)
    logging.getLogger("aws_xray_sdk").setLevel(logging.ERROR)
    cases: dict[str, Any] = {FLOOR: _floor_case()}
    cases.update(_obskit_cases())
    cases.update(_xray_sdk_case())
    stats = measure(cases, quick=quick)
    peer = "aws-xray-sdk DefaultSampler.should_trace, 20 rules"
    return rows(stats, reference=FLOOR, peers={
        "obskit xray sampler, 20 rules, 64 paths cycling": peer,
        "obskit xray sampler, 20 rules, every path new": peer,
    })


if __name__ == "__main__":
    import sys

    print(markdown_table(run(quick="--quick" in sys.argv)))
