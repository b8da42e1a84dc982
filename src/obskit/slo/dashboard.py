"""A CloudWatch dashboard per service, drawn from the very queries its SLO alarms read.

Imports: the standard library, ``obskit.semconv``, ``obskit.errors`` and ``obskit.slo``; boto3
only inside ``put_dashboard``.

An on-call engineer who is paged needs three answers from one screen: how much budget is left,
which window is burning, which operation is to blame. Per SLO the dashboard shows attainment and
budget left over the SLO period, one graph per tier with the long and short window's burn rate
and the tier's threshold as a horizontal line, and the state of every alarm of the SLO. Per
service: Latency p50/p99, Error and Fault rates per Operation (top operations by faults) and a
Logs Insights table of the latest faulted requests with their ``trace_id``.

Every SLI expression comes from ``alarms.burn_queries``, the function the alarms use; only the
query ids get a per-window suffix (a widget holds several windows, ids must be unique in it).
A dashboard graph buckets each window at its period where an alarm slides it every minute, so a
point is the burn rate of the window *ending* at that point's bucket: the same number the alarm
saw at that minute.

The body is a plain JSON document with two kinds of placeholders (region, alarm ARNs) that each
rendering fills in: ``Fn::Sub`` references in CloudFormation, interpolations in Terraform, real
values for ``PutDashboard``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from obskit import semconv
from obskit.errors import SLOProblem, SLOSpecError
from obskit.slo.alarms import AlarmSet, MetricQuery, burn_queries, format_span
from obskit.slo.spec import SLO, SLOConfig, Window, format_duration

__all__ = [
    "DASHBOARD_FORMATS",
    "MAX_BODY_BYTES",
    "MAX_METRICS_PER_DASHBOARD",
    "MAX_METRICS_PER_WIDGET",
    "MAX_WIDGETS",
    "body",
    "body_json",
    "check",
    "dashboard_name",
    "expressions",
    "put_dashboard",
    "render_dashboard",
]

# CloudWatch service quotas (Dashboards): widgets per dashboard, metrics and expressions per
# widget, metrics per dashboard (metrics read only by math count too).
MAX_WIDGETS = 500
MAX_METRICS_PER_WIDGET = 500
MAX_METRICS_PER_DASHBOARD = 2500
# CloudWatch documents no byte limit of its own for DashboardBody; the CloudFormation template that
# carries it may not exceed 1 MB (uploaded through S3), so a body must stay under that.
MAX_BODY_BYTES = 1_000_000
MAX_NAME = 255
GRID = 24
TOP_OPERATIONS = 10
SERVICE_PERIOD_S = 300
LOG_ROWS = 50
REGION = "@@obskit-region@@"
_ARN = "@@obskit-arn:{}@@"
_ARN_RE = re.compile(r"@@obskit-arn:(\d+)@@")
_ID_RE = re.compile(r"\b[a-z][A-Za-z0-9_]*\b")
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def dashboard_name(config: SLOConfig) -> str:
    """``<prefix>-<service>-slo``: CloudWatch allows letters, digits, ``-`` and ``_`` only."""
    raw = f"{config.name_prefix}-{config.service}-slo"
    return _NAME_UNSAFE.sub("-", raw).strip("-")[:MAX_NAME]


# --- layout ----------------------------------------------------------------------------------
class _Grid:
    """Places widgets left to right on CloudWatch's 24-column grid, wrapping to a new row."""

    def __init__(self) -> None:
        self.widgets: list[dict[str, Any]] = []
        self.x = self.y = self.row = 0

    def add(self, kind: str, width: int, height: int, properties: dict[str, Any]) -> None:
        if self.x + width > GRID:
            self.newline()
        self.widgets.append({"type": kind, "x": self.x, "y": self.y, "width": width, "height": height,
                             "properties": properties})
        self.x += width
        self.row = max(self.row, height)

    def newline(self) -> None:
        if self.x:
            self.x, self.y, self.row = 0, self.y + self.row, 0


