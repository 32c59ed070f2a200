"""The bench's own database, `flexprice_bench`: on DATABASE_URL's server, else the embedded one."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import environ
import psycopg
from psycopg import sql

BASE_DIR = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "flexprice_bench"


@dataclass(frozen=True)
class BenchDatabase:
    url: str  # a DATABASE_URL for this process and the web server it starts
    server: str  # "embedded" or "DATABASE_URL"


def var_dir() -> Path:
    return Path(os.environ.get("VAR_DIR", str(BASE_DIR / "var")))


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def conninfo(url: str) -> str:
    """psycopg's connection string for a DATABASE_URL (a percent-encoded socket dir as host)."""
    config = environ.Env.db_url_config(url)
    return psycopg.conninfo.make_conninfo(
        dbname=config["NAME"],
        user=config.get("USER") or None,
        password=config.get("PASSWORD") or None,
        host=unquote(str(config.get("HOST") or "")) or None,
        port=config.get("PORT") or None,
    )


def _create_if_missing(url: str, name: str, *, drop_first: bool) -> None:
    with psycopg.connect(conninfo(_with_database(url, "postgres")), autocommit=True) as connection:
        if drop_first:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def bench_database(*, new: bool = False) -> BenchDatabase:
    """Find or start the server, make sure `flexprice_bench` exists, and point Django at it.

    `new` drops the database first (a migration edited after it was applied, a clean slate).
    Sets DATABASE_URL in this process's environment, so call it before `django.setup()`. With
    the embedded server, this process holds it open until it exits.
    """
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
    configured = os.environ.get("DATABASE_URL", "")
    if configured:
        _create_if_missing(configured, BENCH_DATABASE, drop_first=new)
        database = BenchDatabase(_with_database(configured, BENCH_DATABASE), "DATABASE_URL")
    else:
        from flexprice_site.embedded_db import database_url, embedded_database

        config = embedded_database(var_dir() / "pgdata", name=BENCH_DATABASE)
        database = BenchDatabase(database_url(config), "embedded")
        if new:
            _create_if_missing(database.url, BENCH_DATABASE, drop_first=True)
    os.environ["DATABASE_URL"] = database.url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flexprice_site.settings")
    return database
