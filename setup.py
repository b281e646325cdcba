"""Build hook: the packages that pyproject.toml's ``packages.find`` finds, plus the migrations.

The migration scripts live in the top-level ``alembic/`` folder (``env.py``, ``script.py.mako``, ``versions/``).
They ship inside the wheel as the data package ``muster_migrations`` (mapped onto ``alembic/`` by
``[tool.setuptools.package-dir]``), so an installed Muster runs ``muster db upgrade`` without a checkout.
``packages.find`` cannot see a package whose folder has another name, hence this file.
"""

from setuptools import find_packages, setup

PACKAGES = find_packages(include=["engine*", "admin_ui*", "connectors*", "policies*"])

setup(packages=[*PACKAGES, "muster_migrations", "muster_migrations.versions"])