def _ago(seconds: int) -> str:
    """A relative ISO 8601 start (``-PT6H``, ``-P3D``) as dashboards take it."""
    if seconds % 86_400 == 0:
        return f"-P{seconds // 86_400}D"
    if seconds % 3600 == 0:
        return f"-PT{seconds // 3600}H"
    return f"-PT{max(seconds // 60, 1)}M"


def _num(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".") or "0"


# --- metric rows -----------------------------------------------------------------------------
def _stat_row(q: MetricQuery, qid: str) -> list[Any]:
    row: list[Any] = [q.namespace, q.metric]
    for k, v in q.dimensions:
        row += [k, v]
    opts: dict[str, Any] = {"id": qid, "stat": q.stat, "period": q.period, "visible": False}
    if q.label:
        opts["label"] = q.label
    row.append(opts)
    return row


def _expr_row(expression: str, qid: str, label: str, *, visible: bool = True) -> list[Any]:
    row: dict[str, Any] = {"expression": expression, "id": qid, "label": label}
    if not visible:
        row["visible"] = False
    return [row]


def _burn_rows(config: SLOConfig, slo: SLO, period: int, suffix: str, label: str,
               *, visible: bool = True, severity: str | None = None) -> tuple[list[list[Any]], str]:
    """The alarm's queries over ``period`` with ids suffixed; returns the rows and the burn id."""
    stats, expression, _ = burn_queries(config, slo, period, severity)
    ids = {q.id: f"{q.id}_{suffix}" for q in stats}
    renamed = _ID_RE.sub(lambda m: ids.get(m.group(), m.group()), expression)
    burn = f"burn_{suffix}"
    rows = [_stat_row(q, ids[q.id]) for q in stats]
    rows.append(_expr_row(renamed, burn, label, visible=visible))
    return rows, burn


# --- widgets ---------------------------------------------------------------------------------
def _heading(config: SLOConfig, slo: SLO) -> str:
    minutes = slo.budget * config.period_s / 60
    where = f" of `{slo.operation}`" if slo.operation else ""
    text = (f"### {slo.name}: {slo.objective:g}% over {format_duration(config.period_s)}{where}\n"
            f"Error budget: {minutes:,.1f} min of full outage. A burn rate of 1 spends it exactly in "
            f"{format_duration(config.period_s)}; a tier fires when both of its windows reach its threshold.")
    if slo.description:
        text += f" {slo.description}"
    if slo.alerting.runbook_url:
        text += f" [Runbook]({slo.alerting.runbook_url})"
    return text


def _budget_widget(config: SLOConfig, slo: SLO) -> dict[str, Any]:
    period = config.period_s
    rows, burn = _burn_rows(config, slo, period, "period", f"burn rate over {format_duration(period)}",
                            visible=False)
    minutes = slo.budget * period / 60
    rows += [
        _expr_row(f"100 * (1 - {burn} * {slo.budget_text})", "attainment",
                  f"attainment % (objective {slo.objective:g}%)"),
        _expr_row(f"100 * (1 - {burn})", "budget_pct", "error budget left %"),
        _expr_row(f"(1 - {burn}) * {_num(minutes)}", "budget_min", "budget left, min of full outage"),
    ]
    return {"title": f"{slo.name}: attainment and error budget, last {format_duration(period)}",
            "view": "singleValue", "region": REGION, "metrics": rows, "period": period,
            "setPeriodToTimeRange": True, "singleValueFullPrecision": True, "start": _ago(period)}


