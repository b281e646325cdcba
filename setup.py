"""Build hook: the packages that pyproject.toml's ``packages.find`` finds, plus the migrations.

The migration scripts live in the top-level ``alembic/`` folder (``env.py``, ``script.py.mako``, ``versions/``).
They ship inside the wheel as the data package ``muster_migrations`` (mapped onto ``alembic/`` by
``[tool.setuptools.package-dir]``), so an installed Muster runs ``muster db upgrade`` without a checkout.
``packages.find`` cannot see a package whose folder has another name, hence this file.

A build starts from an empty ``build/lib``: setuptools copies what is there into the wheel, so a module deleted
from the checkout would otherwise ship again from the previous build of the same checkout.
"""

import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

PACKAGES = find_packages(include=["engine*", "admin_ui*", "connectors*", "policies*"])


class FreshBuildPy(build_py):
    """``build_py`` into an emptied build folder, so the wheel holds exactly the checkout's modules."""

    def run(self) -> None:
        if not self.editable_mode and Path(self.build_lib).is_dir():
            shutil.rmtree(self.build_lib)
        super().run()


setup(
    packages=[*PACKAGES, "muster_migrations", "muster_migrations.versions"],
    cmdclass={"build_py": FreshBuildPy},
)
