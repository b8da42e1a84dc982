"""The propagate_to allowlist: which hosts may receive trace ids and the correlation id."""

from __future__ import annotations

import pytest

import obskit
from obskit.errors import ConfigError
from obskit.integrations._outbound import HostPolicy, configured_policy, headers_for
from obskit.testing import capture


@pytest.mark.parametrize(
    "host",
    ["localhost", "127.0.0.1", "::1", "[::1]", "10.1.2.3", "192.168.0.7", "172.16.0.1", "fd00::5",
     "169.254.169.254", "orders", "payments.internal", "api.svc.cluster.local", "app.localhost", "Orders."],
)
def test_own_domain_includes_loopback_private_and_private_use_names(host: str) -> None:
    """The default policy allows hosts that only resolve inside the process's own host or network."""
    assert HostPolicy(["@own"]).allows(host)


@pytest.mark.parametrize(
    "host", ["api.stripe.com", "example.com", "8.8.8.8", "2001:4860:4860::8888", "", "evil.local.com"]
)
def test_own_domain_excludes_public_names_and_addresses(host: str) -> None:
    """Public DNS names and public IPs never receive ids by default."""
    assert not HostPolicy(["@own"]).allows(host)


def test_exact_suffix_and_network_patterns() -> None:
    """Exact names, '*.domain' and CIDR networks match as documented, and nothing else does."""
    policy = HostPolicy(["api.example.com", "*.corp.example.com", "100.64.0.0/10"])
    assert policy.allows("API.example.com.")
    assert policy.allows("a.b.corp.example.com")
    assert not policy.allows("corp.example.com")
    assert policy.allows("100.64.3.4")
    assert not policy.allows("example.com")
    assert not policy.allows("localhost")  # a list replaces the default


def test_star_allows_every_host() -> None:
    """'*' sends ids everywhere."""
    assert HostPolicy(["*"]).allows("api.stripe.com")


def test_empty_list_allows_nothing() -> None:
    """An empty allowlist turns propagation off, also for loopback."""
    assert not HostPolicy([]).allows("localhost")


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("localhost:8080", "port"), ("10.0.0.0/33", "CIDR"), ("*.", "domain"), ("a*b.com", "host pattern"),
     ("", "host pattern"), ("http://x.com", "URL")],
)
def test_invalid_patterns_raise_config_error(pattern: str, message: str) -> None:
    """Each malformed pattern raises ConfigError naming the problem."""
    with pytest.raises(ConfigError, match=message):
        HostPolicy([pattern])


def test_configure_validates_propagate_to_early() -> None:
    """configure(propagate_to=...) rejects a bad pattern at configuration time."""
    with pytest.raises(ConfigError, match="propagate_to"):
        obskit.configure(propagate_to=["bad host"])


def test_environment_variable_sets_the_allowlist(monkeypatch: pytest.MonkeyPatch) -> None:
    """OBSKIT_PROPAGATE_TO is read as a comma-separated pattern list."""
    monkeypatch.setenv("OBSKIT_PROPAGATE_TO", "*.example.com, @own")
    with capture():
        policy = configured_policy()
    assert policy.allows("api.example.com")
    assert policy.allows("localhost")
    assert not policy.allows("example.org")


def test_headers_for_skips_the_trace_group_when_the_user_set_one_member() -> None:
    """With a user X-Amzn-Trace-Id, neither traceparent nor tracestate is added; baggage still is."""
    ctx = obskit.new_trace(correlation_id="c-1", baggage={"k": "v"})
    with capture():
        added = dict(headers_for(ctx, lambda name: name == "x-amzn-trace-id"))
    assert set(added) == {"baggage", "x-correlation-id"}
    assert obskit.diagnostics()["integrations.http.skipped.user_header"] == 2
