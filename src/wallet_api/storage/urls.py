"""Database URLs: the forms accepted (one host, or several as libpq writes them), and the forms
SQLAlchemy and the driver each take."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urlsplit

from sqlalchemy.engine import URL, make_url

SCHEMES = ("postgres", "postgresql", "postgresql+asyncpg")
# Either value makes the driver skip a server that is in recovery (a standby).
WRITABLE_SESSION_ATTRS = ("read-write", "primary")


def parsed(url: str) -> URL:
    """The URL as SQLAlchemy's asyncpg dialect takes it. Several hosts may come as libpq writes
    them (`postgresql://user@h1:5432,h2:5433/db`, as `pg_autoctl show uri` prints) or as
    SQLAlchemy does (`?host=h1:5432&host=h2:5433`); either way they become the latter."""
    scheme = url.partition("://")[0]
    if scheme not in SCHEMES:
        raise ValueError(f"unsupported database URL scheme: {scheme or url[:20]!r}")
    split = urlsplit(url)
    userinfo, _, hostlist = split.netloc.rpartition("@")
    if "," not in hostlist:
        return make_url(url).set(drivername="postgresql+asyncpg")
    username, _, password = userinfo.partition(":")
    query: dict[str, str | tuple[str, ...]] = dict(parse_qsl(split.query))
    query["host"] = tuple(hostlist.split(","))
    return URL.create(
        "postgresql+asyncpg",
        username=unquote(username) or None,
        password=unquote(password) or None,
        database=unquote(split.path.lstrip("/")) or None,
        query=query,
    )


def hosts(url: URL) -> tuple[str, ...]:
    """Every `host:port` the URL names (or the socket directory it names in `?host=`)."""
    named = url.query.get("host")
    if isinstance(named, tuple):
        return named
    if isinstance(named, str):
        return (named,)
    return (f"{url.host or 'localhost'}:{url.port or 5432}",)


def each_host(url: URL) -> list[URL]:
    """The URL once for each of its hosts, in order."""
    if "host" not in url.query:
        return [url]
    alone = url.difference_update_query(["host"])
    return [
        # A socket directory stays in the query, where libpq and the driver look for it.
        alone.update_query_dict({"host": name}) if name.startswith("/") else _at(alone, name)
        for name in hosts(url)
    ]


def _at(url: URL, name: str) -> URL:
    host, _, port = name.rpartition(":") if ":" in name else (name, "", "")
    return url.set(host=host, port=int(port) if port else None)


def checked(url: str) -> str:
    """The URL, unchanged, if the service can use it; else a ValueError that says why."""
    database = parsed(url)
    names = hosts(database)
    attrs = database.query.get("target_session_attrs")
    if len(names) > 1 and attrs not in WRITABLE_SESSION_ATTRS:
        raise ValueError(
            f"the database URL names {len(names)} hosts ({', '.join(names)}) but not "
            "target_session_attrs=read-write: the pools could connect to a standby, which "
            "refuses every write. Add ?target_session_attrs=read-write to the URL."
        )
    return url


def async_url(url: str) -> str:
    """Accept postgres://, postgresql:// or postgresql+asyncpg:// and return the asyncpg form."""
    return parsed(url).render_as_string(hide_password=False)


def driver_dsn(url: str | URL) -> str:
    """The libpq form the driver and PostgreSQL's own tools take: several hosts as
    `h1:p1,h2:p2` in the address, the other query parameters kept."""
    database = url if isinstance(url, URL) else parsed(url)
    names = hosts(database)
    if len(names) == 1:
        return database.set(drivername="postgresql").render_as_string(hide_password=False)
    userinfo = ""
    if database.username:
        userinfo = quote(database.username, safe="")
        if database.password:
            userinfo += ":" + quote(str(database.password), safe="")
        userinfo += "@"
    rest = [
        f"{quote(key)}={quote(value)}"
        for key, values in database.query.items()
        if key != "host"
        for value in ((values,) if isinstance(values, str) else values)
    ]
    query = f"?{'&'.join(rest)}" if rest else ""
    name = quote(database.database or "", safe="")
    return f"postgresql://{userinfo}{','.join(names)}/{name}{query}"
