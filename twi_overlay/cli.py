"""`twi-overlay serve|home|migrate|token|maintenance|subscriptions|backup`. Errors go to stderr, with a
non-zero exit."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from twi_overlay.config import ConfigError, Settings, home_environ, home_problems, load_settings, read_env_file
from twi_overlay.ops.logs import setup_logging

log = logging.getLogger("twi_overlay")


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        _refuse(exc.problems)


def _refuse(problems: list[str]) -> NoReturn:
    for line in problems:
        print(f"config error: {line}", file=sys.stderr)
    raise SystemExit(2)


def _load_env_file(path: str | None) -> None:
    """--env-file: its values for every variable the environment does not set already."""
    if not path:
        return
    file = Path(path)
    try:
        found = read_env_file(file)
    except (OSError, ValueError) as exc:
        _refuse([f"--env-file: {exc}"])
    if os.name == "posix" and file.stat().st_mode & 0o077:
        print(f"warning: {file} holds secrets and others can read it (chmod 600 it)", file=sys.stderr)
    for key, value in found.items():
        os.environ.setdefault(key, value)


def _logging(settings: Settings) -> None:
    setup_logging(settings.log_level, json=settings.production)
    for warning in settings.warnings:
        log.warning(warning)


def cmd_home(args: argparse.Namespace) -> int:
    """`serve` as a home set-up: production, conduit transport, this PC only (config.home_environ)."""
    if args.host:
        os.environ["HOST"] = args.host
    if args.port is not None:
        os.environ["PORT"] = str(args.port)  # so the derived http://localhost:PORT matches
    given = dict(os.environ)
    env = home_environ(given)
    problems = home_problems(given, env)
    if problems:
        _refuse(problems)
    os.environ.update(env)
    return cmd_serve(args)


def cmd_serve(args: argparse.Namespace) -> int:
    from twi_overlay.app import create_app

    settings = _settings()
    _logging(settings)
    host = args.host or settings.host
    port = args.port if args.port is not None else settings.port
    app = create_app(settings)

    def ready() -> None:
        base = settings.base_url
        print(f"twi-overlay {settings.app_env} listening on http://{host}:{port}", flush=True)
        print(
            f"  admin page:   {base}/admin/"
            + ("   (development login: /_debug/login)" if settings.development else ""),
            flush=True,
        )
        print(f"  overlay page: {base}/overlay/#key=<overlay key from the admin page>", flush=True)
        print(f"  webhook:      {base}/eventsub/webhook   health: {base}/healthz", flush=True)
        print(f"  metrics:      http://{host}:{port}/metrics (scrape locally; nginx keeps it internal)", flush=True)

    asyncio.run(serve(app, host, port, settings.shutdown_timeout_secs, ready))
    return 0


async def serve(app: Any, host: str, port: int, shutdown_timeout: float, ready: Callable[[], None]) -> None:
    """Run the app until SIGTERM or SIGINT, then shut down gracefully, once.

    Not aiohttp's run_app: its signal handler raises on every signal, so a second SIGTERM arriving
    during the graceful shutdown (make forwards one to its child right after the process group got
    one) aborted the cleanup contexts half-way; the database threads were never closed and the process
    hung at exit for good. Here a signal only sets an event: the first starts the shutdown, later ones
    change nothing, and every cleanup context runs to its end."""
    from aiohttp import web

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(signame: str) -> None:
        if stop.is_set():
            log.info("already shutting down", extra={"signal": signame})
        stop.set()

    remove_handlers = stop_signals(loop, on_signal)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    try:
        await runner.setup()  # start-up: every cleanup context up to its yield
        if not stop.is_set():  # a signal during start-up: skip straight to the shutdown
            await web.TCPSite(runner, host, port).start()
            ready()
            await stop.wait()
        log.info("shutting down")
    finally:
        await runner.cleanup()
        remove_handlers()
    log.info("stopped")


def stop_signals(loop: asyncio.AbstractEventLoop, on_signal: Callable[[str], None]) -> Callable[[], None]:
    """Call on_signal(name) on SIGTERM and SIGINT, in the loop; returns what undoes it. Windows' event
    loop has no add_signal_handler: there a plain signal handler hands the signal to the loop (Ctrl+C is
    SIGINT; closing the console window is SIGBREAK)."""
    names = [name for name in ("SIGTERM", "SIGINT", "SIGBREAK") if hasattr(signal, name)]
    try:
        for name in names:
            loop.add_signal_handler(getattr(signal, name), on_signal, name)
    except NotImplementedError:

        def handler(signum: int, _frame: Any) -> None:
            loop.call_soon_threadsafe(on_signal, signal.Signals(signum).name)

        previous = {name: signal.signal(getattr(signal, name), handler) for name in names}

        def restore() -> None:
            for name, handler in previous.items():
                signal.signal(getattr(signal, name), handler)

        return restore

    def remove() -> None:
        for name in names:
            loop.remove_signal_handler(getattr(signal, name))

    return remove


def cmd_migrate(args: argparse.Namespace) -> int:
    from twi_overlay.store.migrate import migrate

    settings = _settings()
    _logging(settings)
    applied = migrate(settings.database_path)
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from twi_overlay.web.auth import mint_token

    settings = _settings()
    token, _exp = mint_token(settings.sse_token_signing_key, args.aud, args.sub, args.ttl)
    print(token)
    return 0


def cmd_maintenance(args: argparse.Namespace) -> int:
    import orjson

    from twi_overlay.ops.jobs import maintenance
    from twi_overlay.store.database import Database
    from twi_overlay.store.migrate import migrate

    settings = _settings()
    _logging(settings)
    migrate(settings.database_path)

    async def run() -> dict[str, object]:
        db = Database(settings.database_path)
        await db.open()
        try:
            return await maintenance(db, settings.retention_hours)
        finally:
            await db.close()

    print(orjson.dumps(asyncio.run(run())).decode())
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from twi_overlay.store.sqlite import backup

    settings = _settings()
    dest = Path(args.dest)
    if dest.exists():
        print(f"backup: {dest} already exists", file=sys.stderr)
        return 1
    if not Path(settings.database_path).exists():
        print(f"backup: no database at {settings.database_path}", file=sys.stderr)
        return 1
    ok = backup(settings.database_path, str(dest))
    if ok != "ok":
        print(f"backup: integrity check failed: {ok}", file=sys.stderr)
        return 1
    print(str(dest))
    return 0


def cmd_subscriptions(args: argparse.Namespace) -> int:
    from twi_overlay.store.database import Database
    from twi_overlay.store.migrate import migrate
    from twi_overlay.twitch.client import Twitch, TwitchError
    from twi_overlay.twitch.subscriptions import diff, reconcile

    settings = _settings()
    _logging(settings)
    if not settings.twitch_configured:
        print("subscriptions: TWITCH_CLIENT_ID and TWITCH_CLIENT_SECRET are not set", file=sys.stderr)
        return 2
    migrate(settings.database_path)

    async def run() -> int:
        db = Database(settings.database_path)
        await db.open()
        twitch = Twitch(settings, db)
        try:
            if args.apply:
                done = await reconcile(db, twitch)
                print(f"created {done['created']}, deleted {done['deleted']}")
            found = await diff(db, twitch)
        except TwitchError as exc:
            print(f"subscriptions: Twitch answered {exc.status}: {exc.message}", file=sys.stderr)
            return 2
        finally:
            await twitch.close()
            await db.close()
        for m in found["missing"]:
            print(f"missing: {m['type']} v{m['version']} broadcaster {m['condition']['broadcaster_user_id']}")
        for st in found["stale"]:
            print(f"stale:   {st['type']} {st['id']} ({st.get('status')})")
        enabled = sum(1 for x in found["actual"] if x.get("status") == "enabled")
        print(
            f"{len(found['desired'])} desired, {enabled} enabled: "
            f"{len(found['missing'])} missing, {len(found['stale'])} stale"
        )
        return 0 if not found["missing"] and not found["stale"] else 1

    return asyncio.run(run())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="twi-overlay", description=__doc__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env-file", help="KEY=VALUE lines read first; the environment wins where both set a variable")
    sub = parser.add_subparsers(dest="command")

    def command(name: str, help: str) -> argparse.ArgumentParser:  # noqa: A002 - argparse's own word
        return sub.add_parser(name, help=help, parents=[common])

    serve = command("serve", "migrate if needed, then serve (default)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=cmd_serve)
    home = command("home", "serve on this PC: production, EventSub over a conduit, http://localhost only")
    home.add_argument("--host")
    home.add_argument("--port", type=int)
    home.set_defaults(func=cmd_home)
    command("migrate", "apply pending migrations").set_defaults(func=cmd_migrate)
    token = command("token", "print a short-lived SSE/API token")
    token.add_argument("--aud", required=True, choices=["overlay", "admin"])
    token.add_argument("--sub", required=True, help="broadcaster id")
    token.add_argument("--ttl", type=int, default=300, help="seconds (default 300)")
    token.set_defaults(func=cmd_token)
    command("maintenance", "run TTL + checkpoint now").set_defaults(func=cmd_maintenance)
    subs = command("subscriptions", "EventSub desired vs actual; exit 0 when no difference")
    subs.add_argument("--apply", action="store_true", help="create missing and delete stale subscriptions first")
    subs.set_defaults(func=cmd_subscriptions)
    backup = command("backup", "online backup through SQLite's backup API")
    backup.add_argument("dest")
    backup.set_defaults(func=cmd_backup)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["serve", *(argv or [])])
    _load_env_file(args.env_file)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