def _tier_widget(config: SLOConfig, slo: SLO, w: Window) -> dict[str, Any]:
    long_, short = format_duration(w.long_s), format_duration(w.short_s)
    lasts = format_span(config.period_s / w.burn_rate)
    rows: list[list[Any]] = []
    for secs, text in ((w.long_s, long_), (w.short_s, short)):
        part, _ = _burn_rows(config, slo, secs, text, f"burn rate over {text}", severity=w.severity)
        rows += part
    return {
        "title": f"{slo.name}: {w.severity} {long_}/{short}, ALARM when both >= {_num(w.burn_rate)}x",
        "view": "timeSeries", "region": REGION, "metrics": rows, "period": w.short_s,
        "start": _ago(12 * w.long_s), "stacked": False,
        "annotations": {"horizontal": [{
            "label": f"{w.severity} at {_num(w.burn_rate)}x (budget gone in {lasts})",
            "value": w.burn_rate}]},
        "yAxis": {"left": {"min": 0, "showUnits": False, "label": "burn rate"}},
    }


def _search(config: SLOConfig, metric: str, stat: str, sort: str) -> str:
    dims = [semconv.DIM_OPERATION, semconv.DIM_SERVICE]
    terms = [f'MetricName="{metric}"', f'{semconv.DIM_SERVICE}="{config.service}"']
    if config.environment is not None:
        dims.append(semconv.DIM_ENVIRONMENT)
        terms.append(f'{semconv.DIM_ENVIRONMENT}="{config.environment}"')
    schema = "{" + ",".join([f'"{config.namespace}"', *sorted(dims)]) + "}"
    search = f"SEARCH('{schema} {' '.join(terms)}', '{stat}', {SERVICE_PERIOD_S})"
    return f"SORT({search}, {sort}, DESC, {TOP_OPERATIONS})"


def _service_dims(config: SLOConfig) -> list[str]:
    dims = [semconv.DIM_SERVICE, config.service]
    if config.environment is not None:
        dims += [semconv.DIM_ENVIRONMENT, config.environment]
    return dims


def _searchable(config: SLOConfig) -> bool:
    """SEARCH takes its terms in quotes: a name holding one cannot be searched for."""
    return not any(c in text for text in (config.service, config.namespace, config.environment or "")
                   for c in "'\"\\")


def _service_widgets(grid: _Grid, config: SLOConfig) -> None:
    ns, dims = config.namespace, _service_dims(config)
    common = {"view": "timeSeries", "region": REGION, "period": SERVICE_PERIOD_S, "stacked": False}
    latency: list[list[Any]] = [
        [ns, semconv.METRIC_LATENCY, *dims, {"stat": "p50", "label": "p50, all operations"}],
        [ns, semconv.METRIC_LATENCY, *dims, {"stat": "p99", "label": "p99, all operations"}],
    ]
    label = "${PROP('Dim." + semconv.DIM_OPERATION + "')}"
    searchable = _searchable(config)
    if searchable:
        latency.append(_expr_row(_search(config, semconv.METRIC_LATENCY, "p99", "MAX"), "op_p99",
                                 f"p99 {label}"))
    grid.add("metric", 12, 6, {**common, "title": f"{config.service}: Latency p50/p99 (ms)", "metrics": latency,
                               "yAxis": {"left": {"min": 0, "showUnits": False, "label": "ms"}}})
    rate = {"yAxis": {"left": {"min": 0, "showUnits": False, "label": "% of requests"}}}
    if not searchable:
        grid.add("text", 12, 6, {"markdown": "Per-operation graphs need a service, namespace and environment "
                                             "without quotes or backslashes (CloudWatch SEARCH terms)."})
        return
    for metric, what in ((semconv.METRIC_FAULT, "Fault (5xx, exceptions)"), (semconv.METRIC_ERROR, "Error (4xx)")):
        grid.add("metric", 12, 6, {**common, **rate, "title": f"{config.service}: {what} rate per Operation, top "
                                                             f"{TOP_OPERATIONS}", "metrics": [
            _expr_row("100 * " + _search(config, metric, "Average", "AVG"), f"{metric.lower()}_rate", label)]})
    grid.add("metric", 12, 6, {**common, "title": f"{config.service}: faults per Operation, top {TOP_OPERATIONS} "
                                                   "by count", "metrics": [
        _expr_row(_search(config, semconv.METRIC_FAULT, "Sum", "SUM"), "fault_count", label)],
        "yAxis": {"left": {"min": 0, "showUnits": False, "label": "faults"}}})


