"""`leadvibe serve|migrate|version|...`: the one command users run."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from leadvibe import WORKER_CHILD_ENV, __version__
from leadvibe.config import Settings, load_settings, local_url

if TYPE_CHECKING:
    from leadvibe.runtime import Runtime


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {k: getattr(args, k, None) for k in ("host", "port", "data_dir")}
    try:
        return load_settings(overrides)
    except ValueError as exc:
        sys.exit(f"leadvibe: {exc}")


def listening_line(host: str, port: int) -> str:
    """The console line saying where the server answers, once it does (the URL a person opens)."""
    url = local_url(host, port)
    everywhere = " (on every interface)" if host in ("0.0.0.0", "", "::") else ""
    return f"LeadVibe is listening on {url}{everywhere}; dashboard: {url}/ui"


def _graceful_server_class(ready_line: str, on_stop: Callable[[], None]) -> type:
    import contextlib
    import signal
    import threading

    import uvicorn

    class GracefulServer(uvicorn.Server):
        """uvicorn re-raises SIGTERM/SIGINT after its graceful shutdown, so the process would die by the signal;
        a clean stop should exit 0, so handle the signals without re-raising them."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

        async def shutdown(self, sockets: Any = None) -> None:
            on_stop()  # before the graceful wait: what never ends by itself (streams) is ended first
            await super().shutdown(sockets=sockets)

        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                print(ready_line, file=sys.stdout, flush=True)

    return GracefulServer


def bind_listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port, or OSError. Bound before anything else happens (SEMANTICS §11)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    return sock


