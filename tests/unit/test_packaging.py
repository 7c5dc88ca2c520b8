"""The package lists every folder of code and carries the templates (pyproject.toml)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from orchestrator.templatefiles import TEMPLATES

ROOT = Path(__file__).resolve().parents[2]


def _setuptools() -> dict[str, Any]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return dict(config["tool"]["setuptools"])


def test_every_folder_of_code_is_a_listed_package() -> None:
    on_disk = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "orchestrator").rglob("__init__.py")
    }
    listed = set(_setuptools()["packages"])
    templates = {
        "orchestrator.templates",
        "orchestrator.templates.init",
        "orchestrator.templates.repo",
    }
    assert listed == on_disk | templates


def test_the_templates_folder_is_mapped_into_the_package() -> None:
    setuptools = _setuptools()
    assert setuptools["package-dir"] == {"orchestrator.templates": "templates"}
    assert TEMPLATES == ROOT / "templates"
    carried = setuptools["package-data"]
    assert carried == {
        "orchestrator.templates": ["*.j2"],
        "orchestrator.templates.init": ["*.j2"],
        "orchestrator.templates.repo": ["*"],
    }
    assert {p.suffix for p in TEMPLATES.iterdir() if p.is_file()} == {".j2", ".py"}
    assert {p.suffix for p in (TEMPLATES / "init").iterdir()} == {".j2"}
    folders = {p.name for p in TEMPLATES.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders == {"init", "repo"}


def test_the_license_is_an_spdx_string() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["project"]["license"] == "Apache-2.0"
