"""SLOs in YAML become CloudWatch multi-window, multi-burn-rate alarms.

Imports: the standard library only, at import time. ``spec`` reads a file (PyYAML, lazily),
``alarms`` does the burn-rate math into an intermediate representation, ``render`` writes
CloudFormation or Terraform, ``apply`` talks to CloudWatch with boto3 (lazily) and ``explain``
prints what the alarms will do. ``obskit slo ...`` on the command line drives all of them.

Typical use::

    from obskit.slo import build, load, render
    print(render(build(load("slo.yaml")), "cloudformation"))
"""

from __future__ import annotations

from obskit.slo.alarms import AlarmSet, CompositeAlarm, MetricAlarm, build
from obskit.slo.render import FORMATS, render
from obskit.slo.spec import SLO, SLOConfig, load, parse

__all__ = [
    "FORMATS",
    "SLO",
    "AlarmSet",
    "CompositeAlarm",
    "MetricAlarm",
    "SLOConfig",
    "build",
    "load",
    "parse",
    "render",
]