def logs_query(config: SLOConfig) -> str:
    """The Logs Insights query of the latest faulted requests of the service, newest first."""
    sources = " | ".join(f"SOURCE '{g}'" for g in config.log_groups)
    fields = ", ".join(["@timestamp", semconv.LOG_HTTP_METHOD, semconv.LOG_HTTP_ROUTE, semconv.LOG_HTTP_STATUS,
                        semconv.LOG_DURATION_MS, semconv.LOG_TRACE_ID, semconv.LOG_MESSAGE])
    return (f"{sources} | fields {fields}"
            f" | filter {semconv.LOG_SERVICE} = {json.dumps(config.service)}"
            f" and ({semconv.LOG_HTTP_STATUS} >= 500 or ispresent({semconv.LOG_EXCEPTION}))"
            f" | sort @timestamp desc | limit {LOG_ROWS}")


def _logs_widget(grid: _Grid, config: SLOConfig) -> None:
    if not config.log_groups:
        grid.add("text", 24, 2, {"markdown": (
            "The latest faulted requests appear here once the SLO file names the service's log groups:\n"
            "`dashboard: {log_groups: [/aws/lambda/my-function]}`")})
        return
    grid.add("log", 24, 8, {"title": f"{config.service}: latest faulted requests (status >= 500 or exception)",
                            "region": REGION, "view": "table", "query": logs_query(config)})


# --- the body --------------------------------------------------------------------------------
def body(alarm_set: AlarmSet) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The dashboard body with placeholders, and the alarm names its ARN placeholders stand for.

    The region placeholder is ``REGION``; the n-th alarm name's ARN is ``@@obskit-arn:n@@``.
    Use ``body_json`` to fill them in.
    """
    config = alarm_set.config
    grid = _Grid()
    env = f" ({config.environment})" if config.environment else ""
    grid.add("text", 24, 2, {"markdown": (
        f"## {config.service}{env}: SLOs\nGenerated by obskit from `{config.file}` with the alarms it explains: "
        "regenerate instead of editing. Burn rate = error ratio / error budget; graphs bucket each window "
        "at its length, the alarms slide it every minute.")})
    names: list[str] = []
    for slo in config.slos:
        grid.newline()
        grid.add("text", 24, 2, {"markdown": _heading(config, slo)})
        grid.add("metric", 9, 5, _budget_widget(config, slo))
        own = [c.name for c in alarm_set.composite_alarms if c.slo == slo.name]
        own += [a.name for a in alarm_set.metric_alarms if a.slo == slo.name]
        arns = []
        for name in own[:100]:  # an alarm status widget lists at most 100 alarms
            names.append(name)
            arns.append(_ARN.format(len(names) - 1))
        grid.add("alarm", 15, 5, {"title": f"{slo.name}: alarms (page, ticket and each window)",
                                  "alarms": arns, "sortBy": "default"})
        for w in slo.alerting.windows:
            grid.add("metric", 6, 6, _tier_widget(config, slo, w))
    grid.newline()
    _service_widgets(grid, config)
    grid.newline()
    _logs_widget(grid, config)
    return {"start": "-PT12H", "periodOverride": "inherit", "widgets": grid.widgets}, tuple(names)


def body_json(alarm_set: AlarmSet, *, region: str, arn: Callable[[str], str],
              escape: Callable[[str], str] = lambda text: text) -> str:
    """The body as the ``DashboardBody`` string.

    Args:
        region: the text standing for the region (a name, or a template reference).
        arn: alarm name -> the text standing for its ARN.
        escape: applied to the JSON before the placeholders are filled, so a template language
            (``Fn::Sub``, Terraform) reads user text literally and only our references as its own.
    """
    doc, names = body(alarm_set)
    text = escape(json.dumps(doc, separators=(",", ":"), ensure_ascii=False))
    text = text.replace(REGION, region)
    return _ARN_RE.sub(lambda m: arn(names[int(m.group(1))]), text)


def expressions(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (widget title, metric-math expression) of a body, for tests and reviews."""
    out = []
    for widget in doc["widgets"]:
        props = widget["properties"]
        for row in props.get("metrics", []):
            opts = row[-1] if row and isinstance(row[-1], dict) else {}
            if "expression" in opts:
                out.append((props.get("title", ""), opts["expression"]))
    return out


