"""The `wallet-api` command: argument parsing only."""

from __future__ import annotations

import argparse
import json
import logging.config
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import ValidationError

from wallet_api import __version__, server
from wallet_api.bench import run as bench
from wallet_api.bench.scenarios import NAMES as BENCH_SCENARIOS
from wallet_api.ledger.api_keys import ApiKey, ApiKeyNotFound, Scope
from wallet_api.logs import logging_config
from wallet_api.settings import DATABASE_URL_ENV, Settings
from wallet_api.storage.embedded import EmbeddedPostgresMissing
from wallet_api.storage.migrations import SchemaNotCurrent


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wallet-api", description=__doc__)
    parser.add_argument("--version", action="version", version=f"wallet-api {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate, then serve the API")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default 2)")
    serve.add_argument("--no-migrate", action="store_true", help="skip the migrations at start")

    _add_migrate(commands)
    verify = commands.add_parser(
        "verify", help="audit the ledger; exit 0 only when every balance adds up"
    )
    verify.add_argument(
        "--metrics-file",
        type=Path,
        help="also write the outcome there in the Prometheus text format (for node_exporter's "
        "textfile collector and the WalletApiAudit* alerts)",
    )

    defaults = bench.Options()
    load = commands.add_parser(
        "bench",
        help="the load benchmark: the service on a scratch database under wrk and pgbench",
        description=(
            "Start the service on a scratch database, drive each scenario with wrk (pgbench for "
            "db-ceiling), audit the ledger after each, write a report. Exits 0 unless an audit "
            "fails or the service or a load tool fails; missed targets are reported, not fatal."
        ),
    )
    load.add_argument(
        "--duration", type=int, default=defaults.duration, help="seconds per scenario (10)"
    )
    load.add_argument(
        "--warmup", type=int, default=defaults.warmup, help="unrecorded seconds before each (1)"
    )
    load.add_argument(
        "--connections", type=int, default=defaults.connections, help="wrk connections (64)"
    )
    load.add_argument("--workers", type=int, help="service worker processes (default 2)")
    load.add_argument(
        "--scale",
        action="store_true",
        help="fill a big ledger (1,000,000 wallets, 10,000,000 operations) and run each scenario "
        "on it and on a small ledger in turn; add the hot sweep and the history probe; writes "
        "scale.* instead of latest.*",
    )
    load.add_argument(
        "--scale-rounds",
        type=int,
        default=defaults.scale_rounds,
        help="--scale: runs of each standard scenario on each ledger, alternating (3)",
    )
    load.add_argument(
        "--tracing",
        action="store_true",
        help="measure the cost of tracing: each scenario on the service with tracing off and "
        "on, --scale-rounds rounds each in alternation, the spans sent to a collector in the "
        "bench; prints the ratio, writes no report",
    )
    load.add_argument(
        "--scenarios",
        type=_names,
        default=(),
        help=f"comma-separated subset of: {', '.join(BENCH_SCENARIOS)}",
    )
    load.add_argument(
        "--output", type=Path, default=defaults.output, help="report directory (bench/results)"
    )
    # Smaller --scale ledgers, to try the fill and the probe in seconds.
    load.add_argument(
        "--scale-wallets", type=int, default=defaults.scale_wallets, help=argparse.SUPPRESS
    )
    load.add_argument(
        "--scale-operations", type=int, default=defaults.scale_operations, help=argparse.SUPPRESS
    )
    events = commands.add_parser("events", help="the events' delivery")
    event_commands = events.add_subparsers(dest="events_command", required=True)
    event_commands.add_parser(
        "status", help="the last sequence given and the backlog of each destination"
    )
    keys = commands.add_parser("keys", help="create, list or revoke API keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create a key and print it, once")
    create.add_argument("--name", required=True, help="who or what the key is for")
    create.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        required=True,
        choices=[scope.value for scope in Scope],
        help="what the key may do; repeat for several",
    )
    create.add_argument("--expires-in-days", type=_positive_days, help="default: never expires")
    listing = key_commands.add_parser(
        "list", help="every key: id, name, scopes, status; never the key"
    )
    listing.add_argument("--json", action="store_true", help="one JSON array, for scripts")
    revoke = key_commands.add_parser("revoke", help="revoke a key; it stops working at once")
    revoke.add_argument("id", type=int, help="the key's id, as `keys list` shows it")
    return parser


def _add_migrate(commands: Any) -> None:
    migrate = commands.add_parser(
        "migrate",
        help="bring the database schema to the newest version (or --revision); downgrade; current",
        description="Apply the migrations shipped with this version, up to the newest one or "
        "--revision. With --sql, print the SQL instead of running it (no database needed; "
        "--revision FROM:TO for a range).",
    )
    migrate.add_argument("--revision", default="head", help="target revision (default: head)")
    migrate.add_argument("--sql", action="store_true", help="print the SQL, change nothing")
    steps = migrate.add_subparsers(dest="migrate_command")
    downgrade = steps.add_parser(
        "downgrade",
        help="take the schema down to --revision (base: nothing)",
        description="Take the schema down to --revision (`base` removes every table and its "
        "data). With --sql, print the SQL from the newest revision, or from FROM in FROM:TO.",
    )
    downgrade.add_argument("--revision", required=True, help="target revision, or base")
    downgrade.add_argument("--sql", action="store_true", help="print the SQL, change nothing")
    steps.add_parser(
        "current",
        help="print the schema's revision; exit 0 only when it is the newest this version ships",
    )


