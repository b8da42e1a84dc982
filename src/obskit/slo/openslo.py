"""Read OpenSLO v1 documents into the same ``SLOConfig`` as obskit's own format.

Imports: the standard library and ``obskit.slo.spec`` (its node readers, model and checks).

The mapping (what OpenSLO cannot express comes from obskit defaults or annotations):

* ``SLO.spec.service`` -> ``service`` (one service per file); ``metadata.name`` -> SLO name;
  ``timeWindow[0]`` must be rolling, its ``duration`` in days or weeks -> ``period``;
  ``budgetingMethod`` must be ``Occurrences`` (obskit counts events, not time slices).
* ``objectives`` must hold one objective: ``target`` (0-1) or ``targetPercent`` -> ``objective``.
* ``indicator`` (inline) or ``indicatorRef`` (an ``SLI`` document):
  ``ratioMetric`` with ``bad`` or ``good`` and ``total`` -> ``sli: {kind: ratio}``; each
  ``metricSource`` must be ``type: CloudWatch`` with ``spec: {namespace, metricName, dimensions:
  [{name, value}], stat}``. ``thresholdMetric`` with objective ``op: lte|lt`` and ``value: T`` ->
  ``sli: {kind: latency, threshold_ms: T, metric: ...}`` (``PR(:T)`` on that metric).
* ``alertPolicies`` (inline or ``alertPolicyRef``), each with one condition (inline or
  ``conditionRef``) of ``kind: burnrate``, ``op: gte|gt``: one tier with ``severity`` (page or
  ticket), ``burn_rate = threshold``, ``long = lookbackWindow`` and ``short = long / 12`` (SRE
  Workbook; annotation ``obskit.dev/short-window-ratio`` on the SLO changes the 12). Tiers of one
  severity are ORed into one composite. ``notificationTargets`` (inline or ``targetRef`` to an
  ``AlertNotificationTarget``) whose ``target`` or ``description`` is an SNS topic ARN -> that
  severity's topics. ``alertWhenNoData: true`` -> ``no_data``. Without alert policies the
  standard profile applies. ``Service`` and ``DataSource`` documents are accepted and unused.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from obskit import semconv
from obskit.slo.spec import (
    _SNS_RE,
    DAY,
    MAX_EVALUATION_RANGE,
    SEVERITIES,
    SLI,
    SLO,
    Alerting,
    MetricRef,
    SLOConfig,
    Window,
    _check_reachable,
    _Ctx,
    _line,
    _Map,
    budget_text,
    format_duration,
    profile_windows,
)

__all__ = ["parse_openslo"]

DOC_KEYS = ("apiVersion", "kind", "metadata", "spec")
META_KEYS = ("name", "displayName", "labels", "annotations")
KINDS = ("SLO", "SLI", "AlertPolicy", "AlertCondition", "AlertNotificationTarget", "Service", "DataSource")
SHORT_RATIO_ANNOTATION = "obskit.dev/short-window-ratio"


class _Doc:
    def __init__(self, m: _Map, kind: str, name: str | None, spec: _Map, annotations: dict[str, str]) -> None:
        self.m, self.kind, self.name, self.spec, self.annotations = m, kind, name, spec, annotations


def _read_doc(ctx: _Ctx, node: Any, path: str, allowed_spec: dict[str, tuple[str, ...]], *,
              inline: bool = False) -> _Doc | None:
    m = _Map(ctx, node, path, DOC_KEYS)
    if not m.ok:
        return None
    kind = m.text("kind", required="write the OpenSLO kind, e.g. kind: SLO")
    api = m.text("apiVersion", required=None if inline else "write apiVersion: openslo/v1")
    if api is not None and api != "openslo/v1":
        ctx.add(ctx.lines.get(m.field("apiVersion")), m.field("apiVersion"), f"{api!r} is not supported",
                "obskit reads openslo/v1")
    if kind is None:
        return None
    if kind not in KINDS:
        ctx.add(ctx.lines.get(m.field("kind")), m.field("kind"), f"unknown OpenSLO kind {kind!r}",
                f"use one of {', '.join(KINDS)}")
        return None
    meta = m.mapping("metadata", META_KEYS)
    name = meta.text("name", required="give metadata.name", max_len=63)
    annotations: dict[str, str] = {}
    ann = meta.node("annotations")
    if ann is not None and type(ann).__name__ == "MappingNode":
        annotations = {str(k.value): str(v.value) for k, v in ann.value if type(v).__name__ == "ScalarNode"}
    keys = allowed_spec.get(kind)
    spec = m.mapping("spec", keys if keys is not None else ())
    if keys is not None and not m.has("spec"):
        m.missing("spec", f"give the {kind} spec")
    return _Doc(m, kind, name, spec, annotations)


SPEC_KEYS: dict[str, tuple[str, ...]] = {
    "SLO": ("description", "service", "indicator", "indicatorRef", "timeWindow", "budgetingMethod", "objectives",
            "alertPolicies"),
    "SLI": ("description", "thresholdMetric", "ratioMetric"),
    "AlertPolicy": ("description", "alertWhenNoData", "alertWhenResolved", "alertWhenBreaching", "conditions",
                    "notificationTargets"),
    "AlertCondition": ("description", "severity", "condition"),
    "AlertNotificationTarget": ("description", "target"),
}


def _inline(ctx: _Ctx, node: Any, path: str, kind: str, ref_key: str, named: dict[str, _Doc]) -> _Doc | None:
    """An inline ``{kind, metadata, spec}`` item or a ``{refKey: name}`` pointing at a document."""
    if type(node).__name__ == "MappingNode" and any(k.value == ref_key for k, _ in node.value):
        m = _Map(ctx, node, path, (ref_key,))
        ref = m.text(ref_key)
        if ref is None:
            return None
        if ref not in named:
            ctx.add(ctx.lines.get(m.field(ref_key)), m.field(ref_key), f"no {kind} document named {ref!r}",
                    f"add a `kind: {kind}` document with metadata.name: {ref}" + (
                        f" (known: {', '.join(sorted(named))})" if named else ""))
            return None
        return named[ref]
    if type(node).__name__ == "MappingNode" and not any(k.value == "kind" for k, _ in node.value):
        # an inline SLI may omit kind
        fake = _Map(ctx, node, path, ("metadata", "spec"))
        spec = fake.mapping("spec", SPEC_KEYS[kind])
        meta = fake.mapping("metadata", META_KEYS)
        return _Doc(fake, kind, meta.text("name"), spec, {})
    doc = _read_doc(ctx, node, path, SPEC_KEYS, inline=True)
    if doc is not None and doc.kind != kind:
        ctx.add(_line(node), f"{path}.kind", f"is {doc.kind}, expected {kind}", f"write kind: {kind}")
        return None
    return doc


def _metric(ctx: _Ctx, m: _Map, key: str) -> MetricRef | None:
    src = m.mapping(key, ("metricSource",))
    if not m.has(key):
        return None
    ms = src.mapping("metricSource", ("metricSourceRef", "type", "spec"))
    if not src.has("metricSource"):
        src.missing("metricSource", "give metricSource: {type: CloudWatch, spec: {...}}")
        return None
    kind = ms.text("type", required="write type: CloudWatch")
    if kind is not None and kind.lower() != "cloudwatch":
        ctx.add(ctx.lines.get(ms.field("type")), ms.field("type"), f"metric source type {kind!r} is not supported",
                "obskit generates CloudWatch alarms: use type: CloudWatch")
        return None
    spec = ms.mapping("spec", ("namespace", "metricName", "dimensions", "stat"))
    ns = spec.text("namespace", default=semconv.DEFAULT_NAMESPACE)
    name = spec.text("metricName", required="name the metric, e.g. metricName: Fault")
    stat = spec.text("stat", default="Sum")
    dims: list[tuple[str, str]] = []
    for i, d in enumerate(spec.sequence("dimensions")):
        dm = _Map(ctx, d, f"{spec.field('dimensions')}[{i}]", ("name", "value"))
        dn, dv = dm.text("name", required="give the dimension name"), dm.text("value", required="give its value")
        if dn is not None and dv is not None:
            dims.append((dn, dv))
    if ns is None or name is None or stat is None:
        return None
    return MetricRef(ns, name, tuple(dims), stat)


def parse_openslo(docs: list[Any], file: str) -> SLOConfig:
    """Map OpenSLO v1 documents (see the module docstring) onto an ``SLOConfig``.

    Raises:
        SLOSpecError: with every problem, located in the OpenSLO documents.
    """
    ctx = _Ctx(file)
    named: dict[str, dict[str, _Doc]] = {k: {} for k in KINDS}
    slo_docs: list[_Doc] = []
    for i, node in enumerate(docs):
        doc = _read_doc(ctx, node, f"documents[{i}]", SPEC_KEYS)
        if doc is None or doc.name is None:
            continue
        named[doc.kind][doc.name] = doc
        if doc.kind == "SLO":
            slo_docs.append(doc)
    if not slo_docs and not ctx.problems:
        ctx.add(_line(docs[0]), "(document)", "holds no OpenSLO `kind: SLO` document", "add one")
    services: set[str] = set()
    periods: set[int] = set()
    slos: list[SLO] = []
    for doc in slo_docs:
        slo = _read_slo(ctx, doc, named, services, periods)
        if slo is not None:
            slos.append(slo)
    if len(services) > 1:
        ctx.add(None, "spec.service", f"the SLOs name several services: {', '.join(sorted(services))}",
                "put each service's SLOs in its own file")
    if len(periods) > 1:
        ctx.add(None, "spec.timeWindow", "the SLOs use different time windows",
                "use one duration per file (obskit alarms share one SLO period)")
    if ctx.problems or not slos:
        raise ctx.error()
    return SLOConfig(file=file, service=services.pop(), namespace=semconv.DEFAULT_NAMESPACE,
                     period_s=periods.pop(), name_prefix="obskit", slos=tuple(slos), source_format="openslo",
                     lines=MappingProxyType(dict(ctx.lines)))


def _read_slo(ctx: _Ctx, doc: _Doc, named: dict[str, dict[str, _Doc]], services: set[str],
              periods: set[int]) -> SLO | None:
    s = doc.spec
    service = s.text("service", required="name the service (the Service dimension obskit emits)")
    if service is not None:
        services.add(service)
    method = s.text("budgetingMethod", required="write budgetingMethod: Occurrences")
    if method is not None and method != "Occurrences":
        ctx.add(ctx.lines.get(s.field("budgetingMethod")), s.field("budgetingMethod"),
                f"{method} is not supported", "obskit alerts on event ratios: use budgetingMethod: Occurrences")
    period = None
    windows = s.sequence("timeWindow")
    if len(windows) != 1:
        ctx.add(ctx.lines.get(s.field("timeWindow")) or doc.m.line, s.field("timeWindow"),
                "needs exactly one item", "write timeWindow: [{duration: 30d, isRolling: true}]")
    else:
        tw = _Map(ctx, windows[0], s.field("timeWindow") + "[0]", ("duration", "isRolling", "calendar"))
        found, rolling = tw.scalar("isRolling")
        if tw.has("calendar") or (found and rolling is not True):
            ctx.add(_line(windows[0]), tw.path, "calendar-aligned windows are not supported",
                    "use a rolling window: {duration: 30d, isRolling: true}")
        period = tw.duration("duration", required="give the duration, e.g. 30d",
                             fix="write whole days or weeks, e.g. 30d or 4w (M, Q, Y are not supported)")
        if period is not None and period % DAY:
            ctx.add(ctx.lines.get(tw.field("duration")), tw.field("duration"), "is not a whole number of days",
                    "write e.g. 30d or 4w")
            period = None
        if period is not None:
            periods.add(period)
    objectives = s.sequence("objectives")
    objective = threshold = None
    if len(objectives) != 1:
        ctx.add(ctx.lines.get(s.field("objectives")) or doc.m.line, s.field("objectives"),
                f"has {len(objectives)} objectives; obskit maps exactly one", "keep one objective per SLO document")
    else:
        o = _Map(ctx, objectives[0], s.field("objectives") + "[0]",
                 ("displayName", "op", "value", "target", "targetPercent", "timeSliceTarget", "timeSliceWindow"))
        if o.has("target") == o.has("targetPercent"):
            ctx.add(_line(objectives[0]), o.path, "needs exactly one of target and targetPercent",
                    "write target: 0.999 or targetPercent: 99.9")
        elif o.has("target"):
            t = o.number("target", low=0, high=1, fix="a fraction between 0 and 1, e.g. 0.999")
            objective = None if t is None else round(t * 100, 10)
        else:
            objective = o.number("targetPercent", low=0, high=100, fix="a percentage, e.g. 99.9")
        op = o.text("op")
        if o.has("value"):
            threshold = o.number("value", low=0, fix="the latency threshold in milliseconds")
            if op not in ("lte", "lt"):
                ctx.add(ctx.lines.get(o.field("op")) or _line(objectives[0]), o.field("op"),
                        f"{op!r} cannot be mapped", "obskit maps threshold metrics with op: lte (good = value <= T)")
    sli = _read_indicator(ctx, doc, named, threshold)
    alerting = _read_policies(ctx, doc, named, period)
    name = doc.name or ""
    if objective is not None:
        _check_reachable(ctx, s, s.path, objective, alerting.windows)
    if objective is None or sli is None or service is None:
        return None
    path = doc.m.path
    ctx.lines.setdefault(path, doc.m.line)
    ctx.lines.setdefault(f"{path}.name", doc.m.line)
    return SLO(name=name, objective=objective, sli=sli, alerting=alerting, description=s.text("description"),
               path=path, budget_text=budget_text(objective))


def _read_indicator(ctx: _Ctx, doc: _Doc, named: dict[str, dict[str, _Doc]], threshold: float | None) -> SLI | None:
    s = doc.spec
    if s.has("indicator") == s.has("indicatorRef"):
        ctx.add(doc.m.line, s.path, "needs exactly one of indicator and indicatorRef", "describe the SLI inline")
        return None
    if s.has("indicatorRef"):
        ref = s.text("indicatorRef")
        sli_doc = named["SLI"].get(ref or "")
        if sli_doc is None:
            ctx.add(ctx.lines.get(s.field("indicatorRef")), s.field("indicatorRef"), f"no SLI document named {ref!r}",
                    "add a `kind: SLI` document with that metadata.name")
            return None
    else:
        sli_doc = _inline(ctx, s.node("indicator"), s.field("indicator"), "SLI", "indicatorRef", named["SLI"])
        if sli_doc is None:
            return None
    spec = sli_doc.spec
    if spec.has("ratioMetric"):
        r = spec.mapping("ratioMetric", ("counter", "good", "bad", "total", "rawType", "raw"))
        if r.has("raw") or r.has("rawType"):
            ctx.add(ctx.lines.get(r.field("raw")) or r.line, r.field("raw"), "raw ratio metrics are not supported",
                    "give bad (or good) and total metrics")
            return None
        bad, good, total = _metric(ctx, r, "bad"), _metric(ctx, r, "good"), _metric(ctx, r, "total")
        if r.has("bad") == r.has("good"):
            ctx.add(r.line, r.path, "needs exactly one of bad and good", "add bad: {metricSource: ...}")
            return None
        if total is None or (bad is None and good is None):
            if not r.has("total"):
                r.missing("total", "add total: {metricSource: ...}")
            return None
        return SLI("ratio", bad=bad, good=good, total=total)
    if spec.has("thresholdMetric"):
        metric = _metric(ctx, spec, "thresholdMetric")
        if threshold is None:
            ctx.add(ctx.lines.get(spec.field("thresholdMetric")), spec.field("thresholdMetric"),
                    "a threshold metric needs an objective with op and value", "add op: lte and value: 300")
            return None
        return SLI("latency", threshold_ms=threshold, metric=metric) if metric is not None else None
    ctx.add(spec.line if hasattr(spec, "line") else doc.m.line, spec.path, "needs ratioMetric or thresholdMetric",
            "describe the SLI with ratioMetric: {bad, total}")
    return None


def _read_policies(ctx: _Ctx, doc: _Doc, named: dict[str, dict[str, _Doc]], period: int | None) -> Alerting:
    s = doc.spec
    ratio_text = doc.annotations.get(SHORT_RATIO_ANNOTATION, "12")
    try:
        ratio = int(ratio_text)
        if ratio < 2:
            raise ValueError(ratio_text)
    except ValueError:
        ctx.add(doc.m.line, f"{doc.m.path}.metadata.annotations", f"{SHORT_RATIO_ANNOTATION} must be a whole "
                "number >= 2", "write e.g. \"12\"")
        ratio = 12
    policies = s.sequence("alertPolicies")
    if not policies:
        return Alerting(windows=() if period is None else profile_windows("standard", period))
    out: list[Window] = []
    topics: dict[str, list[str]] = {sev: [] for sev in SEVERITIES}
    no_data = None
    for i, node in enumerate(policies):
        path = f"{s.field('alertPolicies')}[{i}]"
        pol = _inline(ctx, node, path, "AlertPolicy", "alertPolicyRef", named["AlertPolicy"])
        if pol is None:
            continue
        p = pol.spec
        conditions = p.sequence("conditions")
        if len(conditions) != 1:
            ctx.add(pol.m.line, p.field("conditions"), "needs exactly one condition", "split into several policies")
            continue
        cond = _inline(ctx, conditions[0], p.field("conditions") + "[0]", "AlertCondition", "conditionRef",
                       named["AlertCondition"])
        if cond is None:
            continue
        severity = cond.spec.text("severity", required="write severity: page or ticket")
        if severity is not None and severity not in SEVERITIES:
            ctx.add(ctx.lines.get(cond.spec.field("severity")), cond.spec.field("severity"),
                    f"severity {severity!r} has no obskit tier", "use page or ticket")
            severity = None
        c = cond.spec.mapping("condition", ("kind", "op", "threshold", "lookbackWindow", "alertAfter"))
        ckind = c.text("kind", required="write kind: burnrate")
        if ckind is not None and ckind != "burnrate":
            ctx.add(ctx.lines.get(c.field("kind")), c.field("kind"), f"{ckind!r} is not supported",
                    "use kind: burnrate")
        op = c.text("op", required="write op: gte")
        if op in ("lt", "lte"):
            ctx.add(ctx.lines.get(c.field("op")), c.field("op"), f"op {op} would alert while the burn rate is low",
                    "use op: gte (alert when the burn rate reaches the threshold)")
            op = None
        burn = c.number("threshold", required="give the burn rate, e.g. threshold: 14.4", low=0)
        if burn is not None and burn < 1:
            ctx.add(ctx.lines.get(c.field("threshold")), c.field("threshold"),
                    f"burn rate {burn:g} is below 1x: it fires while the SLO will still be met",
                    "use threshold: 1 or more")
            burn = None
        long_s = c.duration("lookbackWindow", required="give the long window, e.g. lookbackWindow: 1h")
        if long_s is not None and (long_s % 60 or long_s > MAX_EVALUATION_RANGE or long_s // ratio < 60):
            ctx.add(ctx.lines.get(c.field("lookbackWindow")), c.field("lookbackWindow"),
                    f"{format_duration(long_s)} cannot be evaluated by CloudWatch with a short window of 1/{ratio}",
                    f"use whole minutes, at least {ratio} min and at most 7d")
            long_s = None
        if severity is None or op is None or burn is None or long_s is None or period is None:
            continue
        short_s = max(60, (long_s // ratio) // 60 * 60)
        out.append(Window(severity, long_s, short_s, burn, round(burn * long_s / period * 100, 6)))
        for j, tnode in enumerate(p.sequence("notificationTargets")):
            tdoc = _inline(ctx, tnode, f"{p.field('notificationTargets')}[{j}]", "AlertNotificationTarget",
                           "targetRef", named["AlertNotificationTarget"])
            if tdoc is None:
                continue
            arn = next((v for v in (tdoc.spec.text("target"), tdoc.spec.text("description"))
                        if v and _SNS_RE.match(v)), None)
            if arn is None:
                ctx.add(tdoc.m.line, tdoc.spec.path, "names no SNS topic ARN",
                        "put the topic ARN in spec.target or spec.description")
            elif arn not in topics[severity]:
                topics[severity].append(arn)
        found, when_no_data = p.scalar("alertWhenNoData")
        if found and when_no_data is True:
            no_data = severity
    return Alerting(page=tuple(topics["page"]), ticket=tuple(topics["ticket"]), windows=tuple(out), no_data=no_data)