def _cannot_listen(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (f"leadvibe: cannot listen on {host}:{port}: the port is already in use "
                "(stop what holds it, or choose another with --port / LEADVIBE_PORT)")
    return f"leadvibe: cannot listen on {host}:{port}: {exc.strerror or exc}"


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the server in this process until SIGTERM/SIGINT. The port is bound first: a port in use leaves a new
    data directory untouched (no directory, no key, no admin password printed)."""
    from leadvibe.db.lock import DataDirLock, DataDirLocked
    from leadvibe.log import configure_logging
    from leadvibe.worker_spawn import start_worker

    settings = _settings(args)
    try:
        sock = bind_listener(settings.host, settings.port)
    except OSError as exc:
        print(_cannot_listen(settings.host, settings.port, exc), file=sys.stderr)
        return 1
    with sock:
        configure_logging(settings.log_level, settings.log_format)
        lock = DataDirLock(settings.data_path)
        try:
            lock.acquire()
        except DataDirLocked as exc:
            print(f"leadvibe: {exc}", file=sys.stderr)
            return 1
        try:
            _migrated(settings)
        except DatabaseUnusable as exc:
            lock.release()
            print(f"leadvibe: refusing to start: {exc}", file=sys.stderr)
            return 1
        # The worker process imports while this one does (it waits for its settings; should start-up fail, its
        # socket closes and it ends).
        started = start_worker() if settings.worker_process else None
        app_ref: list[Any] = []

        def end_streams() -> None:
            runtime = getattr(app_ref[0].state, "runtime", None) if app_ref else None
            if runtime is not None and runtime.stream is not None:
                runtime.stream.close_all()

        _GracefulServer = _graceful_server_class(listening_line(settings.host, settings.port), end_streams)
        import uvicorn

        from leadvibe import gc_policy
        from leadvibe.app import create_app
        from leadvibe.http_protocol import GatheringHttpToolsProtocol
        from leadvibe.security.keys import SecretKeyUnusable

        try:
            try:
                app = create_app(settings, lock=lock, started_worker=started)
                app_ref.append(app)
            except SecretKeyUnusable as exc:
                print(f"leadvibe: refusing to start: {exc}", file=sys.stderr)
                return 1
            config = uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, access_log=False,
                                    lifespan="on", timeout_graceful_shutdown=15, server_header=False,
                                    proxy_headers=False,
                                    http=GatheringHttpToolsProtocol.with_read_timeout(settings.request_read_timeout))
            server = _GracefulServer(config)
            gc_policy.settle_once_serving()
            server.run(sockets=[sock])
            return 0 if server.started else 1
        finally:
            lock.release()


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply pending migrations to the data directory's database and exit."""
    from leadvibe.db.lock import DataDirLock, DataDirLocked
    from leadvibe.security.keys import KEY_NAME, SecretKeyUnusable, read_key_file

    settings = _settings(args)
    if (settings.data_path / KEY_NAME).exists():
        try:  # a data directory a server would refuse to start in is not "up to date"
            read_key_file(settings.data_path / KEY_NAME)
        except SecretKeyUnusable as exc:
            print(f"leadvibe: migrate refused: {exc}", file=sys.stderr)
            return 1
    lock = DataDirLock(settings.data_path)
    try:
        lock.acquire()
    except DataDirLocked as exc:
        print(f"leadvibe: {exc}", file=sys.stderr)
        return 1
    try:
        applied = _migrated(settings)
    finally:
        lock.release()
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


class DatabaseUnusable(Exception):
    """A database file of the data directory cannot be opened, read, written or migrated by this build."""


def _migrated(settings: Settings) -> list[str]:
    """Open the database and the inbox file, apply their pending migrations and close them: `migrate`, and what
    `serve` does before anything starts, so that a database it cannot use (read-only, damaged, from a newer
    LeadVibe) stops it with one line naming the file rather than the server's start-up traceback."""
    import apsw

    from leadvibe.db.database import apply_pragmas
    from leadvibe.db.migrate import INBOX_MIGRATIONS_DIR, MIGRATIONS_DIR, NewerSchema, apply_migrations
    from leadvibe.db.rows import scalar
    from leadvibe.ownership import give_database_to_directory_owner
    from leadvibe.store.inbox import path_beside

    applied: list[str] = []
    db_path, inbox_path = settings.db_path, path_beside(settings.db_path)
    new_database = not db_path.exists() or db_path.stat().st_size == 0
    for path, directory in ((db_path, MIGRATIONS_DIR), (inbox_path, INBOX_MIGRATIONS_DIR)):
        try:
            conn = apsw.Connection(str(path))
            try:
                if conn.readonly("main"):
                    raise DatabaseUnusable(f"cannot use the database {path}: it is read-only to this user; give "
                                           "the user that runs LeadVibe write access to it")
                apply_pragmas(conn, synchronous=settings.synchronous)
                applied += apply_migrations(conn, directory)
                # A file up to date needs no write to migrate: take the write lock once, so a file that refuses
                # writes stops the start here and not at the first event acknowledged but never scored.
                conn.execute("BEGIN IMMEDIATE; ROLLBACK")
                if path == inbox_path and new_database and (waiting := scalar(conn, "SELECT count(*) FROM inbox")):
                    raise DatabaseUnusable(
                        f"the database {db_path} is new (removed or emptied) but the inbox file {inbox_path} holds "
                        f"{waiting} events of the database it belonged to: scored into this one they would belong "
                        "to no organization. Put the original database back, or move the inbox file aside to "
                        "start afresh")
            finally:
                conn.close()
            give_database_to_directory_owner(str(path))  # made by a command run as root: the service user's
        except (apsw.Error, NewerSchema) as exc:
            if isinstance(exc, apsw.ReadOnlyError | apsw.CantOpenError) and not os.access(path.parent, os.W_OK):
                # The file may be writable: SQLite needs its directory too, for the write-ahead log beside it.
                raise DatabaseUnusable(
                    f"cannot use the database {path}: its directory {path.parent} is read-only to this user (the "
                    "database's write-ahead log is made beside it); give the user that runs LeadVibe write access "
                    "to the directory") from None
            raise DatabaseUnusable(f"cannot use the database {path}: {exc}") from None
    return applied


def version_line() -> str:
    """The version and the database schema this build migrates to (builds of one version differ by it)."""
    from leadvibe.db.migrate import newest

    return f"leadvibe {__version__} (database schema {newest()})"


def cmd_version(_: argparse.Namespace) -> int:
    """Print `version_line()`."""
    print(version_line())
    return 0


def _human_size(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB" if n >= 100_000 else f"{n / 1000:.1f} kB"


def cmd_backup(args: argparse.Namespace) -> int:
    """Online backup of the data directory's database to PATH (safe while the server runs and ingests)."""
    from datetime import UTC, datetime
    from pathlib import Path

    from leadvibe.backup import BackupError, backup_database, reserve_backup_path, save_key

    settings = _settings(args)
    dest = Path(args.path).expanduser()
    if args.path.endswith(("/", os.sep)) and not dest.exists():
        # A trailing slash names a directory (the nightly cron line's form): made on the first night, not taken
        # as the name of a file.
        try:
            dest.mkdir(mode=0o700, parents=True)
        except OSError as exc:
            print(f"leadvibe: backup failed: cannot create the directory {dest}: {exc.strerror}", file=sys.stderr)
            return 1
    reserved = dest.is_dir()
    if reserved:
        try:
            dest = reserve_backup_path(dest, datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"))
        except OSError as exc:
            print(f"leadvibe: backup failed: cannot create a file in {dest}: {exc.strerror}", file=sys.stderr)
            return 1
    try:
        result = backup_database(settings.db_path, dest)
    except BackupError as exc:
        if reserved:
            dest.unlink(missing_ok=True)  # the empty name it had taken
        print(f"leadvibe: backup failed: {exc}", file=sys.stderr)
        return 1
    print(f"backup written: {result.path} ({_human_size(result.size_bytes)}, {result.pages} pages) "
          f"in {result.seconds:.2f} s; integrity_check ok")
    if result.pending_events:
        print(f"it holds {result.pending_events} acknowledged events not scored yet; they are scored after a restore")
    # The database alone cannot verify existing API credentials: their digests are keyed by secret.key.
    if args.no_key:
        print(f"note: the key was left out (--no-key): keep a copy of {settings.data_path / 'secret.key'} "
              "yourself; without it the restored database refuses to start")
        return 0
    try:
        key = save_key(settings.data_path, result.path)
    except BackupError as exc:
        # The database is copied, but a restore of it would refuse: the command fails so a nightly job says so.
        print(f"leadvibe: backup incomplete: {exc}", file=sys.stderr)
        return 1
    if key is None:
        print(f"warning: {settings.data_path / 'secret.key'} is missing, so the backup has no key", file=sys.stderr)
    else:
        print(f"key written: {key} (mode 0600; keep it with the backup, it unlocks the accounts)")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Replace the data directory's database with the backup at PATH (refused while a server runs on it)."""
    from pathlib import Path

    from leadvibe.backup import BackupError, restore_database
    from leadvibe.db.lock import DataDirLocked

    settings = _settings(args)
    try:
        result = restore_database(Path(args.path).expanduser(), settings.data_path)
    except DataDirLocked as exc:
        print(f"leadvibe: restore refused: {exc}", file=sys.stderr)
        return 1
    except BackupError as exc:
        print(f"leadvibe: restore failed: {exc}", file=sys.stderr)
        return 1
    print(f"restored {args.path} into {result.db_path} ({_human_size(result.size_bytes)}, schema "
          f"{result.schema_version}) in {result.seconds:.2f} s; integrity_check ok")
    if result.moved_aside is not None:
        print(f"the previous database is kept at {result.moved_aside}")
    if result.inbox_moved_aside is not None:
        print(f"its inbox file (events it had not scored yet) is kept at {result.inbox_moved_aside}")
    if result.key is not None:
        print(f"secret.key restored from {args.path}.key")
    if not (settings.data_path / "secret.key").exists():
        print(f"warning: {settings.data_path / 'secret.key'} is missing: copy the original instance's "
              "secret.key there before starting the server, or existing API credentials will not verify",
              file=sys.stderr)
    return 0


@contextlib.contextmanager
def _stopped_server(args: argparse.Namespace, what: str, refusal: str, missing: str = "") -> Iterator[Runtime | int]:
    """A runtime over a stopped server's data directory (its lock held, the database open), or the exit code
    when there is no database or a server holds the directory (the message already printed)."""
    from leadvibe.db.lock import DataDirLock, DataDirLocked, DataDirUnusable
    from leadvibe.runtime_build import build_runtime

    settings = _settings(args)
    if not settings.db_path.exists():
        print(f"leadvibe: no database at {settings.db_path}{missing}", file=sys.stderr)
        yield 1
        return
    lock = DataDirLock(settings.data_path)
    try:
        lock.acquire()
    except DataDirLocked as exc:
        # What a running server does instead is said only when one is running (not for a lock file of another user).
        advice = "" if isinstance(exc, DataDirUnusable) else f". {refusal}"
        print(f"leadvibe: {what} refused: {exc}{advice}", file=sys.stderr)
        yield 1
        return
    from leadvibe.security.keys import SecretKeyUnusable

    try:
        try:
            rt = build_runtime(settings)
        except SecretKeyUnusable as exc:
            print(f"leadvibe: {what} refused: {exc}", file=sys.stderr)
            yield 1
            return
        rt.open_databases()
        try:
            yield rt
        finally:
            rt.close_databases()
    finally:
        lock.release()


def cmd_decay(args: argparse.Namespace) -> int:
    """`decay --now`: one decay pass over the data directory, for a server that is stopped (a running server's
    own scheduler applies decay every LEADVIBE_DECAY_INTERVAL seconds, and it owns the database)."""
    import asyncio
    import time

    from leadvibe.pipeline.decay import run_pass
    from leadvibe.pipeline.triggers import TriggerService

    if not args.now:
        print("leadvibe: decay needs --now (one pass now; the server's scheduler does it periodically)",
              file=sys.stderr)
        return 2
    # The running server's interval is its own environment's, which this command cannot see: named, not given.
    with _stopped_server(args, "decay", "The running server applies decay itself every LEADVIBE_DECAY_INTERVAL "
                         "seconds (its setting, 60 by default); let its scheduler do it.") as rt:
        if isinstance(rt, int):
            return rt
        rt.triggers = TriggerService()  # milestones re-arm when decay lowers a score
        started = time.perf_counter()
        result = asyncio.run(run_pass(rt, offline=True))  # nothing else writes: larger transactions
    print(f"decay pass: {result.applied} DECAY events recorded in {result.units} OUs with decay rules "
          f"in {time.perf_counter() - started:.2f} s")
    return 0


def cmd_reset_password(args: argparse.Namespace) -> int:
    """`reset-password EMAIL`: a new generated password for a member, printed once, for a stopped server (the first
    admin's generated password is printed only once, and nobody else may be able to set it in the dashboard)."""
    import secrets

    from leadvibe.security.passwords import hash_password
    from leadvibe.store import members as member_store

    with _stopped_server(args, "reset-password", "Stop it first (it owns the database), or have an admin set the "
                         "password in the dashboard (Settings, Members).") as rt:
        if isinstance(rt, int):
            return rt
        runtime = rt
        password = secrets.token_urlsafe(15)
        password_hash = hash_password(password)

        def reset(c: Any) -> str | None:
            member = member_store.member_for_login(c, args.email)
            if member is None:
                return None
            member_store.update_member(c, member["org_id"], member["id"],
                                       member_store.new_password_fields(password_hash, runtime.now_ms()),
                                       runtime.now_ms())
            return str(member["email"])

        email = runtime.db.write_blocking(reset)
    if email is None:
        print(f"leadvibe: reset-password: no member signs in as {args.email.strip()!r}", file=sys.stderr)
        return 1
    print(f"new password for {email}: {password}")
    print("(shown only once; sign in with it, then choose your own under Settings, Members)")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    """`seed`: load the demo OU's sample data into an OU of a stopped server's data directory and score it (a
    running server owns the database: use its `POST /admin/seed` instead)."""
    import asyncio

    from leadvibe.errors import ApiError
    from leadvibe.pipeline.sample_data import seed, settle
    from leadvibe.store.orgs import any_unit

    with _stopped_server(args, "seed", "A running server seeds with POST /admin/seed.",
                         " (start `leadvibe serve` once to create it)") as rt:
        if isinstance(rt, int):
            return rt
        runtime = rt
        unit = runtime.db.read_blocking(lambda c: any_unit(c, args.unit))
        if unit is None:
            print(f"leadvibe: no OU {args.unit!r} in this database", file=sys.stderr)
            return 1

        async def run() -> str:
            result = await seed(runtime, unit["org_id"], unit["id"], may_enable_abm=True)  # the machine's operator
            scored = await settle(runtime)
            return f"{result.output}\nscored {scored} events"

        try:
            print(asyncio.run(run()))
        except ApiError as exc:
            print(f"leadvibe: {exc.message}", file=sys.stderr)
            return 1
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Import a CSV of events into a running server (POST /import in parts, with a progress bar)."""
    from pathlib import Path

    import httpx

    from leadvibe.importer import ImportFailed, ImportInterrupted, run_import

    path = Path(args.file)
    if not path.is_file():
        print(f"leadvibe: {path} is a directory: give the CSV file itself" if path.is_dir()
              else f"leadvibe: {path} is not a regular file: give the CSV file itself" if path.exists()
              else f"leadvibe: no such file: {path}", file=sys.stderr)
        return 1
    if path.stat().st_size == 0:
        print(f"leadvibe: {path} is empty: a CSV of events starts with a header row (columns as POST /import)",
              file=sys.stderr)
        return 1
    client_id = args.client_id or os.environ.get("LEADVIBE_CLIENT_ID")
    secret = args.client_secret or os.environ.get("LEADVIBE_CLIENT_SECRET")
    if not client_id or not secret:
        print("leadvibe: give an API credential with --client-id/--client-secret or LEADVIBE_CLIENT_ID/"
              "LEADVIBE_CLIENT_SECRET (create one with POST /secrets)", file=sys.stderr)
        return 1
    settings = _settings(args)
    url = args.url or local_url(settings.host, settings.port)
    try:
        totals = run_import(path, url, httpx.BasicAuth(client_id, secret), {}, args.skip_triggers,
                            show_progress=not args.quiet, by_lead=args.by_lead)
    except ImportFailed as exc:
        print(f"leadvibe: {exc}", file=sys.stderr)
        return 130 if isinstance(exc, ImportInterrupted) else 1
    print(f"imported {totals.imported} events, {totals.duplicates} duplicates, {totals.errors} rows with errors")
    if totals.ignored_columns:
        print(f"columns not imported (no import column has these names): {', '.join(totals.ignored_columns)}")
    for row in totals.error_rows:
        print(f"  line {row['line']}: {row['error']}")
    return 0 if totals.errors == 0 else 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (every flag also reads its LEADVIBE_* variable)."""
    parser = argparse.ArgumentParser(prog="leadvibe", description="LeadVibe lead-engagement scoring server")
    parser.add_argument("--version", action="version", version=version_line())
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

    backup = sub.add_parser("backup", help="online backup of the database to PATH (server may be running)")
    backup.add_argument("path", metavar="PATH", help="backup file to write (atomically), or a directory")
    backup.add_argument("--no-key", dest="no_key", action="store_true",
                        help="do not write the instance key (secret.key) beside the backup as PATH.key")
    data_dir_flag(backup)
    backup.set_defaults(fn=cmd_backup)

    restore = sub.add_parser("restore", help="replace the database with the backup at PATH (server stopped)")
    restore.add_argument("path", metavar="PATH", help="a backup written by `leadvibe backup`")
    data_dir_flag(restore)
    restore.set_defaults(fn=cmd_restore)

    decay = sub.add_parser("decay", help="run one score decay pass now (server stopped)")
    decay.add_argument("--now", action="store_true", help="run the pass now (required)")
    data_dir_flag(decay)
    decay.set_defaults(fn=cmd_decay)

    seed = sub.add_parser("seed", help="load the demo OU's sample data (server stopped)")
    seed.add_argument("--unit", default="unit_default", help="the OU to seed (default unit_default)")
    data_dir_flag(seed)
    seed.set_defaults(fn=cmd_seed)

    imp = sub.add_parser("import", help="import a CSV of events into a running server")
    imp.add_argument("file", help="CSV file (header row; columns as POST /import)")
    imp.add_argument("--url", default=None, help="server URL (default http://LEADVIBE_HOST:LEADVIBE_PORT)")
    imp.add_argument("--client-id", dest="client_id", default=None, help="API client id (env LEADVIBE_CLIENT_ID)")
    imp.add_argument("--client-secret", dest="client_secret", default=None,
                     help="API client secret (env LEADVIBE_CLIENT_SECRET)")
    imp.add_argument("--skip-triggers", dest="skip_triggers", action="store_true",
                     help="score the events but fire no triggers")
    imp.add_argument("--by-lead", dest="by_lead", action="store_true",
                     help="send the rows grouped by lead_id (each lead's rows in file order): a large history scores"
                          " faster (about twice, into a million-lead OU); every row needs a lead_id")
    imp.add_argument("--quiet", action="store_true", help="no progress bar")
    imp.set_defaults(fn=cmd_import)

    reset = sub.add_parser("reset-password", help="give a member a new generated password, printed once (server "
                                                   "stopped)")
    reset.add_argument("email", metavar="EMAIL", help="the address the member signs in with")
    data_dir_flag(reset)
    reset.set_defaults(fn=cmd_reset_password)

    version = sub.add_parser("version", help="print the version")
    version.set_defaults(fn=cmd_version)
    for command in sub.choices.values():
        command.set_defaults(parser=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `leadvibe` console script (and of `python -m leadvibe` and the executable). Started by
    a server as its worker process, it runs that instead of a command (pipeline.worker_process)."""
    child = os.environ.pop(WORKER_CHILD_ENV, None)
    if child:
        # Ctrl-C in a terminal reaches the server's whole process group: the server stops, then closes the
        # worker's link, which ends it after its batch. Ignored first thing, before the imports.
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)
        from leadvibe.pipeline.worker_process import run_child

        return run_child(child)
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:
        # Said by the command's own parser: its usage lists what it takes (the program's lists the commands).
        args.parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    # Everything the appliance writes (the data directory, its databases and their WAL and shared-memory files,
    # backups, keys) holds password hashes, credential digests and every lead: its owner's only, as the systemd
    # unit's UMask=0077 makes it, also when run by hand.
    os.umask(0o077)
    import apsw

    from leadvibe.db.migrate import NewerSchema

    try:
        return int(args.fn(args) or 0)
    except DatabaseUnusable as exc:
        print(f"leadvibe: {exc}", file=sys.stderr)
    except (apsw.Error, NewerSchema) as exc:
        # A command that opens the database itself (decay, seed) on one it cannot use: read-only, damaged.
        print(f"leadvibe: {args.command}: cannot use the database in {_settings(args).data_path}: {exc}",
              file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