def check(alarm_set: AlarmSet) -> list[SLOProblem]:
    """What CloudWatch would reject in the dashboard of ``alarm_set`` (its quotas)."""
    config = alarm_set.config
    doc, _ = body(alarm_set)
    widgets = doc["widgets"]
    problems = []

    def bad(message: str) -> None:
        problems.append(config.problem("slos", message, "split the SLOs over several files"))

    if len(widgets) > MAX_WIDGETS:
        bad(f"the dashboard has {len(widgets)} widgets; CloudWatch allows {MAX_WIDGETS}")
    total = 0
    for widget in widgets:
        count = len(widget["properties"].get("metrics", []))
        total += count
        if count > MAX_METRICS_PER_WIDGET:
            bad(f"widget {widget['properties'].get('title')!r} has {count} metrics; CloudWatch allows "
                f"{MAX_METRICS_PER_WIDGET}")
    if total > MAX_METRICS_PER_DASHBOARD:
        bad(f"the dashboard reads {total} metrics; CloudWatch allows {MAX_METRICS_PER_DASHBOARD}")
    size = len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_BODY_BYTES:
        bad(f"the dashboard body is {size:,} bytes; a CloudFormation template holds {MAX_BODY_BYTES:,}")
    return problems


def checked(alarm_set: AlarmSet) -> AlarmSet:
    """``alarm_set`` unchanged, after ``check`` found nothing (else ``SLOSpecError``)."""
    problems = check(alarm_set)
    if problems:
        raise SLOSpecError(problems)
    return alarm_set


# --- renderings ------------------------------------------------------------------------------
def cfn_escape(text: str) -> str:
    """Literal ``${`` inside ``Fn::Sub`` is written ``${!``."""
    return text.replace("${", "${!")


def tf_escape(text: str) -> str:
    """Literal template sequences in a Terraform string."""
    return text.replace("${", "$${").replace("%{", "%%{")


def cloudformation_resource(alarm_set: AlarmSet, logical_ids: dict[str, str] | None = None) -> dict[str, Any]:
    """``AWS::CloudWatch::Dashboard``; alarm ARNs by ``GetAtt`` when the alarms share the template.

    Without ``logical_ids`` (the dashboard alone) ARNs are built from the pseudo parameters.
    """
    def arn(name: str) -> str:
        if logical_ids is not None and name in logical_ids:
            return "${" + logical_ids[name] + ".Arn}"
        return "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:" + cfn_escape(name)

    text = body_json(checked(alarm_set), region="${AWS::Region}", arn=arn, escape=cfn_escape)
    return {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
        "DashboardName": dashboard_name(alarm_set.config), "DashboardBody": {"Fn::Sub": text}}}


def terraform_resource(alarm_set: AlarmSet, addresses: dict[str, str] | None = None) -> dict[str, Any]:
    """``aws_cloudwatch_dashboard`` arguments; ARNs by reference when the alarms share the module.

    ``addresses`` maps alarm names to ``<type>.<name>``; without it ARNs are built from the
    ``aws_partition``, ``aws_region`` and ``aws_caller_identity`` data sources (``terraform_data``).
    """
    def arn(name: str) -> str:
        if addresses is not None and name in addresses:
            return "${" + addresses[name] + ".arn}"
        return ("arn:${data.aws_partition.current.partition}:cloudwatch:${data.aws_region.current.id}:"
                "${data.aws_caller_identity.current.account_id}:alarm:" + tf_escape(name))

    text = body_json(checked(alarm_set), region="${data.aws_region.current.id}", arn=arn, escape=tf_escape)
    return {"dashboard_name": dashboard_name(alarm_set.config), "dashboard_body": text}


