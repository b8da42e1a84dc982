"""Read an SLO file into a frozen model that remembers the file and line of every field.

Imports: the standard library, ``obskit.semconv``, ``obskit.errors`` and ``obskit._deps``. PyYAML is
imported inside ``parse``; OpenSLO v1 documents are handed to ``obskit.slo.openslo``.

Every mistake is collected before anything is raised, so one run of ``obskit slo validate``
lists all of them as ``FILE:LINE: field: what is wrong; how to fix``. The checks here are the
ones CloudWatch would reject at deploy time and no linter catches: periods CloudWatch cannot
evaluate, windows longer than the 7-day evaluation range, more than 5 actions, and tiers that
can never fire because ``burn_rate * (1 - objective) >= 1``.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import MappingProxyType
from typing import Any

from obskit import semconv
from obskit._deps import require
from obskit.errors import SLOProblem, SLOSpecError

__all__ = [
    "KINDS",
    "PROFILES",
    "SEVERITIES",
    "SLI",
    "SLO",
    "Alerting",
    "MetricRef",
    "SLOConfig",
    "Window",
    "format_duration",
    "load",
    "parse",
    "parse_duration",
    "profile_windows",
]

KINDS = ("availability", "latency", "synthetic", "ratio")
SEVERITIES = ("page", "ticket")
DAY = 86_400
MAX_EVALUATION_RANGE = 7 * DAY  # Period x EvaluationPeriods, CloudWatch PutMetricAlarm
MAX_ACTIONS = 5  # per state list
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": DAY, "w": 7 * DAY}
_LOG_GROUP_RE = re.compile(r"^[A-Za-z0-9_./#-]{1,512}$")
# CloudWatch's statistics: the five plain ones, IQM, pNN/tmNN/tcNN/tsNN/wmNN (0-100, decimals
# allowed) and the range forms PR/TM/TC/TS/WM(low:high) with absolute or percent bounds.
_PCT = r"(?:100(?:\.0+)?|\d{1,2}(?:\.\d+)?)"
_BOUND = r"(?:\d+(?:\.\d+)?%?)"
_STAT_RE = re.compile(rf"SampleCount|Sum|Average|Minimum|Maximum|IQM|(?:p|tm|tc|ts|wm){_PCT}"
                      rf"|(?:PR|TM|TC|TS|WM)\({_BOUND}?:{_BOUND}?\)")
MAX_INPUT_BYTES = 1_048_576  # an SLO file of 1,000 SLOs is about 100 KB
_SNS_RE = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]{1,256}$")

# (severity, long window, short window, burn rate). The burn rates are the same for every SLO
# period, so no tier ever fires below 1x (the SLO would still be met) and the slowest tier, 1x,
# catches every burn above 1x before the budget is gone; only the share of the budget each tier
# stands for changes with the period (``burn_rate * long / period``).
# The SRE Workbook's recommendation ("Alerting on SLOs", table 5-8, multiwindow multi-burn-rate)
# as Sloth's google-30d windows write it: page 1h/5m at 14.4 and 6h/30m at 6 (2 % and 5 % of a
# 30-day budget), ticket 1d/2h at 3 and 3d/6h at 1 (10 % each).
_WORKBOOK = (
    ("page", 3600, 300, 14.4),
    ("page", 6 * 3600, 1800, 6.0),
    ("ticket", DAY, 2 * 3600, 3.0),
    ("ticket", 3 * DAY, 6 * 3600, 1.0),
)
PROFILES: Mapping[str, tuple[tuple[str, int, int, float], ...]] = MappingProxyType({
    "standard": _WORKBOOK,
    "slow-burn": _WORKBOOK,  # the earlier name of the profile with the 3d/6h pair, which standard now has
})


def profile_windows(name: str, period_s: int) -> tuple[Window, ...]:
    """The tiers of profile ``name`` on a ``period_s`` SLO.

    A window longer than the period is cut to the period (short window: a twelfth of it, in
    whole minutes); a tier whose windows then repeat another's keeps the lower burn rate.
    """
    out: dict[tuple[str, int, int], Window] = {}
    for sev, long_s, short_s, burn in PROFILES[name]:
        if long_s > period_s:
            long_s = period_s
            short_s = max(60, long_s // 12 // 60 * 60)
        key = (sev, long_s, short_s)
        if key not in out or out[key].burn_rate > burn:
            out[key] = Window(sev, long_s, short_s, burn, round(burn * long_s / period_s * 100, 6))
    return tuple(out.values())


# --- the model -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MetricRef:
    """One CloudWatch metric and the statistic to read from it."""

    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...] = ()
    stat: str = "Sum"


@dataclass(frozen=True, slots=True)
class SLI:
    """What counts as a bad event and what as an event, for one SLO."""

    kind: str
    threshold_ms: float | None = None
    canary: str | None = None
    bad: MetricRef | None = None
    good: MetricRef | None = None
    total: MetricRef | None = None
    metric: MetricRef | None = None
    min_bad_events: int = 0
    schedule_s: int = 60


@dataclass(frozen=True, slots=True)
class Window:
    """One tier: alert when both windows burn the budget at least ``burn_rate`` times too fast."""

    severity: str
    long_s: int
    short_s: int
    burn_rate: float
    budget_percent: float


@dataclass(frozen=True, slots=True)
class Alerting:
    """Where a tier's notifications go and how the tiers are built, after defaults are merged."""

    page: tuple[str, ...] = ()
    ticket: tuple[str, ...] = ()
    runbook_url: str | None = None
    windows: tuple[Window, ...] = ()
    min_requests: int = 0
    no_data: str | None = None
    budget_below_percent: float | None = None
    budget_severity: str = "ticket"

    def actions(self, severity: str) -> tuple[str, ...]:
        """The notification targets of ``severity``."""
        return self.page if severity == "page" else self.ticket


