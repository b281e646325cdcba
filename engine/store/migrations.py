"""Running Alembic from code: ``muster db upgrade`` and the demo's database preparation.

Where it sits: below :mod:`engine.cli.main` and :mod:`engine.demo.main`. The migration scripts live in
``<repo>/alembic`` (configured by ``<repo>/alembic.ini``); ``alembic/env.py`` reads the database URL
from the settings, or from the connection handed over in ``config.attributes`` (used here so a caller's
explicit :class:`~engine.settings.Settings` win over the environment).
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config

from alembic import command
from engine.settings import ConfigError, Settings
from engine.store.unit_of_work import get_engine

REPO_ROOT = Path(__file__).resolve().parents[2]
ALEMBIC_INI = REPO_ROOT / "alembic.ini"


def alembic_config() -> Config:
    if not ALEMBIC_INI.is_file():
        raise ConfigError(
            "alembic.ini",
            f"not found at {ALEMBIC_INI}",
            "run Muster from its source checkout (the migrations live in ./alembic)",
        )
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(REPO_ROOT / "alembic"))
    return config


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
    config = alembic_config()
    with get_engine(settings).begin() as connection:
        config.attributes["connection"] = connection
        command.stamp(config, "head")
