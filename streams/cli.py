"""``txmon`` command line: the one entry point that builds settings from the environment."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from streams.settings import Settings, SettingsError


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    import faust  # deferred: `txmon rules check` must not pay Faust's import time

    from streams import log_limit
    from streams.app import create_worker
    from streams.kafka_client import check_kafka_now
    from streams.logs import logging_config

    class _Worker(faust.Worker):  # type: ignore[misc]
        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            super().on_setup_root_logger(logger, level)
            log_limit.install(logger)  # an outage must not write the same line 100 times a second

    check_kafka_now(settings)  # a refused password or a foreign CA: one clear line, not Faust's retries
    worker = create_worker(settings)
    _Worker(
        worker.app, loglevel=settings.log_level.lower(), quiet=args.quiet, logging_config=logging_config(settings)
    ).execute_from_commandline()
    return 0


def _rules_check(args: argparse.Namespace, settings: Settings) -> int:
    from rules.config import ConfigError, load_ruleset

    try:
        ruleset = load_ruleset(args.file)
    except (ConfigError, OSError) as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return 1
    rules = ", ".join(f"{r.definition.id} ({r.spec.action})" for r in ruleset.rules)
    print(f"ok: version {ruleset.version}; {len(ruleset.rules)} rules enabled: {rules}")
    return 0


def _rules_publish(args: argparse.Namespace, settings: Settings) -> int:
    from rules.config import ConfigError
    from streams.control import publish_rules
    from streams.topics import ensure_topics

    try:
        text = Path(args.file).read_text(encoding="utf-8")
        asyncio.run(ensure_topics(settings, [settings.rules_topic]))
        ruleset = asyncio.run(publish_rules(settings, text))
    except (ConfigError, OSError) as exc:
        print(f"not published: {exc}", file=sys.stderr)
        return 1
    print(f"published rules version {ruleset.version} on {settings.rules_topic}")
    return 0


def _suspicious(args: argparse.Namespace, settings: Settings) -> int:
    from streams.control import publish_list_updates
    from streams.lists import ListUpdate, updates_from_csv

    if args.suspicious_command == "load":
        updates = updates_from_csv(args.file, by=args.by)
    else:
        updates = [
            ListUpdate(
                account_id=args.account,
                action=args.suspicious_command,
                source=args.source,
                reason=args.reason,
                by=args.by,
            )
        ]
    asyncio.run(publish_list_updates(settings, updates))
    print(f"published {len(updates)} suspicious-list update(s) on {settings.suspicious_topic}")
    return 0


def _freeze_request(args: argparse.Namespace, settings: Settings) -> int:
    import msgspec

    from streams.freeze import new_request, publish_freeze_request

    try:
        request = new_request(args.account, args.authority, args.case, args.reason, args.request_id, args.duration_h)
    except msgspec.ValidationError as exc:
        print(f"not published: {exc}", file=sys.stderr)
        return 1
    asyncio.run(publish_freeze_request(settings, request))
    print(request.request_id)
    return 0


def _add_freeze_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    freeze = sub.add_parser("freeze", help="police freeze requests (R13)")
    freeze_sub = freeze.add_subparsers(dest="freeze_command", required=True)
    request = freeze_sub.add_parser(
        "request", help="publish a police request to freeze an account; prints the request id"
    )
    request.add_argument("--account", required=True, help="the account to freeze")
    request.add_argument("--authority", required=True, help='the police unit, e.g. "Công an TP Hà Nội - PC02"')
    request.add_argument("--case", required=True, help="the police case reference")
    request.add_argument("--reason", required=True)
    request.add_argument("--request-id", help="the police's own id (default: a new one); resending it changes nothing")
    request.add_argument("--duration-h", type=int, help="hours, 1 to 2160 (default: R13's default_duration_h)")
    request.set_defaults(run=_freeze_request)


def _topics(args: argparse.Namespace, settings: Settings) -> int:
    from streams.topics import ensure_topics, topic_names

    asyncio.run(ensure_topics(settings))
    print("\n".join(topic_names(settings)))
    return 0


def _schema(args: argparse.Namespace, settings: Settings) -> int:
    from streams.events import json_schema

    text = json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _backtest(args: argparse.Namespace, settings: Settings) -> int:
    from streams.backtest import main as backtest_main
    from streams.codec import EventTimeBounds

    bounds = EventTimeBounds.of_seconds(settings.max_event_age_s, settings.max_event_future_s)
    rules = args.rules or settings.rules_file
    return backtest_main(args.events, rules, args.compare, args.suspicious, bounds, args.labels)


def _state_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from streams.rebuild import main as rebuild_main

    return rebuild_main(settings)


def _console(args: argparse.Namespace, settings: Settings) -> int:
    from streams.console_main import run_console

    return run_console(settings)


def _create_user(args: argparse.Namespace, settings: Settings) -> int:
    from streams.console_main import create_user_command

    return create_user_command(settings, args.name, args.role, args.password_stdin, args.replace)


def _totp_enrol(args: argparse.Namespace, settings: Settings) -> int:
    from streams.console_main import enrol_totp_command

    return enrol_totp_command(settings, args.name)


def _cases(args: argparse.Namespace, settings: Settings) -> int:
    from streams import case_sink

    command = args.cases_command or "run"
    if command == "run":
        return case_sink.run_sink_command(settings)
    if command == "rebuild":
        return case_sink.rebuild_command(settings)
    if command == "migrate":
        from alerts.cases.db import migrate

        applied = migrate(case_sink.pg_config(settings))
        print(f"applied {len(applied)} migration(s){': ' + ', '.join(applied) if applied else ''}")
        return 0
    from streams.case_labels import export_labels_command

    return export_labels_command(settings, args.out)


def _add_cases_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cases = sub.add_parser("cases", help="the case store: run its sink (default), rebuild, migrate, export labels")
    cases_sub = cases.add_subparsers(dest="cases_command")
    cases_sub.add_parser("run", help="read the alerts, holds, police and audit topics into PostgreSQL")
    cases_sub.add_parser("rebuild", help="empty the store and replay the topics from their start (sink stopped)")
    cases_sub.add_parser("migrate", help="apply the schema migrations not applied yet")
    labels = cases_sub.add_parser("labels", help="officers' resolutions as a labels file for `txmon backtest`")
    labels.add_argument("--out", type=Path, required=True, help="CSV: event_id,rule_id,label (fraud / not_fraud)")
    cases.set_defaults(run=_cases)


def _add_console_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    console = sub.add_parser("console", help="serve the fraud officers' console: web UI and JSON API")
    console.set_defaults(run=_console)
    user = sub.add_parser(
        "create-user", help="create a console user (the first supervisor), or reset one; supervisors get a TOTP secret"
    )
    user.add_argument("name")
    user.add_argument("--role", choices=("officer", "supervisor", "police"), default="supervisor")
    user.add_argument("--password-stdin", action="store_true", help="read the password from one line of stdin")
    user.add_argument("--replace", action="store_true", help="reset the role and password of an existing user")
    user.set_defaults(run=_create_user)
    enrol = sub.add_parser(
        "totp-enrol", help="give a console user a new TOTP secret (supervisors' second factor); prints it once"
    )
    enrol.add_argument("name")
    enrol.set_defaults(run=_totp_enrol)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="txmon", description="Real-time transaction monitoring for banks.")
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("worker", help="run a monitoring worker (scale out by running more)")
    worker.add_argument("--quiet", action="store_true", help="no banner")
    worker.set_defaults(run=_worker)
    rules = sub.add_parser("rules", help="rule configuration").add_subparsers(dest="rules_command", required=True)
    check = rules.add_parser("check", help="validate a rules YAML file")
    check.add_argument("file", type=Path)
    check.set_defaults(run=_rules_check)
    publish = rules.add_parser("publish", help="validate a rules YAML file and send it to every running worker")
    publish.add_argument("file", type=Path)
    publish.set_defaults(run=_rules_publish)
    lists = sub.add_parser("suspicious", help="shared suspicious-account list (SIMO-like)")
    lists_sub = lists.add_subparsers(dest="suspicious_command", required=True)
    for action in ("add", "remove"):
        one = lists_sub.add_parser(action, help=f"{action} one account")
        one.add_argument("account")
        one.add_argument("--reason", required=True)
        one.add_argument("--source", default="bank")
        one.add_argument("--by", default="cli")
        one.set_defaults(run=_suspicious)
    load = lists_sub.add_parser("load", help="add every account of a CSV file (account_id[,source[,reason]])")
    load.add_argument("file", type=Path)
    load.add_argument("--by", default="cli")
    load.set_defaults(run=_suspicious)
    topics = sub.add_parser("topics", help="create txmon's topics where missing and list them")
    topics.set_defaults(run=_topics)
    schema = sub.add_parser("schema", help="print the input event JSON Schema")
    schema.add_argument("--out", type=Path)
    schema.set_defaults(run=_schema)
    backtest = sub.add_parser("backtest", help="run the rules over a JSON Lines file of events (no Kafka/Redis)")
    backtest.add_argument("events", type=Path)
    backtest.add_argument("--rules", type=Path, help="rules YAML (default: the configured one)")
    backtest.add_argument("--compare", nargs=2, type=Path, metavar=("OLD", "NEW"), help="decision changes")
    backtest.add_argument("--suspicious", type=Path, help="CSV of the shared suspicious-account list (R7)")
    backtest.add_argument("--labels", type=Path, help="officers' labels (`txmon cases labels`): precision per rule")
    backtest.set_defaults(run=_backtest)
    state = sub.add_parser("state", help="the workers' Redis state").add_subparsers(dest="state_command", required=True)
    rebuild = state.add_parser(
        "rebuild", help="after Redis lost the state: replay retained history (no outputs), then workers go on"
    )
    rebuild.set_defaults(run=_state_rebuild)
    _add_console_commands(sub)
    _add_freeze_commands(sub)
    _add_cases_commands(sub)
    return parser


# Commands that talk to Kafka: checked first, so a security mistake is one line naming the setting.
KAFKA_COMMANDS = frozenset({_rules_publish, _suspicious, _freeze_request, _topics, _console})


def main(argv: Sequence[str] | None = None) -> int:
    from streams.kafka_client import KafkaSetupError, check_kafka_now

    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_environment()
        if args.run in KAFKA_COMMANDS:
            check_kafka_now(settings)
        code: int = args.run(args, settings)
    except SettingsError as exc:
        print(f"txmon: configuration error: {exc}", file=sys.stderr)
        return 2
    except KafkaSetupError as exc:
        print(f"txmon: Kafka: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
