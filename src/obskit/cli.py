"""The ``obskit`` command: a table of subcommands, each adding its own argparse parser.

Imports: the standard library, ``obskit.errors`` and, inside each command, the module it drives
(``obskit.slo``...), so ``obskit --help`` stays fast and needs no extra installed.

Exit status: 0 on success, 2 when the input is wrong (an SLO file's problems, all of them, one
per line as ``FILE:LINE: field: what is wrong; how to fix``, or a usage error), 1 when the
environment fails (a missing extra, AWS refusing a call). Never a traceback for either.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from obskit.errors import ConfigError, SLOSpecError

__all__ = ["COMMANDS", "build_parser", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

Register = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


# --- obskit slo ... --------------------------------------------------------------------------
def _slo_load(args: argparse.Namespace) -> Any:
    from obskit.slo.spec import load

    return load(args.file)


def _slo_validate(args: argparse.Namespace) -> int:
    from obskit.slo.alarms import build
    from obskit.slo.explain import warnings

    config = _slo_load(args)
    alarm_set = build(config)
    warned = warnings(config)
    for w in warned:
        where = f"{w.file}:{w.line}" if w.line is not None else w.file
        print(f"{where}: warning: {w.field}: {w.message}" + (f"; {w.fix}" if w.fix else ""), file=sys.stderr)
    if warned and args.strict:
        print(f"obskit: {len(warned)} warning{'s' if len(warned) != 1 else ''} and --strict", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"{args.file}: OK: {len(config.slos)} SLOs, {len(alarm_set.metric_alarms)} metric alarms, "
          f"{len(alarm_set.composite_alarms)} composite alarms"
          + (f", {len(warned)} warning{'s' if len(warned) != 1 else ''}" if warned else ""))
    return EXIT_OK


def _write(text: str, out: str | None) -> None:
    if out is None or out == "-":
        sys.stdout.write(text)
    else:
        Path(out).write_text(text, encoding="utf-8")


def _slo_generate(args: argparse.Namespace) -> int:
    from obskit.slo.alarms import build
    from obskit.slo.render import CFN_MAX_RESOURCES, render

    if args.format == "application-signals":
        from obskit.slo.appsignals import to_cloudformation

        if args.with_dashboard:
            print("obskit: --with-dashboard goes with the alarm formats, not application-signals", file=sys.stderr)
            return EXIT_BAD_INPUT
        _write(to_cloudformation(_slo_load(args)), args.output)
        return EXIT_OK
    alarm_set = build(_slo_load(args))
    count = len(alarm_set.metric_alarms) + len(alarm_set.composite_alarms)
    if args.format.startswith("cloudformation") and count + args.with_dashboard > CFN_MAX_RESOURCES:
        print(f"obskit: warning: the template has {count + args.with_dashboard} resources; CloudFormation accepts "
              f"{CFN_MAX_RESOURCES} per stack: split the SLOs over several files", file=sys.stderr)
    _write(render(alarm_set, args.format, dashboard=args.with_dashboard), args.output)
    if args.output not in (None, "-"):
        extra = " and the dashboard" if args.with_dashboard else ""
        print(f"wrote {count} alarms{extra} to {args.output}", file=sys.stderr)
    return EXIT_OK


def _slo_apply(args: argparse.Namespace) -> int:
    from obskit.slo.alarms import build
    from obskit.slo.apply import ApplyError, ApplyResult, OwnershipError, apply

    alarm_set = build(_slo_load(args))

    def show_plan(planned: ApplyResult) -> None:
        if not args.dry_run:
            print("plan:\n" + planned.report().rsplit("\n", 1)[0] if planned.changes else "plan: nothing to change",
                  flush=True)

    try:
        result = apply(alarm_set, dry_run=args.dry_run, prune=not args.no_prune, region=args.region,
                       profile=args.profile, previous_services=tuple(args.previous_service or ()),
                       previous_environments=tuple(args.previous_environment or ()), on_plan=show_plan)
    except (ApplyError, OwnershipError) as exc:
        print(f"obskit: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(result.report())
    if args.with_dashboard:
        from obskit.slo.dashboard import apply_dashboard

        print(apply_dashboard(alarm_set, region=args.region, profile=args.profile, dry_run=args.dry_run))
    return EXIT_OK


def _slo_report(args: argparse.Namespace) -> int:
    from obskit.slo.alarms import build
    from obskit.slo.report import report_from_aws, since_problem, to_json, to_text
    from obskit.slo.spec import format_duration, parse_duration

    since = parse_duration(args.since) if args.since else None
    why = "it is not a duration, e.g. 30d, 7d, 6h" if args.since and since is None else (
        since_problem(since) if since is not None else None)
    if why:
        print(f"obskit: --since {args.since!r}: {why}", file=sys.stderr)
        return EXIT_BAD_INPUT
    alarm_set = build(_slo_load(args))
    statuses = report_from_aws(alarm_set, since_s=since, region=args.region, profile=args.profile)
    render = to_json if args.format == "json" else to_text
    sys.stdout.write(render(alarm_set.config, statuses, since))
    if since is not None and since > alarm_set.config.period_s:
        print(f"obskit: note: --since is longer than the SLO period ({format_duration(alarm_set.config.period_s)})",
              file=sys.stderr)
    return EXIT_OK


def _slo_dashboard(args: argparse.Namespace) -> int:
    from obskit.slo.alarms import build
    from obskit.slo.dashboard import render_dashboard

    alarm_set = build(_slo_load(args))
    if args.format == "json" and not (args.region and args.account_id):
        print("obskit: --format json writes the alarms' ARNs: give --region and --account-id", file=sys.stderr)
        return EXIT_BAD_INPUT
    _write(render_dashboard(alarm_set, args.format, region=args.region, account=args.account_id), args.output)
    return EXIT_OK


def _slo_explain(args: argparse.Namespace) -> int:
    from obskit.slo.explain import explain

    config = _slo_load(args)
    sys.stdout.write(explain(config))
    if args.plot:
        from obskit.slo.plot import plot_svg

        Path(args.plot).write_text(plot_svg(config), encoding="utf-8")
        print(f"wrote the plot to {args.plot}", file=sys.stderr)
    return EXIT_OK


def _slo_schema(args: argparse.Namespace) -> int:
    from obskit.slo.schema import schema_json

    _write(schema_json(), args.output)
    return EXIT_OK


def _register_slo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from obskit.slo.dashboard import DASHBOARD_FORMATS
    from obskit.slo.render import FORMATS

    slo = sub.add_parser("slo", help="SLOs in YAML -> CloudWatch burn-rate alarms",
                         description="Turn an SLO file into multi-window, multi-burn-rate CloudWatch alarms.")
    cmds = slo.add_subparsers(title="commands", metavar="COMMAND")

    def add(name: str, run: Callable[[argparse.Namespace], int], help_: str) -> argparse.ArgumentParser:
        p = cmds.add_parser(name, help=help_, description=help_)
        p.set_defaults(run=run)
        if name != "schema":
            p.add_argument("file", metavar="FILE", help="SLO file: obskit format or OpenSLO v1 YAML")
        return p

    val = add("validate", _slo_validate, "check the file and every CloudWatch limit; list all problems")
    val.add_argument("--strict", action="store_true",
                     help="fail on warnings too (a tier that a guard or a canary schedule keeps from firing)")
    gen = add("generate", _slo_generate, "write the alarms as CloudFormation or Terraform JSON")
    gen.add_argument("--format", "-f", choices=(*FORMATS, "application-signals"), default="cloudformation",
                     help="output format (default: cloudformation, i.e. YAML); application-signals: the SLOs as "
                          "AWS::ApplicationSignals::ServiceLevelObjective resources")
    gen.add_argument("--output", "-o", metavar="OUT", help="file to write (default: standard output)")
    gen.add_argument("--with-dashboard", action="store_true",
                     help="add the service's CloudWatch dashboard (same queries as the alarms)")
    app = add("apply", _slo_apply, "create/update the alarms with boto3; prune the ones the file dropped")
    app.add_argument("--dry-run", action="store_true", help="print the changes against describe_alarms only")
    app.add_argument("--no-prune", action="store_true", help="keep generated alarms the file no longer has")
    app.add_argument("--previous-service", action="append", metavar="NAME",
                     help="an earlier name of the service: prune its generated alarms too (repeatable)")
    app.add_argument("--previous-environment", action="append", metavar="NAME",
                     help="an earlier environment of the service ('' for none): prune its alarms too (repeatable)")
    app.add_argument("--region", help="AWS region (default: boto3's configuration)")
    app.add_argument("--profile", help="AWS profile (default: boto3's configuration)")
    app.add_argument("--with-dashboard", action="store_true", help="also PutDashboard the service's dashboard")
    rep = add("report", _slo_report, "attainment, budget left, burn rate per window and alarm states, from CloudWatch")
    rep.add_argument("--since", metavar="DURATION", help="span of the attainment and budget (default: the SLO period)")
    rep.add_argument("--format", "-f", choices=("text", "json"), default="text", help="text (default) or json")
    rep.add_argument("--region", help="AWS region (default: boto3's configuration)")
    rep.add_argument("--profile", help="AWS profile (default: boto3's configuration)")
    dash = add("dashboard", _slo_dashboard, "write the service's CloudWatch dashboard (burn rates, budget, alarms)")
    dash.add_argument("--format", "-f", choices=DASHBOARD_FORMATS, default="cloudformation",
                      help="cloudformation (YAML), cloudformation-json, terraform, or json (the DashboardBody)")
    dash.add_argument("--output", "-o", metavar="OUT", help="file to write (default: standard output)")
    dash.add_argument("--region", help="region written into the json body's widgets and alarm ARNs")
    dash.add_argument("--account-id", help="account id written into the json body's alarm ARNs")
    exp = add("explain", _slo_explain, "print budgets, thresholds and detection times per SLO")
    exp.add_argument("--plot", metavar="OUT.svg", help="also draw each tier's time to alert against the error ratio")
    sch = add("schema", _slo_schema, "print the JSON Schema of the SLO file format (for editors)")
    sch.add_argument("--output", "-o", metavar="OUT", help="file to write (default: standard output)")
    slo.set_defaults(run=lambda _args: _usage(slo))


# --- obskit log-config SERVER ----------------------------------------------------------------
_LOG_CONFIGS = Path(__file__).resolve().parent
"""Where the servers' log configurations are shipped (``log_config_<server>.json``; see
``obskit.logconfig``, which the CLI does not import: it stays apart from the runtime)."""


def _log_config(args: argparse.Namespace) -> int:
    found = _LOG_CONFIGS / f"log_config_{args.server}.json"
    print(found.read_text(encoding="utf-8").rstrip() if args.show else found)
    return EXIT_OK


def _register_log_config(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    servers = sorted(p.stem.removeprefix("log_config_") for p in _LOG_CONFIGS.glob("log_config_*.json"))
    help_ = "print the path of the logging config that makes a server's own lines obskit JSON"
    p = sub.add_parser(
        "log-config", help=help_,
        description=f"{help_}: uvicorn app:app --no-access-log --log-config \"$(obskit log-config uvicorn)\"",
    )
    p.add_argument("server", choices=servers, help="the server that loads it")
    p.add_argument("--show", action="store_true", help="print the configuration itself instead of its path")
    p.set_defaults(run=_log_config)


# --- the table -------------------------------------------------------------------------------
COMMANDS: dict[str, Register] = {
    "slo": _register_slo,
    "log-config": _register_log_config,
}
"""Top-level subcommands: name -> function adding its parser. Add new commands here."""


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_usage(sys.stderr)
    return EXIT_BAD_INPUT


def build_parser() -> argparse.ArgumentParser:
    """The ``obskit`` parser with every command of ``COMMANDS``."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("obskit")
    except PackageNotFoundError:  # a source tree that was never installed
        installed = "0+unknown"
    parser = argparse.ArgumentParser(prog="obskit", description="obskit: observability for Python services on AWS.")
    parser.add_argument("--version", action="version", version=f"obskit {installed}")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for register in COMMANDS.values():
        register(sub)
    parser.set_defaults(run=lambda _args: _usage(parser))
    return parser


def _report(problems: Sequence[Any], stream: TextIO) -> None:
    for p in problems:
        print(p, file=stream)
    n = len(problems)
    print(f"obskit: {n} problem{'s' if n != 1 else ''} found", file=stream)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``obskit`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except SLOSpecError as exc:
        _report(exc.problems, sys.stderr)
        return EXIT_BAD_INPUT
    except ConfigError as exc:  # includes MissingDependencyError
        print(f"obskit: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        print(f"obskit: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # AWS errors (botocore ClientError, NoCredentialsError...) reach here: say what failed.
        print(f"obskit: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