@dataclass(frozen=True, slots=True)
class SLO:
    """One objective over the config's period, with its resolved alerting."""

    name: str
    objective: float
    sli: SLI
    alerting: Alerting
    operation: str | None = None
    description: str | None = None
    expected_rps: float | None = None
    path: str = ""
    budget_text: str = ""

    @property
    def budget(self) -> float:
        """The error budget as a fraction, ``1 - objective``."""
        return float(self.budget_text)


@dataclass(frozen=True, slots=True)
class SLOConfig:
    """A whole SLO file: one service, its SLOs, and the line of every field it came from."""

    file: str
    service: str
    namespace: str
    period_s: int
    name_prefix: str
    slos: tuple[SLO, ...]
    environment: str | None = None
    source_format: str = "obskit"
    log_groups: tuple[str, ...] = ()
    lines: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))

    def line_of(self, path: str) -> int | None:
        """The line of field ``path`` (``slos[1].objective``), or of its nearest parent."""
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return None

    def problem(self, path: str, message: str, fix: str | None = None) -> SLOProblem:
        """An ``SLOProblem`` located at field ``path``, for checks made after parsing."""
        return SLOProblem(self.file, self.line_of(path), path, message, fix)


# --- alarm names -----------------------------------------------------------------------------
NAME_SEP = "/"  # between prefix, service, SLO and part in alarm names: none of them may hold it
MAX_ALARM_NAME = 255
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def number_text(value: float) -> str:
    """A number as CloudWatch and humans like it: six decimals at most, no trailing zeros."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return text or "0"


def service_token(service: str) -> str:
    """The service as it appears in alarm names: itself when it is made of ``A-Za-z0-9._-``;
    else its safe form and a short hash of the original, so ``shop api`` and ``shop-api`` differ."""
    safe = _UNSAFE.sub("-", service).strip("-") or "x"
    if safe == service:
        return safe
    return f"{safe}-{hashlib.sha256(service.encode()).hexdigest()[:8]}"


def window_parts(windows: Iterable[Window]) -> dict[tuple[str, int, float], str]:
    """The name part of each child alarm, ``page-1h`` (``page-1h-x14.4`` when one window of a
    severity serves two burn rates), keyed by (severity, window, burn rate)."""
    ws = tuple(windows)
    burns: dict[tuple[str, int], set[float]] = {}
    for w in ws:
        for secs in (w.long_s, w.short_s):
            burns.setdefault((w.severity, secs), set()).add(w.burn_rate)
    parts: dict[tuple[str, int, float], str] = {}
    for w in ws:
        for secs in (w.long_s, w.short_s):
            part = f"{w.severity}-{format_duration(secs)}"
            if len(burns[(w.severity, secs)]) > 1:
                part += f"-x{number_text(w.burn_rate)}"
            parts.setdefault((w.severity, secs, w.burn_rate), part)
    return parts


def _check_names(ctx: _Ctx, prefix: str, service: str) -> None:
    """Alarm names over 255 characters, found while parsing so they come with every other problem
    (also for an SLO that has other mistakes)."""
    for path, name, windows in ctx.named:
        base = NAME_SEP.join((prefix, service_token(service), name, ""))
        longest = max([*window_parts(windows).values(), *SEVERITIES, "no-data", "budget"], key=len)
        if len(base) + len(longest) > MAX_ALARM_NAME:
            fld = f"{path}.name"
            ctx.add(ctx.lines.get(fld), fld, f"alarm {base + longest!r}: the name is {len(base) + len(longest)} "
                    f"characters; CloudWatch allows {MAX_ALARM_NAME}",
                    "shorten the service, SLO name or alerting.name_prefix")


# --- durations and numbers -------------------------------------------------------------------
def parse_duration(text: str) -> int | None:
    """``"5m"`` -> 300; ``None`` for anything that is not a positive integer and one of s m h d w."""
    m = _DURATION_RE.match(text)
    if not m or int(m.group(1)) <= 0:
        return None
    return int(m.group(1)) * _UNITS[m.group(2)]


def format_duration(seconds: int) -> str:
    """300 -> ``"5m"``; the largest unit that divides the duration exactly."""
    for unit, size in (("d", DAY), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def budget_text(objective: float) -> str:
    """The exact decimal ``1 - objective/100`` (99.9 -> ``"0.001"``), free of float noise."""
    value = (Decimal(100) - Decimal(repr(objective))) / Decimal(100)
    return format(value.normalize(), "f")


def burn_rate_for(budget_percent: float, period_s: int, long_s: int) -> float:
    """The burn rate that spends ``budget_percent`` of the period's budget in ``long_s``."""
    return round(budget_percent / 100.0 * period_s / long_s, 6)


