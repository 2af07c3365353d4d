"""The wheel installs every package of the source tree, under the keyraft namespace."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("app", "raft", "storage", "ctl")


def test_every_source_package_is_installed_under_the_namespace() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert config["package-dir"] == {"keyraft": "."}
    found = {
        "keyraft." + ".".join(init.parent.relative_to(ROOT).parts)
        for folder in FOLDERS
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert set(config["packages"]) == found


def test_the_entry_points_name_namespaced_modules() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {
        "keyraft": "keyraft.app.main:main",
        "keyraftctl": "keyraft.ctl.main:main",
    }