def _positive_days(text: str) -> float:
    days = float(text)
    if not 0 < days <= 36500:
        raise argparse.ArgumentTypeError("the number of days must be above 0 and at most 36500")
    return days


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except EmbeddedPostgresMissing as missing:
        print(f"wallet-api {args.command}: {missing}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    overrides = {
        name: value
        for name in ("host", "port", "workers")
        if (value := getattr(args, name, None)) is not None
    }
    try:
        settings = Settings(**overrides)
    except ValidationError as invalid:
        print(f"wallet-api: the configuration is not valid:\n{_reasons(invalid)}", file=sys.stderr)
        return 2
    config = logging_config(settings.log_level, settings.log_format)
    if args.command in ("keys", "events") or _prints_a_result(args):
        # These talk to a person or write SQL to stdout: the database's start and stop lines,
        # Alembic's among them, would bury what they print.
        config["root"]["level"] = "WARNING"
    logging.config.dictConfig(config)
    if args.command == "serve":
        server.serve(settings, migrate=not args.no_migrate)
    elif args.command == "migrate":
        return _migrate(settings, args)
    elif args.command == "verify":
        return 0 if server.verify(settings, args.metrics_file) else 1
    elif args.command == "bench":
        options = bench.Options(
            duration=args.duration,
            warmup=args.warmup,
            connections=args.connections,
            scenarios=args.scenarios,
            scale=args.scale,
            scale_wallets=args.scale_wallets,
            scale_operations=args.scale_operations,
            scale_rounds=args.scale_rounds,
            tracing=args.tracing,
            output=args.output,
        )
        try:
            return bench.run(settings, options)
        except bench.BenchFailed as failure:
            print(f"wallet-api bench: {failure}", file=sys.stderr)
            return 2
    elif args.command == "keys":
        return _keys(settings, args)
    elif args.command == "events":
        return _events_status(settings)
    return 0


def _events_status(settings: Settings) -> int:
    try:
        status = server.events_status(settings)
    except asyncpg.UndefinedTableError:
        print("wallet-api events: the database has no events table: run `wallet-api migrate`")
        return 1
    print(f"last sequence: {status.head}  committed, not yet numbered: {status.unsequenced}")
    if not status.backlogs:
        print(
            "no destinations (set WALLET_EVENTS_NATS_URL or WALLET_EVENTS_AMQP_URL, or add a "
            "webhook)"
        )
    for backlog in status.backlogs:
        print(
            f"{backlog.destination:<45} {backlog.status:<8} delivered up to "
            f"{backlog.delivered:>12}  backlog {backlog.behind:>10}"
        )
    return 0


def _reasons(invalid: ValidationError) -> str:
    """One line per setting at fault, without its value: a database URL holds a password."""
    return "\n".join(
        f"  {_environment_name(error['loc'])}: {error['msg']}"
        for error in invalid.errors(include_input=False, include_url=False)
    )


def _environment_name(location: tuple[int | str, ...]) -> str:
    field = str(location[0]) if location else ""
    return DATABASE_URL_ENV if field == "database_url" else f"WALLET_{field.upper()}"


def _prints_a_result(args: argparse.Namespace) -> bool:
    return args.command == "migrate" and (args.sql is True or args.migrate_command == "current")


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    if args.migrate_command == "current":
        current, head = server.schema_revisions(settings)
        print(current or "none")
        if current == head:
            print(f"the schema is at {head}, the newest this version ships", file=sys.stderr)
            return 0
        print(f"this version ships {head}: run `wallet-api migrate`", file=sys.stderr)
        return 1
    if args.migrate_command == "downgrade":
        server.downgrade(settings, args.revision, sql=args.sql)
    else:
        server.migrate(settings, args.revision, sql=args.sql)
    return 0


def _keys(settings: Settings, args: argparse.Namespace) -> int:
    try:
        return _key_command(settings, args)
    except SchemaNotCurrent as refusal:
        print(f"wallet-api keys {args.keys_command}: {refusal}", file=sys.stderr)
        return 1


def _key_command(settings: Settings, args: argparse.Namespace) -> int:
    if args.keys_command == "create":
        expires_in = None if args.expires_in_days is None else timedelta(days=args.expires_in_days)
        scopes = [Scope(scope) for scope in args.scopes]
        record, key = server.create_key(settings, args.name, scopes, expires_in)
        # The key alone on stdout, for scripts; what it is on stderr, for people.
        print(f"Created {_describe(record)}. The key, shown this once:", file=sys.stderr)
        print(key)
    elif args.keys_command == "list":
        records = server.list_keys(settings)
        if args.json:
            print(json.dumps([_as_json(record) for record in records], indent=2))
            return 0
        for record in records:
            print(_describe(record))
    elif args.keys_command == "revoke":
        try:
            record = server.revoke_key(settings, args.id)
        except ApiKeyNotFound as error:
            print(f"wallet-api keys revoke: {error}", file=sys.stderr)
            return 1
        print(f"Revoked {_describe(record)}")
    return 0


def _describe(key: ApiKey) -> str:
    expires = "never" if key.expires_at is None else key.expires_at.isoformat(timespec="seconds")
    return (
        f"API key {key.id} {key.name!r}: {key.status(datetime.now(UTC))}, "
        f"scopes {' '.join(sorted(key.scopes))}, "
        f"created {key.created_at.isoformat(timespec='seconds')}, expires {expires}"
    )


def _as_json(key: ApiKey) -> dict[str, Any]:
    def moment(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "id": key.id,
        "name": key.name,
        "scopes": sorted(key.scopes),
        "status": key.status(datetime.now(UTC)),
        "created_at": moment(key.created_at),
        "expires_at": moment(key.expires_at),
        "revoked_at": moment(key.revoked_at),
    }
