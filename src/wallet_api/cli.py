"""The `wallet-api` command: argument parsing only."""

from __future__ import annotations

import argparse
import logging.config
from collections.abc import Sequence

from wallet_api import server
from wallet_api.logs import logging_config
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    overrides = {
        name: value
        for name in ("host", "port", "workers")
        if (value := getattr(args, name, None)) is not None
    }
    settings = Settings(**overrides)
    logging.config.dictConfig(logging_config(settings.log_level))
    if args.command == "serve":
        server.serve(settings, migrate=not args.no_migrate)
    elif args.command == "migrate":
        server.migrate(settings)
    elif args.command == "verify":
        return 0 if server.verify(settings) else 1
    return 0