# --- YAML nodes with line numbers ------------------------------------------------------------
class _Ctx:
    """Collects problems and field lines while one file is read."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[SLOProblem] = []
        self.lines: dict[str, int] = {}
        self.named: list[tuple[str, str, tuple[Window, ...]]] = []  # (path, SLO name, windows), parsed or not

    def add(self, line: int | None, fld: str, message: str, fix: str | None = None) -> None:
        self.problems.append(SLOProblem(self.file, line, fld, message, fix))

    def error(self) -> SLOSpecError:
        """Every problem so far, in line order (a stable sort keeps a line's problems together)."""
        return SLOSpecError(sorted(self.problems, key=lambda p: (p.line is None, p.line or 0)))


def _line(node: Any) -> int:
    return int(node.start_mark.line) + 1


_SCALARS: dict[str, Callable[[Any], Any]] = {}


def _scalar(node: Any) -> Any:
    """The Python value of a YAML scalar node (str, int, float, bool or None)."""
    if not _SCALARS:
        from yaml.constructor import SafeConstructor

        c = SafeConstructor()
        _SCALARS.update({
            "tag:yaml.org,2002:str": lambda n: n.value,
            "tag:yaml.org,2002:int": c.construct_yaml_int,
            "tag:yaml.org,2002:float": c.construct_yaml_float,
            "tag:yaml.org,2002:bool": c.construct_yaml_bool,
            "tag:yaml.org,2002:null": lambda n: None,
        })
    conv = _SCALARS.get(node.tag)
    return conv(node) if conv is not None else node.value


def _kind_of(node: Any) -> str:
    name = type(node).__name__
    if name == "MappingNode":
        return "a mapping"
    if name == "SequenceNode":
        return "a list"
    value = _scalar(node)
    if value is None:
        return "empty"
    return f"{type(value).__name__} {value!r}"


def _suggest(key: str, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    return "allowed keys: " + ", ".join(sorted(allowed))


class _Map:
    """A YAML mapping node read key by key, each getter recording problems instead of raising."""

    def __init__(self, ctx: _Ctx, node: Any, path: str, keys: Iterable[str],
                 elsewhere: Mapping[str, str] | None = None) -> None:
        self.ctx, self.path = ctx, path
        self.items: dict[str, Any] = {}
        self.ok = True
        if node is None:
            return
        self.line = _line(node)
        if type(node).__name__ != "MappingNode":
            ctx.add(_line(node), path or "(document)", f"must be a mapping, got {_kind_of(node)}",
                    "write `key: value` pairs")
            self.ok = False
            return
        allowed = tuple(keys)
        for knode, vnode in node.value:
            key = _scalar(knode) if type(knode).__name__ == "ScalarNode" else None
            fld = self.field(str(key))
            if knode.tag == "tag:yaml.org,2002:merge":
                ctx.add(_line(knode), fld, "YAML merge keys (<<) are not supported",
                        "write the keys out (an alias of a whole value, `key: *anchor`, works)")
                continue
            if not isinstance(key, str):
                ctx.add(_line(knode), fld, "keys must be strings", "quote the key")
                continue
            if key in self.items:
                ctx.add(_line(knode), fld, "appears twice in the same mapping", "keep one of them")
                continue
            if key not in allowed:
                if elsewhere and key in elsewhere:
                    ctx.add(_line(knode), fld, f"is not used here; {elsewhere[key]}",
                            f"remove {key!r}")
                else:
                    ctx.add(_line(knode), fld, "unknown key", _suggest(key, allowed))
                continue
            self.items[key] = vnode
            ctx.lines[fld] = _line(vnode)

    def field(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        return key in self.items

    def node(self, key: str) -> Any:
        return self.items.get(key)

    def _bad(self, key: str, message: str, fix: str | None) -> None:
        self.ctx.add(_line(self.items[key]), self.field(key), message, fix)

    def missing(self, key: str, fix: str) -> None:
        line = getattr(self, "line", None)
        self.ctx.add(line, self.field(key), "is required", fix)

    def scalar(self, key: str) -> tuple[bool, Any]:
        node = self.items.get(key)
        if node is None:
            return False, None
        if type(node).__name__ != "ScalarNode":
            self._bad(key, f"must be a single value, got {_kind_of(node)}", None)
            return False, None
        if node.tag.startswith("!"):
            self._bad(key, f"YAML tag {node.tag} is not supported", "write the plain value")
            return False, None
        return True, _scalar(node)

    def text(self, key: str, *, required: str | None = None, default: str | None = None,
             pattern: re.Pattern[str] | None = None, pattern_fix: str | None = None,
             max_len: int = 255) -> str | None:
        found, value = self.scalar(key)
        if not found:
            if required is not None and key not in self.items:
                self.missing(key, required)
            return default
        if isinstance(value, bool) or value is None:
            self._bad(key, f"must be a string, got {_kind_of(self.items[key])}", "quote the value")
            return default
        value = str(value)
        if not value.strip():
            self._bad(key, "must not be empty", required or "remove the key")
            return default
        if len(value) > max_len:
            self._bad(key, f"is {len(value)} characters long; at most {max_len} allowed", "shorten it")
            return default
        if pattern is not None and not pattern.match(value):
            self._bad(key, f"{value!r} has characters that cannot be used here", pattern_fix)
            return default
        return value

    def number(self, key: str, *, required: str | None = None, default: float | None = None,
               low: float | None = None, high: float | None = None, low_open: bool = True,
               high_open: bool = True, fix: str | None = None) -> float | None:
        found, value = self.scalar(key)
        if not found:
            if required is not None and key not in self.items:
                self.missing(key, required)
            return default
        if isinstance(value, str):
            try:
                value = float(Decimal(value.strip().rstrip("%")))
            except (InvalidOperation, ValueError):
                self._bad(key, f"must be a number, got {value!r}", fix)
                return default
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self._bad(key, f"must be a number, got {_kind_of(self.items[key])}", fix)
            return default
        below = low is not None and (value <= low if low_open else value < low)
        above = high is not None and (value >= high if high_open else value > high)
        if below or above:
            lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
            hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
            if lo and hi:
                message = f"{value:g} is outside {lo}, {hi}"
            elif lo:
                message = f"must be {'greater than' if low_open else 'at least'} {low:g}, got {value:g}"
            else:
                message = f"must be {'less than' if high_open else 'at most'} {high:g}, got {value:g}"
            self._bad(key, message, fix)
            return default
        return float(value)

    def integer(self, key: str, *, default: int = 0, low: int = 0, fix: str | None = None) -> int:
        found, value = self.scalar(key)
        if not found:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            self._bad(key, f"must be a whole number >= {low}, got {_kind_of(self.items[key])}", fix)
            return default
        return int(value)

    def duration(self, key: str, *, required: str | None = None, default: int | None = None,
                 fix: str = "write a whole number and a unit, e.g. 5m, 1h, 1d") -> int | None:
        found, value = self.scalar(key)
        if not found:
            if required is not None and key not in self.items:
                self.missing(key, required)
            return default
        seconds = parse_duration(str(value)) if isinstance(value, str) else None
        if seconds is None:
            self._bad(key, f"{value!r} is not a duration", fix)
            return default
        return seconds

    def mapping(self, key: str, keys: Iterable[str], elsewhere: Mapping[str, str] | None = None) -> _Map:
        return _Map(self.ctx, self.items.get(key), self.field(key), keys, elsewhere)

    def sequence(self, key: str) -> list[Any]:
        node = self.items.get(key)
        if node is None:
            return []
        if type(node).__name__ != "SequenceNode":
            self._bad(key, f"must be a list, got {_kind_of(node)}", "start each item with `- `")
            return []
        return list(node.value)


# --- loading ---------------------------------------------------------------------------------
def load(path: str | Path) -> SLOConfig:
    """Read and validate an SLO file (obskit format or OpenSLO v1).

    Raises:
        SLOSpecError: with every problem in the file, each with its line and a fix.
    """
    p = Path(path)
    try:
        with p.open("rb") as f:
            data = f.read(MAX_INPUT_BYTES + 1)  # bounded: /dev/zero or a huge file must not exhaust memory
        text = data.decode("utf-8")
    except OSError as exc:
        raise SLOSpecError([SLOProblem(str(path), None, "(file)", f"cannot be read: {exc.strerror}",
                                       "check the path")]) from None
    except UnicodeDecodeError:
        if len(data) <= MAX_INPUT_BYTES:
            raise SLOSpecError([SLOProblem(str(path), None, "(file)", "is not UTF-8 text",
                                           "save the file as UTF-8")]) from None
        text = data.decode("utf-8", "replace")
    return parse(text, str(path))


def compose_documents(text: str, file: str) -> list[Any]:
    """The YAML node trees of every document in ``text``; syntax errors become an SLOSpecError."""
    yaml = require("yaml", "slo", feature="reading SLO files")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return [d for d in yaml.compose_all(text, Loader=loader) if d is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        col = f", column {mark.column + 1}" if mark is not None else ""
        what = exc.problem or exc.context or "invalid YAML"
        raise SLOSpecError([SLOProblem(file, line, "(yaml)", f"syntax error{col}: {what}",
                                       "fix the YAML syntax (indentation, quotes, colons)")]) from None
    except yaml.YAMLError as exc:
        raise SLOSpecError([SLOProblem(file, None, "(yaml)", f"syntax error: {exc}",
                                       "fix the YAML syntax")]) from None


def parse(text: str, file: str = "<string>") -> SLOConfig:
    """Validate SLO text; ``file`` is only used in messages.

    Raises:
        SLOSpecError: with every problem found, each with its line and a fix.
    """
    if len(text.encode("utf-8", "replace")) > MAX_INPUT_BYTES:
        raise SLOSpecError([SLOProblem(file, None, "(file)", f"is larger than {MAX_INPUT_BYTES // 1024} KiB",
                                       "split the SLOs over several files (one per service)")])
    if "\x00" in text:
        raise SLOSpecError([SLOProblem(file, None, "(file)", "holds NUL characters: it is not a text file",
                                       "give the path of a YAML file")])
    docs = compose_documents(text, file)
    if not docs:
        raise SLOSpecError([SLOProblem(file, None, "(document)", "is empty",
                                       "start from `obskit slo schema` or examples/slo.yaml")])
    first = docs[0]
    if type(first).__name__ == "MappingNode":
        for k, v in first.value:
            if k.value == "apiVersion" and type(v).__name__ == "ScalarNode" \
                    and str(v.value).lower().startswith("openslo/"):
                from obskit.slo.openslo import parse_openslo

                return parse_openslo(docs, file)
    if len(docs) > 1:
        raise SLOSpecError([SLOProblem(file, _line(docs[1]), "(document)",
                                       "an obskit SLO file holds one YAML document",
                                       "put each service in its own file")])
    ctx = _Ctx(file)
    config = _read_config(ctx, first)
    if ctx.problems or config is None:
        raise ctx.error()
    return config


TOP_KEYS = ("service", "namespace", "environment", "period", "alerting", "slos", "expected_rps",
            "description", "dashboard")
ALERTING_KEYS = ("page", "ticket", "runbook_url", "name_prefix", "profile", "windows", "min_requests",
                 "no_data", "budget_remaining")
DASHBOARD_KEYS = ("log_groups",)
BUDGET_KEYS = ("below_percent", "severity")
SLO_ALERTING_KEYS = tuple(k for k in ALERTING_KEYS if k != "name_prefix")
SLO_KEYS = ("name", "objective", "sli", "operation", "description", "alerting", "expected_rps")
TARGET_KEYS = ("sns_topic_arn",)
WINDOW_KEYS = ("severity", "long", "short", "budget_percent", "burn_rate")
METRIC_KEYS = ("namespace", "metric", "dimensions", "stat")
SLI_KEYS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "availability": ("kind",),
    "latency": ("kind", "threshold_ms", "metric"),
    "synthetic": ("kind", "canary", "min_bad_events", "schedule"),
    "ratio": ("kind", "bad", "good", "total"),
})


def _read_config(ctx: _Ctx, node: Any) -> SLOConfig | None:
    top = _Map(ctx, node, "", TOP_KEYS)
    if not top.ok:
        return None
    service = top.text("service", required="name the service as the middleware does (its Service dimension)")
    namespace = top.text("namespace", default=semconv.DEFAULT_NAMESPACE, max_len=255)
    if namespace is not None and (namespace.startswith((":", "AWS/"))):
        ctx.add(ctx.lines.get("namespace"), "namespace", f"{namespace!r} is not a namespace obskit writes to",
                "use the namespace configured in obskit (default: obskit)")
    environment = top.text("environment")
    period = top.duration("period", default=30 * DAY, fix="write the SLO period in days, e.g. 30d, 28d or 7d")
    if period is not None and period % DAY:
        ctx.add(ctx.lines.get("period"), "period", f"{format_duration(period)} is not a whole number of days",
                "write the SLO period in days, e.g. 30d, 28d or 7d")
        period = None
    elif period is not None and period > 366 * DAY:
        ctx.add(ctx.lines.get("period"), "period", "is longer than a year", "use at most 366d")
        period = None
    expected_rps = top.number("expected_rps", low=0, fix="requests per second the service usually serves")

    alerting = top.mapping("alerting", ALERTING_KEYS)
    default_prefix = "obskit" if environment is None else f"obskit-{_sanitize(environment)}"
    prefix = alerting.text("name_prefix", default=default_prefix, pattern=_NAME_RE,
                           pattern_fix="use letters, digits, '.', '_' and '-'", max_len=64)
    base = _read_alerting(ctx, alerting, period, Alerting())
    log_groups = _read_log_groups(ctx, top.mapping("dashboard", DASHBOARD_KEYS))

    slo_nodes = top.sequence("slos")
    if not top.has("slos"):
        top.missing("slos", "list at least one SLO under `slos:`")
    elif not slo_nodes and top.node("slos") is not None and type(top.node("slos")).__name__ == "SequenceNode":
        ctx.add(ctx.lines.get("slos"), "slos", "is empty", "list at least one SLO")
    slos: list[SLO] = []
    names: dict[str, int] = {}
    for i, snode in enumerate(slo_nodes):
        slo = _read_slo(ctx, snode, f"slos[{i}]", service or "", namespace or "", environment, period, base,
                        expected_rps)
        if slo is None:
            continue
        if slo.name in names:
            ctx.add(ctx.lines.get(f"{slo.path}.name"), f"{slo.path}.name",
                    f"{slo.name!r} is already used by slos[{names[slo.name]}]",
                    "give every SLO its own name: alarm names are built from it")
        names.setdefault(slo.name, i)
        slos.append(slo)
    if service is not None and prefix is not None:
        _check_names(ctx, prefix, service)
    if service is None or period is None or prefix is None or namespace is None:
        return None
    return SLOConfig(file=ctx.file, service=service, namespace=namespace, period_s=period,
                     name_prefix=prefix, slos=tuple(slos), environment=environment, log_groups=log_groups,
                     lines=MappingProxyType(dict(ctx.lines)))


def _sanitize(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "x"


def _read_targets(ctx: _Ctx, m: _Map, severity: str) -> tuple[str, ...] | None:
    if not m.has(severity):
        return None
    target = m.mapping(severity, TARGET_KEYS)
    if not target.ok:
        return None
    node = target.node("sns_topic_arn")
    if node is None:
        target.missing("sns_topic_arn", "give the ARN of the SNS topic that receives this severity")
        return None
    fld = target.field("sns_topic_arn")
    values: list[tuple[int, Any]]
    if type(node).__name__ == "SequenceNode":
        values = [(_line(n), _scalar(n) if type(n).__name__ == "ScalarNode" else None) for n in node.value]
    elif type(node).__name__ == "ScalarNode":
        values = [(_line(node), _scalar(node))]
    else:
        ctx.add(_line(node), fld, "must be an ARN or a list of ARNs", None)
        return None
    arns: list[str] = []
    for line, value in values:
        if not isinstance(value, str) or not _SNS_RE.match(value):
            ctx.add(line, fld, f"{value!r} is not an SNS topic ARN",
                    "write arn:aws:sns:REGION:ACCOUNT:TOPIC")
        else:
            arns.append(value)
    if len(arns) > MAX_ACTIONS:
        ctx.add(_line(node), fld, f"has {len(arns)} topics; CloudWatch allows {MAX_ACTIONS} actions per state",
                "fan out with one SNS topic and several subscriptions")
        return None
    return tuple(arns)


def _read_alerting(ctx: _Ctx, m: _Map, period: int | None, parent: Alerting) -> Alerting:
    """Merge one ``alerting`` mapping over ``parent``; windows are checked once the objective is known."""
    page = _read_targets(ctx, m, "page")
    ticket = _read_targets(ctx, m, "ticket")
    runbook = m.text("runbook_url", max_len=512)
    min_requests = m.integer("min_requests", default=parent.min_requests,
                             fix="the fewest events per window worth alerting on, e.g. 10")
    no_data = parent.no_data
    found, value = m.scalar("no_data")
    if found:
        if value is False or value in ("off", "none"):
            no_data = None
        elif value in SEVERITIES:
            no_data = value
        else:
            ctx.add(ctx.lines.get(m.field("no_data")), m.field("no_data"), f"{value!r} is not off, page or ticket",
                    "write no_data: ticket (alarm when the service stops reporting) or no_data: off")
    below, budget_severity = _read_budget(ctx, m, parent)
    windows = parent.windows
    if m.has("profile") and m.has("windows"):
        ctx.add(ctx.lines.get(m.field("windows")), m.field("windows"), "cannot be combined with `profile`",
                "keep `windows` for a custom set or `profile` for a named one")
    elif m.has("profile") or not windows:
        name = m.text("profile", default="standard")
        if name is not None and name not in PROFILES:
            ctx.add(ctx.lines.get(m.field("profile")), m.field("profile"), f"unknown profile {name!r}",
                    f"use one of: {', '.join(PROFILES)}")
            name = "standard"
        if period is not None and name is not None:
            windows = profile_windows(name, period)
    if m.has("windows"):
        windows = _read_windows(ctx, m, period)
    return Alerting(
        page=parent.page if page is None else page,
        ticket=parent.ticket if ticket is None else ticket,
        runbook_url=runbook if runbook is not None else parent.runbook_url,
        windows=windows, min_requests=min_requests, no_data=no_data,
        budget_below_percent=below, budget_severity=budget_severity,
    )


def _read_budget(ctx: _Ctx, m: _Map, parent: Alerting) -> tuple[float | None, str]:
    """``budget_remaining: {below_percent, severity}`` (or ``off``) merged over ``parent``."""
    node = m.node("budget_remaining")
    if node is None:
        return parent.budget_below_percent, parent.budget_severity
    if type(node).__name__ == "ScalarNode" and _scalar(node) in (False, "off", "none"):
        return None, parent.budget_severity
    b = m.mapping("budget_remaining", BUDGET_KEYS)
    if not b.ok:
        return parent.budget_below_percent, parent.budget_severity
    below = b.number("below_percent", required="give the share of the budget left that alerts, e.g. 25",
                     low=0, high=100, fix="a percentage strictly between 0 and 100, e.g. 25")
    severity = b.text("severity", default="ticket")
    if severity not in SEVERITIES:
        ctx.add(ctx.lines.get(b.field("severity")), b.field("severity"), f"unknown severity {severity!r}",
                "use page or ticket")
        severity = "ticket"
    return below, severity or "ticket"


def _read_log_groups(ctx: _Ctx, m: _Map) -> tuple[str, ...]:
    """``dashboard.log_groups``: where the dashboard's Logs Insights widget looks for faulted requests."""
    out: list[str] = []
    for node in m.sequence("log_groups"):
        value = _scalar(node) if type(node).__name__ == "ScalarNode" else None
        if not isinstance(value, str) or not _LOG_GROUP_RE.match(value):
            ctx.add(_line(node), m.field("log_groups"), f"{value!r} is not a log group name",
                    "write the name, e.g. /aws/lambda/checkout-api")
        else:
            out.append(value)
    return tuple(out)


def _read_windows(ctx: _Ctx, m: _Map, period: int | None) -> tuple[Window, ...]:
    out: list[Window] = []
    seen: dict[tuple[str, int, int], str] = {}
    items = m.sequence("windows")
    if not items and m.ok:
        ctx.add(ctx.lines.get(m.field("windows")), m.field("windows"), "is empty",
                "list at least one {severity, long, short, budget_percent}, or remove `windows`")
    for i, node in enumerate(items):
        path = f"{m.field('windows')}[{i}]"
        w = _Map(ctx, node, path, WINDOW_KEYS)
        if not w.ok:
            continue
        severity = w.text("severity", required="write severity: page or ticket")
        if severity is not None and severity not in SEVERITIES:
            ctx.add(ctx.lines.get(w.field("severity")), w.field("severity"), f"unknown severity {severity!r}",
                    "use page or ticket")
            severity = None
        long_s = w.duration("long", required="give the long window, e.g. long: 1h")
        short_s = w.duration("short", required="give the short window, e.g. short: 5m (about long/12)")
        ok = long_s is not None and short_s is not None
        for key, secs in (("long", long_s), ("short", short_s)):
            if secs is None:
                continue
            line = ctx.lines.get(w.field(key))
            if secs < 60 or secs % 60:
                ctx.add(line, w.field(key), f"{format_duration(secs)} is not a whole number of minutes",
                        "metric-math alarms evaluate periods of 60 s multiples; use e.g. 5m")
                ok = False
            elif secs > MAX_EVALUATION_RANGE:
                ctx.add(line, w.field(key), f"{format_duration(secs)} is longer than 7 days",
                        "CloudWatch evaluates at most 7 days (Period x EvaluationPeriods); use 7d or less")
                ok = False
        if ok and long_s is not None and short_s is not None and short_s >= long_s:
            ctx.add(ctx.lines.get(w.field("short")), w.field("short"),
                    f"{format_duration(short_s)} is not shorter than long ({format_duration(long_s)})",
                    "make the short window about 1/12 of the long one")
            ok = False
        if ok and period is not None and long_s is not None and long_s > period:
            ctx.add(ctx.lines.get(w.field("long")), w.field("long"),
                    f"{format_duration(long_s)} is longer than the SLO period ({format_duration(period)})",
                    "use a shorter window")
            ok = False
        has_pct, has_burn = w.has("budget_percent"), w.has("burn_rate")
        pct = w.number("budget_percent", low=0, high=100, high_open=False,
                       fix="the share of the period's budget this tier may spend in `long`, e.g. 2")
        burn = w.number("burn_rate", low=0, fix="how many times faster than sustainable, e.g. 14.4")
        if has_pct == has_burn:
            ctx.add(w.line, path, "needs exactly one of budget_percent and burn_rate",
                    "write budget_percent: 2 (recommended) or burn_rate: 14.4")
            ok = False
        if not ok or severity is None or period is None or long_s is None or short_s is None:
            continue
        if pct is not None:
            burn = burn_rate_for(pct, period, long_s)
        elif burn is not None:
            pct = round(burn * long_s / period * 100, 6)
        if burn is None or pct is None:
            continue
        if burn < 1:
            least = long_s / period * 100
            ctx.add(w.line, path, f"burns at {burn:g}x: below 1x it fires while the SLO will still be met",
                    f"write budget_percent: {math.ceil(least * 1000) / 1000:g} or more (burn_rate: 1 or more)"
                    " for this long window, or a longer long window")
            continue
        tier = (severity, long_s, short_s)
        if tier in seen:
            ctx.add(w.line, path, f"repeats the {severity} {format_duration(long_s)}/{format_duration(short_s)} "
                    f"tier of {seen[tier]}", "remove one of them")
            continue
        seen[tier] = path
        out.append(Window(severity, long_s, short_s, burn, pct))
    return tuple(out)


def _metric_ref(ctx: _Ctx, m: _Map, key: str, namespace: str, stat: str) -> MetricRef | None:
    if not m.has(key):
        return None
    r = m.mapping(key, METRIC_KEYS)
    if not r.ok:
        return None
    ns = r.text("namespace", default=namespace)
    name = r.text("metric", required="name the CloudWatch metric, e.g. metric: Errors")
    st = r.text("stat", default=stat, max_len=64)
    if st is not None and not _STAT_RE.fullmatch(st):
        ctx.add(ctx.lines.get(r.field("stat")), r.field("stat"), f"{st!r} is not a CloudWatch statistic",
                _suggest(st, ("SampleCount", "Sum", "Average", "Minimum", "Maximum")).replace(
                    "allowed keys:", "use one of") + " (or p99, tm90, PR(:300), TM(10%:90%)...)")
        st = None
    dims: list[tuple[str, str]] = []
    d = r.node("dimensions")
    if d is not None:
        if type(d).__name__ != "MappingNode":
            ctx.add(_line(d), r.field("dimensions"), f"must be a mapping, got {_kind_of(d)}",
                    "write dimensions: {Name: value}")
        else:
            for kn, vn in d.value:
                value = _scalar(vn) if type(vn).__name__ == "ScalarNode" else None
                if not isinstance(value, str | int) or isinstance(value, bool):
                    ctx.add(_line(vn), f"{r.field('dimensions')}.{kn.value}", "must be a string", "quote it")
                    continue
                dims.append((str(kn.value), str(value)))
            if len(dims) > 30:
                ctx.add(_line(d), r.field("dimensions"), f"has {len(dims)} dimensions; CloudWatch allows 30",
                        "remove some")
    if ns is None or name is None or st is None:
        return None
    return MetricRef(ns, name, tuple(dims), st)


def _read_sli(ctx: _Ctx, m: _Map, path: str, namespace: str) -> SLI | None:
    node = m.node("sli")
    if node is None:
        if not m.has("sli"):
            m.missing("sli", "describe the indicator, e.g. sli: {kind: availability}")
        return None
    kind_hint = None
    if type(node).__name__ == "MappingNode":
        for k, v in node.value:
            if k.value == "kind" and type(v).__name__ == "ScalarNode":
                kind_hint = _scalar(v)
    all_keys = {k for keys in SLI_KEYS.values() for k in keys}
    keys = SLI_KEYS.get(kind_hint, ("kind",)) if isinstance(kind_hint, str) else ("kind",)
    elsewhere = {k: "it belongs to kind " + " or ".join(kd for kd, ks in SLI_KEYS.items() if k in ks)
                 for k in all_keys - set(keys)}
    s = m.mapping("sli", keys, elsewhere)
    if not s.ok:
        return None
    kind = s.text("kind", required=f"write kind: one of {', '.join(KINDS)}")
    if kind is None:
        return None
    if kind not in KINDS:
        ctx.add(ctx.lines.get(s.field("kind")), s.field("kind"), f"unknown kind {kind!r}",
                _suggest(kind, KINDS).replace("allowed keys", "use one of"))
        return None
    if kind == "availability":
        return SLI(kind)
    if kind == "latency":
        t = s.number("threshold_ms", required="give the latency threshold, e.g. threshold_ms: 300", low=0,
                     fix="a positive number of milliseconds, e.g. 300")
        metric = _metric_ref(ctx, s, "metric", namespace, "SampleCount")
        if t is not None and float(number_text(t)) != t:
            fld = s.field("threshold_ms")
            rendered = number_text(t)
            ctx.add(ctx.lines.get(fld), fld, f"{t!r} becomes PR(:{rendered}) in the alarms"
                    + (": every request would count as slow and the SLO pages forever" if rendered == "0" else ""),
                    "write whole milliseconds or at most 6 decimals, e.g. threshold_ms: 300")
            t = None
        return SLI(kind, threshold_ms=t, metric=metric) if t is not None else None
    if kind == "synthetic":
        canary = s.text("canary", required="name the CloudWatch Synthetics canary, e.g. canary: checkout-canary")
        # Two by default: at one run a minute, one failed run in an hour already reads 16.7x at
        # 99.9 %, so a canary failing once in 2,000 runs (0.5x: the SLO is met) would page.
        mbe = s.integer("min_bad_events", default=2,
                        fix="the fewest failed runs per window worth alerting on, e.g. 2")
        every = s.duration("schedule", default=60, fix="how often the canary runs, e.g. schedule: 5m")
        if every is not None and (every % 60 or every > 3600):
            ctx.add(ctx.lines.get(s.field("schedule")), s.field("schedule"),
                    f"{format_duration(every)} is not a canary schedule",
                    "write the canary's rate in whole minutes, from 1m to 1h, e.g. schedule: 5m")
            every = None
        return SLI(kind, canary=canary, min_bad_events=mbe, schedule_s=every or 60) if canary else None
    bad = _metric_ref(ctx, s, "bad", namespace, "Sum")
    good = _metric_ref(ctx, s, "good", namespace, "Sum")
    total = _metric_ref(ctx, s, "total", namespace, "Sum")
    if s.has("bad") == s.has("good"):
        ctx.add(ctx.lines.get(s.field("kind")), path + ".sli", "a ratio needs exactly one of bad and good",
                "write bad: {metric: ...} (or good: {...}) and total: {metric: ...}")
        return None
    if not s.has("total"):
        s.missing("total", "write total: {metric: ...}, the metric that counts every event")
        return None
    if total is None or (bad is None and good is None):
        return None
    return SLI(kind, bad=bad, good=good, total=total)


def _read_slo(ctx: _Ctx, node: Any, path: str, service: str, namespace: str, environment: str | None,
              period: int | None, base: Alerting, expected_rps: float | None) -> SLO | None:
    m = _Map(ctx, node, path, SLO_KEYS)
    if not m.ok:
        return None
    ctx.lines.setdefault(path, m.line)
    name = m.text("name", required="name the SLO, e.g. name: availability", pattern=_NAME_RE,
                  pattern_fix="use letters, digits, '.', '_' and '-' (it becomes part of alarm names)", max_len=64)
    objective = m.number("objective", required="give the target in percent, e.g. objective: 99.9", low=0,
                         high=100, fix="a percentage strictly between 0 and 100, e.g. 99.9")
    sli = _read_sli(ctx, m, path, namespace)
    operation = m.text("operation", max_len=1024)
    description = m.text("description", max_len=512)
    rps = m.number("expected_rps", low=0, default=expected_rps,
                   fix="requests per second the service usually serves")
    if sli is not None and operation is not None and sli.kind not in ("availability", "latency"):
        ctx.add(ctx.lines.get(m.field("operation")), m.field("operation"),
                f"only availability and latency SLOs have an operation, not {sli.kind}", "remove `operation`")
    alerting = _read_alerting(ctx, m.mapping("alerting", SLO_ALERTING_KEYS), period, base)
    if objective is not None:
        _check_reachable(ctx, m, path, objective, alerting.windows)
    if name is not None:
        ctx.named.append((path, name, alerting.windows))
    if name is None or objective is None or sli is None:
        return None
    return SLO(name=name, objective=objective, sli=sli, alerting=alerting, operation=operation,
               description=description, expected_rps=rps, path=path, budget_text=budget_text(objective))


def _check_reachable(ctx: _Ctx, m: _Map, path: str, objective: float, windows: tuple[Window, ...]) -> None:
    """Refuse tiers whose threshold a 100 % error ratio cannot reach: they would never fire."""
    budget = float(budget_text(objective))
    for w in windows:
        if w.burn_rate * budget >= 1:
            need = 100 * (1 - 1 / w.burn_rate)
            max_pct = w.budget_percent / (w.burn_rate * budget) * 0.999
            ctx.add(ctx.lines.get(m.field("objective")), m.field("objective"),
                    f"the {w.severity} tier {format_duration(w.long_s)}/{format_duration(w.short_s)} fires at "
                    f"burn rate {w.burn_rate:g}, but {w.burn_rate:g} x (1 - {objective:g}%) = "
                    f"{w.burn_rate * budget:.3g} >= 1, so even a full outage never reaches it",
                    f"raise the objective above {need:.4g}% or set alerting.windows with budget_percent "
                    f"below {max_pct:.3g} for this tier")
