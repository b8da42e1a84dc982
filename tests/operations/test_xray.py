"""The X-Ray daemon down, over real loopback UDP: every segment sent is counted when refused, the last ones too."""

from __future__ import annotations

import pytest

import obskit
from operations._listeners import UDPListener, dead_port, figures, lost

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("batch", [1, 16])
def test_a_dead_daemon_counts_every_segment_the_last_included(batch: int) -> None:
    obskit.configure(service="svc", traces="xray", metrics="none", logs="none",
                     xray_daemon_address=f"127.0.0.1:{dead_port()}", xray_batch_size=batch, trace_sample_rate=1.0)
    produced = 37
    for i in range(produced):
        with obskit.span(f"job-{i}"):
            pass
    obskit.shutdown(1.0)
    counters = obskit.diagnostics()
    counted = lost(counters, "traces.dropped.")
    assert counted == produced, figures(produced, 0, counted, counters)


def test_a_daemon_that_listens_gets_every_segment_and_nothing_is_counted() -> None:
    daemon = UDPListener()
    obskit.configure(service="svc", traces="xray", metrics="none", logs="none",
                     xray_daemon_address=f"127.0.0.1:{daemon.port}", trace_sample_rate=1.0)
    produced = 37
    for i in range(produced):
        with obskit.span(f"job-{i}"):
            pass
    obskit.shutdown(1.0)
    daemon.close()
    counters = obskit.diagnostics()
    arrived, counted = len(daemon.received), lost(counters, "traces.dropped.")
    assert (arrived, counted) == (produced, 0), figures(produced, arrived, counted, counters)
