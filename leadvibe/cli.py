"""`leadvibe serve|migrate|version|...`: the one command users run."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from leadvibe import __version__
from leadvibe.config import Settings, load_settings


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {k: getattr(args, k, None) for k in ("host", "port", "data_dir")}
    try:
        return load_settings(overrides)
    except ValueError as exc:
        sys.exit(f"leadvibe: {exc}")


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the server in this process until SIGTERM/SIGINT."""
    import uvicorn

    from leadvibe.app import create_app
    from leadvibe.db.lock import DataDirLock, DataDirLocked
    from leadvibe.log import configure_logging

    settings = _settings(args)
    configure_logging(settings.log_level, settings.log_format)
    lock = DataDirLock(settings.data_path)
    try:
        lock.acquire()
    except DataDirLocked as exc:
        print(f"leadvibe: {exc}", file=sys.stderr)
        return 1
    try:
        app = create_app(settings, lock=lock)
        config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, access_log=False,
                                lifespan="on", timeout_graceful_shutdown=15, server_header=False,
                                proxy_headers=False)
        server = uvicorn.Server(config)
        server.run()
        return 0 if server.started else 1
    finally:
        lock.release()


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply pending migrations to the data directory's database and exit."""
    import apsw

    from leadvibe.db.database import apply_pragmas
    from leadvibe.db.lock import DataDirLock, DataDirLocked
    from leadvibe.db.migrate import apply_migrations

    settings = _settings(args)
    lock = DataDirLock(settings.data_path)
    try:
        lock.acquire()
    except DataDirLocked as exc:
        print(f"leadvibe: {exc}", file=sys.stderr)
        return 1
    try:
        conn = apsw.Connection(str(settings.db_path))
        apply_pragmas(conn, synchronous=settings.synchronous)
        applied = apply_migrations(conn)
        conn.close()
    finally:
        lock.release()
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


def cmd_version(_: argparse.Namespace) -> int:
    """Print the version."""
    print(f"leadvibe {__version__}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every flag also reads its LEADVIBE_* variable)."""
    parser = argparse.ArgumentParser(prog="leadvibe", description="LeadVibe lead-engagement scoring server")
    sub = parser.add_subparsers(dest="command", required=True)

    def data_dir_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", dest="data_dir", default=None,
                       help="data directory (env LEADVIBE_DATA_DIR, default ./leadvibe-data)")

    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", default=None, help="bind address (env LEADVIBE_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (env LEADVIBE_PORT, default 8080)")
    data_dir_flag(serve)
    serve.set_defaults(fn=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply database migrations and exit")
    data_dir_flag(migrate)
    migrate.set_defaults(fn=cmd_migrate)

    version = sub.add_parser("version", help="print the version")
    version.set_defaults(fn=cmd_version)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `leadvibe` console script."""
    args = build_parser().parse_args(argv)
    return int(args.fn(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
