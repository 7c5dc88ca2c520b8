"""Checking the Python distributions: ``pip`` installs the release's from the index.

A throwaway virtual environment (no pip of its own: this process's pip installs into it
with ``--python``) gets ``NAME==VERSION`` from the index's simple pages, with nothing
from anywhere else (``--index-url``, ``--no-deps``); then its own Python must report
that version of the distribution. The environment is removed afterwards.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from orchestrator.errors import TagError
from orchestrator.verify.table import CheckResult
from orchestrator.version import parse_tag, python_version

INSTALL_TIMEOUT = 300.0


def pep440_of_package(version: str) -> str | None:
    """The PEP 440 form of a package version (``1.3.0~rc.1`` -> ``1.3.0rc1``); None if none."""
    core, _, prerelease = version.partition("~")
    if prerelease.startswith("nightly."):
        return f"{core}.dev{prerelease.removeprefix('nightly.').replace('.', '')}"
    try:
        release = parse_tag(f"v{core}" + (f"-{prerelease}" if prerelease else ""))
    except TagError:
        return None
    return python_version(release)


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        errors="replace",
        stdin=subprocess.DEVNULL,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )


def check_python(name: str, simple_url: str, version: str | None) -> CheckResult:
    """Install ``name`` (at the PEP 440 form of ``version``, else the newest) from the index."""
    wanted = pep440_of_package(version) if version else None
    if version and wanted is None:
        return CheckResult(simple_url, "pip", "-", "any", False, f"{version} has no PEP 440 form")
    requirement = f"{name}=={wanted}" if wanted else name
    with tempfile.TemporaryDirectory(prefix="relorch-pip-") as directory:
        venv = Path(directory) / "venv"
        made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
        python = str(venv / "bin" / "python")
        install = [
            sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps",
            "--no-cache-dir", "--disable-pip-version-check", "--index-url", simple_url,
            requirement,
        ]  # fmt: skip
        installed = made if made.returncode else _run(install)
        if installed.returncode:
            said = (installed.stderr.strip() or installed.stdout.strip()).splitlines()
            detail = f"pip install {requirement}: {(said or ['failed'])[-1][:200]}"
            return CheckResult(simple_url, "pip", wanted or "-", "any", False, detail)
        asked = _run([python, "-c", f"import importlib.metadata as m; print(m.version({name!r}))"])
    got = asked.stdout.strip()
    ok = asked.returncode == 0 and (wanted is None or got == wanted)
    detail = f"installed {name} {got}" if ok else f"{name} reports {got[:40] or 'nothing'}"
    return CheckResult(simple_url, "pip", wanted or got or "-", "any", ok, detail)