def terraform_data() -> dict[str, Any]:
    """The data sources the Terraform dashboard reads."""
    return {"aws_region": {"current": {}}, "aws_partition": {"current": {}}, "aws_caller_identity": {"current": {}}}


def put_dashboard(alarm_set: AlarmSet, client: Any, *, region: str, account: str, partition: str = "aws",
                  dry_run: bool = False) -> str:
    """``PutDashboard`` the service's dashboard; returns a line saying what was (or would be) done."""
    name = dashboard_name(alarm_set.config)
    text = body_json(checked(alarm_set), region=region,
                     arn=lambda alarm: f"arn:{partition}:cloudwatch:{region}:{account}:alarm:{alarm}")
    widgets = len(json.loads(text)["widgets"])
    if dry_run:
        return f"dry run: would put dashboard {name} ({widgets} widgets)"
    answer = client.put_dashboard(DashboardName=name, DashboardBody=text)
    warnings = [m.get("Message", "") for m in answer.get("DashboardValidationMessages", [])]
    suffix = "; CloudWatch says: " + "; ".join(warnings) if warnings else ""
    return f"put dashboard {name} ({widgets} widgets){suffix}"


DASHBOARD_FORMATS = ("cloudformation", "cloudformation-json", "terraform", "json")


def render_dashboard(alarm_set: AlarmSet, fmt: str, *, region: str | None = None, account: str | None = None,
                     partition: str = "aws") -> str:
    """The dashboard alone in one of ``DASHBOARD_FORMATS``.

    ``json`` is the ``DashboardBody`` itself (for ``aws cloudwatch put-dashboard`` or the
    console's source view): it needs ``region`` and ``account`` to write the alarm ARNs.
    """
    from obskit.slo.alarms import generator_version
    from obskit.slo.render import dump_yaml

    config = alarm_set.config
    about = (f"SLO dashboard of {config.service}, generated by obskit {generator_version()} from {config.file}; "
             "regenerate instead of editing.")
    if fmt in ("cloudformation", "cloudformation-json"):
        template = {"AWSTemplateFormatVersion": "2010-09-09", "Description": about[:1024],
                    "Resources": {"SLODashboard": cloudformation_resource(alarm_set)}}
        return json.dumps(template, indent=2) + "\n" if fmt.endswith("json") else dump_yaml(template)
    if fmt == "terraform":
        doc = {"//": about, "data": terraform_data(),
               "resource": {"aws_cloudwatch_dashboard": {"slo": terraform_resource(alarm_set)}}}
        return json.dumps(doc, indent=2) + "\n"
    if fmt == "json":
        if not region or not account:
            raise ValueError("the json format writes alarm ARNs: give --region and --account-id")
        text = body_json(checked(alarm_set), region=region,
                         arn=lambda name: f"arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}")
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(DASHBOARD_FORMATS)}")


def apply_dashboard(alarm_set: AlarmSet, *, region: str | None = None, profile: str | None = None,
                    dry_run: bool = False, session: Any = None) -> str:
    """``put_dashboard`` with a boto3 session: its region, and the account STS names."""
    if session is None:
        from obskit._deps import require

        boto3 = require("boto3", "slo", feature="obskit slo apply --with-dashboard")
        session = boto3.session.Session(profile_name=profile, region_name=region)
    where = session.region_name
    if not where:
        raise ValueError("no AWS region: give --region or configure one")
    account = session.client("sts").get_caller_identity()["Account"]
    partition = session.get_partition_for_region(where)
    return put_dashboard(alarm_set, session.client("cloudwatch"), region=where, account=account,
                         partition=partition, dry_run=dry_run)
