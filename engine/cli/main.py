"""The ``muster`` command line: database, web server, worker, demo, tenants, reconcile, emulator.

Where it sits: the process entry point (``[project.scripts] muster = "engine.cli.main:main"``). Commands load
the settings once (:func:`engine.settings.get_settings`) and call into the engine; they hold no logic of
their own. :func:`main` turns every expected failure into a one-line message and an exit code, never a
traceback: configuration errors and bad command-line input exit 2, other failures exit 1.

More commands: a module in :mod:`engine.cli` that defines ``register(group: click.Group)`` is
picked up automatically (e.g. ``muster check``, ``muster user ...``).
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import dramatiq
import redis
from sqlalchemy.exc import SQLAlchemyError

from engine import version
from engine.settings import ConfigError, Settings, get_settings, log_format_from_env

log = logging.getLogger(__name__)

#: Exit status for configuration and usage errors (as click uses for usage errors).
EXIT_CONFIG = 2
EXIT_FAILURE = 1
#: Exit status after Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130


class CommandError(click.ClickException):
    """A command failed for a reason the user can act on; the message says what to do."""

    exit_code = EXIT_FAILURE


def _settings() -> Settings:
    return get_settings()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("-v", "--verbose", is_flag=True, help="Log more (INFO and above).")
@click.version_option(version(), "-V", "--version", prog_name="muster", message="%(prog)s %(version)s")
def cli(verbose: bool) -> None:
    """Muster keeps Google Calendar in step with a learning platform's live sessions.

    Configuration comes from MUSTER_* environment variables (see README.md). Start with `muster demo`.
    """
    from engine.runtime import logs

    logs.configure(log_format_from_env(), logging.INFO if verbose else logging.WARNING)


@cli.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all pending migrations to MUSTER_DATABASE_URL (alembic upgrade head)."""
    from engine.store.migrations import upgrade_head

    settings = _settings()
    upgrade_head()
    click.echo(f"Database schema is up to date ({_redacted(settings.database_url)}).")


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Web server processes, one per core (needs MUSTER_REDIS_URL when more than one); each has its own "
    "socket on the port (SO_REUSEPORT), so keep-alive connections spread over all of them.",
)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the REST API (/v1, docs at /docs) and the admin UI (/admin) with uvicorn."""
    import uvicorn

    settings = _settings()
    if workers > 1 and settings.embedded_worker:
        raise click.UsageError(
            "--workers > 1 needs MUSTER_REDIS_URL: the embedded worker runs in one process"
        )
    from engine.runtime import metrics

    options: dict[str, Any] = {
        "proxy_headers": True,
        "log_level": "info",
        "log_config": None,  # uvicorn's loggers go through Muster's handler (MUSTER_LOG_FORMAT)
    }
    click.echo(f"Muster on http://{host}:{port}/ (API docs /docs, admin UI /admin/, metrics /metrics)")
    with metrics.command_folder(settings.metrics_dir):  # the web processes add up their metrics
        if workers == 1:
            uvicorn.run("admin_ui.web:create_web_app", factory=True, host=host, port=port, **options)
            return
        from engine.runtime import web_processes

        try:
            web_processes.run(host, port, workers, options)
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port "
                               "or stop what uses it") from None


@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
def worker(ctx: click.Context) -> None:
    """Run a sync worker: consumes reconcile tasks from Redis (MUSTER_REDIS_URL) until stopped.

    Run several on several machines; extra arguments are passed to the worker.
    """
    from engine.runtime.worker import run

    code = run(_settings(), list(ctx.args))
    if isinstance(code, int) and code:
        raise CommandError(f"a worker process exited with status {code}; see the log above")


@cli.command()
@click.option(
    "--var-dir",
    default=Path("var/demo"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the demo keeps its SQLite file.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface for the web app.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Web app port.")
@click.option(
    "--emulator-port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port of the Google emulator (0: any free port).",
)
@click.option(
    "--exit-after-seed",
    "--no-serve",
    "exit_after_seed",
    is_flag=True,
    help="Seed everything, print the summary and exit instead of serving.",
)
@click.option(
    "--suspend",
    "suspend_email",
    default=None,
    metavar="EMAIL",
    help="Suspend this organizer in the emulator once synced and show the transfer of their sessions "
    "(e.g. ken.allen5@acme.example; see docs/organizer-lifecycle.md).",
)
def demo(var_dir: Path, host: str, port: int, emulator_port: int, exit_after_seed: bool,
         suspend_email: str | None = None) -> None:
    """Run Muster with the Google emulator and the sample customer (SQLite, in-process worker).

    Starts the emulator seeded from ../shared/data/acme-workspace.json, creates the tenant from
    acme-catalog.json, ingests its sessions through the REST API, then serves until Ctrl-C.
    """
    from engine.demo.context import DemoContext, DemoError
    from engine.demo.main import run

    ctx = DemoContext(var_dir=var_dir, host=host, port=port, emulator_port=emulator_port, echo=click.echo,
                      suspend_email=suspend_email)
    try:
        run(ctx, exit_after_seed=exit_after_seed)
    except DemoError as exc:
        raise CommandError(str(exc)) from None


@cli.group()
def tenant() -> None:
    """Create and list tenants (customer workspaces)."""


@tenant.command("create")
@click.option("--slug", required=True, help="Short unique name, e.g. acme.")
@click.option("--name", required=True, help="Display name, e.g. 'Acme Learning'.")
@click.option("--domain", default=None, help="The customer's Google Workspace domain, e.g. acme.example.")
@click.option(
    "--mode",
    type=click.Choice(["vendor", "delegation"]),
    default="vendor",
    show_default=True,
    help="vendor: Muster's own accounts own events; delegation: Muster acts as each organizer.",
)
@click.option(
    "--vendor-owner",
    "vendor_owners",
    multiple=True,
    metavar="EMAIL",
    help="A vendor-owned calendar account that owns events (repeat for a pool). Vendor mode.",
)
@click.option(
    "--delegation-method",
    type=click.Choice(["oauth", "domain_wide"]),
    default=None,
    help="Delegation mode: each organizer's consent (oauth, the default) or the customer's domain-wide delegation.",
)
@click.option("--directory-admin", default=None, metavar="EMAIL",
              help="Delegation mode: the customer's Workspace admin for rooms, the Directory scan and Data Transfer.")
@click.option("--fallback-owner", default=None, metavar="EMAIL",
              help="Inherits events when an organizer leaves and no co-host can.")
@click.option("--admin", "admin_email", default=None, metavar="EMAIL",
              help="The first admin: prints a one-time sign-in link (or, with --admin-password-prompt, asks for "
              "a password).")
@click.option("--admin-password-prompt", is_flag=True, help="Ask for the first admin's password instead of a link.")
@click.option("--admin-password-stdin", is_flag=True, help="Read the first admin's password from standard input.")
@click.option("--key-name", default="default", show_default=True, metavar="NAME",
              help="A label for the first API key (`muster tenant key --name NAME --replace` rotates it).")
def tenant_create(slug: str, name: str, domain: str | None, mode: str, vendor_owners: Sequence[str],
                  delegation_method: str | None = None, directory_admin: str | None = None,
                  fallback_owner: str | None = None, admin_email: str | None = None,
                  admin_password_prompt: bool = False, admin_password_stdin: bool = False,
                  key_name: str = "default") -> None:
    """Create a tenant and print its first REST API key (shown once), optionally with its first admin."""
    from engine.cli.user import grant_and_welcome, read_password

    if (admin_password_prompt or admin_password_stdin) and not admin_email:
        raise click.UsageError("--admin-password-prompt/--admin-password-stdin need --admin EMAIL")
    if admin_email:
        from engine.api.schemas import normalize_email

        try:
            normalize_email(admin_email)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--admin") from None
    password = read_password(admin_password_stdin) if admin_email and (
        admin_password_prompt or admin_password_stdin) else None
    setup = {k: v for k, v in (("delegation_method", delegation_method), ("directory_admin_email", directory_admin),
                               ("fallback_owner_email", fallback_owner)) if v is not None}
    from engine.ingest.tenants import TenantError, create_tenant, issue_api_key
    from engine.store.unit_of_work import get_engine, unit_of_work

    settings = _settings()
    from engine.admin.tenant_setup import SetupError, configure

    try:
        with unit_of_work(get_engine(settings)) as uow:
            created = create_tenant(
                db=uow.db, slug=slug, name=name, domain=domain, mode=mode, vendor_owners=vendor_owners
            )
            if setup:
                configure(uow, created, setup, actor="cli",
                          allow_loopback_webhooks=settings.webhooks_allow_loopback)
            key = issue_api_key(db=uow.db, tenant_id=created.id, name=key_name.strip()[:100] or "default")
            tenant_id, tenant_slug = created.id, created.slug
    except TenantError as exc:
        raise click.BadParameter(str(exc).split(": ", 1)[1], param_hint=f"--{exc.field}") from None
    except SetupError as exc:
        raise click.BadParameter(
            exc.message, param_hint="--" + exc.field.removesuffix("_email").replace("_", "-")
        ) from None
    click.echo(f"Created tenant {tenant_slug} ({tenant_id}), {mode} mode.")
    if setup.get("directory_admin_email"):
        _check_directory_admin(settings, tenant_id)
    if mode == "vendor" and not vendor_owners:
        click.echo(
            "Note: no --vendor-owner given; vendor mode needs at least one owner account before events "
            "can sync.",
            err=True,
        )
    click.echo("API key (shown once, store it now):")
    click.echo(key)
    if admin_email:
        _created, url = grant_and_welcome(tenant_slug=tenant_slug, email=admin_email, role="admin",
                                          display_name=None, password=password, actor="cli")
        if url:
            click.echo(f"First admin {admin_email.strip().lower()}: one-time sign-in link (valid for three days):")
            click.echo(url)
        else:
            click.echo(f"First admin {admin_email.strip().lower()}: password set; sign in at /admin/.")


def _check_directory_admin(settings: Settings, tenant_id: uuid.UUID) -> None:
    """The live check of a Directory admin just saved (after the commit), printed as ``muster tenant set`` does."""
    from sqlmodel import Session

    from engine.admin.tenant_setup import check_directory_admin
    from engine.cli.tenant_setup import print_steps
    from engine.runtime.wiring import probe_kit
    from engine.store.unit_of_work import get_engine

    with Session(get_engine(settings)) as db:
        steps = check_directory_admin(db, tenant_id, settings, kit=probe_kit(settings))
    if steps:
        click.echo("Directory admin check (run again with `muster tenant set --directory-admin` or `muster check`):")
        print_steps(steps)


@tenant.command("list")
def tenant_list() -> None:
    """List tenants: slug, mode, domain, name."""
    from sqlmodel import Session, select

    from engine.store.models import Tenant
    from engine.store.unit_of_work import get_engine

    with Session(get_engine(_settings())) as session:
        rows = session.exec(select(Tenant).order_by(Tenant.slug)).all()
    if not rows:
        click.echo("No tenants yet; create one with `muster tenant create --slug ... --name ...`.")
    for row in rows:
        click.echo(f"{row.slug}\t{row.integration_mode}\t{row.google_domain or '-'}\t{row.name}")


@cli.command()
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.option(
    "--seed",
    default=None,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A workspace JSON file to load, e.g. ../shared/data/acme-workspace.json.",
)
def emulator(port: int, seed: Path | None) -> None:
    """Run the Google Workspace emulator (Calendar, Directory, tokens) on 127.0.0.1 until Ctrl-C."""
    from connectors.google_emulator.server import run_standalone

    try:
        run_standalone(port, seed)
    except ValueError as exc:  # the seed loader's SeedError
        raise click.BadParameter(str(exc), param_hint="--seed") from None


def _register_extensions(group: click.Group) -> None:
    """Add the commands of every :mod:`engine.cli` module that has ``register(group)``."""
    try:
        package = importlib.import_module("engine.cli")
    except ModuleNotFoundError:
        return
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name == "main":
            continue
        module = importlib.import_module(f"engine.cli.{info.name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(group)


_register_extensions(cli)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the command; expected failures print one message and exit non-zero."""
    try:
        code = cli.main(
            args=list(argv) if argv is not None else None, prog_name="muster", standalone_mode=False
        )
    except ConfigError as exc:
        click.echo(f"Configuration error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("Stopped.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except (redis.RedisError, dramatiq.errors.BrokerConnectionError) as exc:
        log.debug("redis error", exc_info=True)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        url = os.environ.get("MUSTER_REDIS_URL", "")
        where = f" at {_redacted(url)}" if url else ""
        click.echo(
            f"Redis error: cannot reach Redis{where} ({reason}); start Redis or correct MUSTER_REDIS_URL",
            err=True,
        )
        sys.exit(EXIT_FAILURE)
    except SQLAlchemyError as exc:
        log.debug("database error", exc_info=True)
        click.echo(
            f"Database error: {str(exc).splitlines()[0]}\nCheck MUSTER_DATABASE_URL and run "
            "`muster db upgrade` if the schema is missing or old.",
            err=True,
        )
        sys.exit(EXIT_FAILURE)
    sys.exit(code if isinstance(code, int) else 0)
