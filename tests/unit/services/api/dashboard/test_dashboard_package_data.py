"""The templates and static files ship in the package (pyproject's package data), with
their licences: the dashboard has no build step on the user's machine."""

from __future__ import annotations

import tomllib
from pathlib import Path

from services.api.dashboard.render import HERE, STATIC

PYPROJECT = Path(__file__).resolve().parents[5] / "pyproject.toml"


def test_every_template_and_static_file_is_package_data() -> None:
    config = tomllib.loads(PYPROJECT.read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["services.api.dashboard"]
    files = {p.relative_to(HERE).as_posix() for p in HERE.rglob("*") if p.is_file()}
    needed = {f for f in files if not f.endswith((".py", ".pyc")) and "__pycache__" not in f}
    globbed = {p.relative_to(HERE).as_posix() for g in patterns for p in HERE.glob(g)}
    assert needed
    assert needed - globbed == set()  # the globs as setuptools reads them: * stops at /


def test_every_vendored_library_has_its_licence_and_is_listed() -> None:
    readme = (STATIC / "vendor" / "README.md").read_text()
    for folder in (p for p in (STATIC / "vendor").iterdir() if p.is_dir()):
        assert (folder / "LICENSE").is_file(), folder.name
        assert f"| {folder.name}/ |" in readme, folder.name
