"""Connecting to the case store (PostgreSQL) and migrating its schema.

The schema is the plain-SQL migrations in ``migrations/`` (yoyo-migrations,
applied in order, each once; yoyo records them in its own tables). A bank's
own server is reached with TLS: ``sslmode`` and the certificate paths are
libpq's own parameters.

    config = PgConfig("postgresql://txmon@127.0.0.1:5432/txmon")
    migrate(config)                       # every migration not applied yet
    pool = await open_pool(config)        # psycopg 3 async pool
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

from psycopg_pool import AsyncConnectionPool

MIGRATIONS = Path(__file__).with_name("migrations")


@dataclass(frozen=True, slots=True)
class PgConfig:
    url: str
    sslmode: str = "prefer"
    sslrootcert: Path | None = None
    sslcert: Path | None = None
    sslkey: Path | None = None

    def params(self) -> dict[str, str]:
        """libpq connection parameters besides the URL's own."""
        out = {"sslmode": self.sslmode, "application_name": "txmon"}
        for name in ("sslrootcert", "sslcert", "sslkey"):
            value = getattr(self, name)
            if value is not None:
                out[name] = str(value)
        return out

    def conninfo(self) -> str:
        """The URL with the TLS parameters in its query (libpq reads both)."""
        parts = urlsplit(self.url)
        query = "&".join(q for q in (parts.query, urlencode(self.params())) if q)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))

    def yoyo_uri(self) -> str:
        """The same server for yoyo, through its psycopg 3 backend."""
        scheme = urlsplit(self.url).scheme
        if scheme not in ("postgresql", "postgres"):
            msg = f"the case store needs a postgresql:// URL, not {scheme}://"
            raise ValueError(msg)
        return "postgresql+psycopg" + self.conninfo()[len(scheme) :]


def migrations(upto: str | None = None) -> list[str]:
    """Migration ids in order (``upto``: only those up to and including that one)."""
    ids = sorted(p.name.removesuffix(".sql") for p in MIGRATIONS.glob("*.sql") if not p.name.endswith(".rollback.sql"))
    if upto is not None:
        if upto not in ids:
            msg = f"no migration {upto}; there are {', '.join(ids)}"
            raise ValueError(msg)
        ids = ids[: ids.index(upto) + 1]
    return ids


def migrate(config: PgConfig, upto: str | None = None) -> list[str]:
    """Apply what is missing, in one lock (two processes starting at once apply each once)."""
    from yoyo import get_backend, read_migrations  # imported here: only the migrating commands need it

    backend = get_backend(config.yoyo_uri())
    try:
        wanted = set(migrations(upto))
        found = read_migrations(str(MIGRATIONS))
        with backend.lock():
            todo = found.filter(lambda m: m.id in wanted)
            pending = backend.to_apply(todo)
            backend.apply_migrations(pending)
        return [m.id for m in pending]
    finally:
        backend.connection.close()


def applied(config: PgConfig) -> list[str]:
    from yoyo import get_backend, read_migrations

    backend = get_backend(config.yoyo_uri())
    try:
        found = read_migrations(str(MIGRATIONS))
        return sorted(m.id for m in found if backend.is_applied(m))
    finally:
        backend.connection.close()


async def open_pool(config: PgConfig, *, min_size: int = 1, max_size: int = 4) -> AsyncConnectionPool:
    pool = AsyncConnectionPool(config.conninfo(), min_size=min_size, max_size=max_size, open=False)
    await pool.open(wait=True, timeout=30)
    return pool
