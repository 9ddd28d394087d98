"""The `wallet-api` command: argument parsing only."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from wallet_api import server
from wallet_api.ledger.api_keys import ApiKey, ApiKeyNotFound, Scope
from wallet_api.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wallet-api", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate, then serve the API")
    serve.add_argument("--host", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default 8000)")
    serve.add_argument("--workers", type=int, help="worker processes (default 2)")
    serve.add_argument("--no-migrate", action="store_true", help="skip the migrations at start")

    commands.add_parser("migrate", help="bring the database schema to the newest version")
    commands.add_parser("verify", help="audit the ledger; exit 0 only when every balance adds up")

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
    key_commands.add_parser("list", help="every key: id, name, scopes, status; never the key")
    revoke = key_commands.add_parser("revoke", help="revoke a key; it stops working at once")
    revoke.add_argument("id", type=int, help="the key's id, as `keys list` shows it")
    return parser


def _positive_days(text: str) -> float:
    days = float(text)
    if not 0 < days <= 36500:
        raise argparse.ArgumentTypeError("the number of days must be above 0 and at most 36500")
    return days


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = {
        name: value
        for name in ("host", "port", "workers")
        if (value := getattr(args, name, None)) is not None
    }
    settings = Settings(**overrides)
    # The keys commands talk to a person: the database's start and stop lines would bury them.
    level = "WARNING" if args.command == "keys" else settings.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.command == "serve":
        server.serve(settings, migrate=not args.no_migrate)
    elif args.command == "migrate":
        server.migrate(settings)
    elif args.command == "verify":
        return 0 if server.verify(settings) else 1
    elif args.command == "keys":
        return _keys(settings, args)
    return 0


def _keys(settings: Settings, args: argparse.Namespace) -> int:
    if args.keys_command == "create":
        expires_in = None if args.expires_in_days is None else timedelta(days=args.expires_in_days)
        scopes = [Scope(scope) for scope in args.scopes]
        record, key = server.create_key(settings, args.name, scopes, expires_in)
        # The key alone on stdout, for scripts; what it is on stderr, for people.
        print(f"Created {_describe(record)}. The key, shown this once:", file=sys.stderr)
        print(key)
    elif args.keys_command == "list":
        for record in server.list_keys(settings):
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
