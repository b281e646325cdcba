"""Running Alembic from code: ``muster db upgrade``, readiness's schema check and the demo's preparation.

Where it sits: below :mod:`engine.cli.main`, :mod:`engine.api.routes.health` and :mod:`engine.demo.main`. The
migration scripts live in the checkout's top-level ``alembic/`` folder (``env.py``, ``script.py.mako``,
``versions/``) and ship inside the wheel as the data package ``muster_migrations`` (``pyproject.toml`` maps it
onto ``alembic/``), so an installed wheel migrates its database without a source checkout; no ``alembic.ini`` is
needed (the checkout's ``alembic.ini`` points the ``alembic`` command at the same folder). ``env.py`` reads
the database URL from the settings, or from the connection handed over in ``config.attributes`` (used here so
a caller's explicit :class:`~engine.settings.Settings` win over the environment).

Stable interface: :func:`alembic_config`, :func:`upgrade_head`, :func:`stamp_head`, :func:`head_revision`,
:func:`schema_state` and :data:`UPGRADE_HINT`, the one sentence every entry point prints for an unmigrated
database.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from engine.settings import Settings
from engine.store.unit_of_work import get_engine

#: The checkout's migration folder, used when the ``muster_migrations`` data package is not installed.
CHECKOUT_SCRIPTS_DIR = Path(__file__).resolve().parents[2] / "alembic"
#: What to do about a database whose schema is missing or behind the code.
UPGRADE_HINT = "the database schema is missing or out of date: run `muster db upgrade`"


def scripts_dir() -> Path:
    """The folder holding ``env.py`` and ``versions/``: the installed ``muster_migrations`` package (the wheel's
    copy, or the checkout's ``alembic/`` through an editable install), else the checkout's ``alembic/``."""
    candidates: list[Path] = []
    try:
        import muster_migrations
    except ImportError:
        pass
    else:
        candidates.extend(Path(entry) for entry in muster_migrations.__path__)
    candidates.append(CHECKOUT_SCRIPTS_DIR)
    for candidate in candidates:
        if (candidate / "env.py").is_file() and (candidate / "versions").is_dir():
            return candidate
    raise RuntimeError(f"the migration scripts are missing (looked in {', '.join(map(str, candidates))})")


SCRIPTS_DIR = scripts_dir()


def alembic_config() -> Config:
    """An Alembic config on the packaged scripts (no ini file; logging is left to Muster)."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS_DIR))
    config.set_main_option("path_separator", "os")
    return config


def head_revision() -> str | None:
    """The newest migration this build ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@dataclass(frozen=True)
class SchemaState:
    """The database's migration revision against this build's head.

    ``current``: at head. ``ahead``: at a revision this build does not know, i.e. migrated by a newer
    release during a rolling upgrade (this build keeps working: migrations are additive). ``behind``:
    no revision, or an older one this build knows: run ``muster db upgrade``.
    """

    revision: str | None
    head: str | None
    known: bool

    @property
    def current(self) -> bool:
        return self.revision is not None and self.revision == self.head

    @property
    def ahead(self) -> bool:
        return self.revision is not None and not self.known

    @property
    def behind(self) -> bool:
        return not self.current and not self.ahead


def schema_state(engine: Engine) -> SchemaState:
    """Read ``alembic_version`` (raises ``SQLAlchemyError`` when the database cannot be reached)."""
    with engine.connect() as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
    scripts = ScriptDirectory.from_config(alembic_config())
    known = revision is not None and any(s.revision == revision for s in scripts.walk_revisions())
    return SchemaState(revision=revision, head=scripts.get_current_head(), known=known)


def upgrade_head(settings: Settings | None = None) -> None:
    """Apply every pending migration. With ``settings``, on that database; else on the configured one
    (taking the PostgreSQL migration lock in ``alembic/env.py``)."""
    config = alembic_config()
    if settings is None:
        command.upgrade(config, "head")
        return
    with get_engine(settings).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def stamp_head(settings: Settings) -> None:
    """Record that the database (created from the models) is at the latest migration."""
    stamp_head_on(get_engine(settings))


def stamp_head_on(engine: Engine) -> None:
    """:func:`stamp_head` on an engine (benchmarks and tests that build the schema from the models)."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.stamp(config, "head")


#: SQLSTATEs of a missing table or column (PostgreSQL); SQLite says it in words.
_SCHEMA_SQLSTATES = frozenset({"42P01", "42703"})
_SQLITE_SCHEMA_WORDS = ("no such table", "no such column", "has no column named")


def is_schema_error(exc: BaseException) -> bool:
    """True when ``exc`` (a SQLAlchemy error) says a table or column is missing: an unmigrated database."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in _SCHEMA_SQLSTATES:
        return True
    text = str(orig if orig is not None else exc).lower()
    return any(words in text for words in _SQLITE_SCHEMA_WORDS)
