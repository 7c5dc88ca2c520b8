"""Checking the Python distributions: ``pip`` installs the release's from the index.

The distributions were built on an untrusted droplet, so nothing of theirs runs here:

- this process's own pip installs ``NAME==VERSION`` into a throwaway directory
  (``--target``), from the index's simple pages only (``--index-url``, ``--isolated``: no
  pip configuration adds another index), without dependencies, and from a wheel only
  (``--only-binary=:all:``): an sdist would make pip run its build backend. A release
  with no wheel is reported as not verifiable by installing it;
- pip runs with a minimal environment (:func:`pip_environment`), never a secret;
- the installed version is read in this process from the ``.dist-info`` metadata pip
  wrote: no Python ever starts with that directory on its path, so a ``.pth`` file the
  wheel carries (which ``site`` would execute at start-up) is never processed.

The directory is removed afterwards.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.utils import canonicalize_name

from orchestrator.errors import TagError
from orchestrator.verify.table import CheckResult
from orchestrator.version import parse_tag, python_version

INSTALL_TIMEOUT = 300.0
# What pip may see of this process's environment: where things are and how to reach the
# index, never a secret. orchestrator.pyindex.index keeps a list like it for twine; this
# one is the verify half's own (that module is the index's, and verify needs no login).
_KEPT = (
    "PATH", "LANG", "LC_ALL", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
    "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY",
    "no_proxy",
)  # fmt: skip
_NO_WHEEL = "ERROR: No matching distribution found"


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


def pip_environment(scratch: Path) -> dict[str, str]:
    """The environment pip runs with: the kept variables, with HOME and TMPDIR in ``scratch``."""
    kept = {name: os.environ[name] for name in _KEPT if name in os.environ}
    return kept | {"HOME": str(scratch), "TMPDIR": str(scratch)}


def installed_version(site: Path, name: str) -> str | None:
    """The version of ``name`` whose metadata is in ``site``, read without running it."""
    wanted = canonicalize_name(name)
    for found in importlib.metadata.distributions(path=[str(site)]):
        if canonicalize_name(found.metadata["Name"] or "") == wanted:
            return found.version
    return None


def _install(requirement: str, simple_url: str, scratch: Path) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable, "-m", "pip", "install", "--isolated", "--quiet", "--no-deps",
        "--only-binary=:all:", "--no-cache-dir", "--disable-pip-version-check",
        "--no-input", "--index-url", simple_url, "--target", str(scratch / "site"),
        requirement,
    ]  # fmt: skip
    return subprocess.run(
        command,
        env=pip_environment(scratch),
        capture_output=True,
        text=True,
        errors="replace",
        stdin=subprocess.DEVNULL,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )


def _failure(installed: subprocess.CompletedProcess[str], requirement: str) -> str:
    said = (installed.stderr.strip() or installed.stdout.strip()).splitlines()
    last = (said or ["failed"])[-1]
    if last.startswith(_NO_WHEEL):
        # Also what pip says of an sdist-only release, which is never built here.
        return f"pip install {requirement}: no wheel on the index (an sdist is never built here)"
    return f"pip install {requirement}: {last[:200]}"


def check_python(name: str, simple_url: str, version: str | None) -> CheckResult:
    """Install ``name``'s wheel (at the PEP 440 form of ``version``, else the newest)."""
    wanted = pep440_of_package(version) if version else None
    if version and wanted is None:
        return CheckResult(simple_url, "pip", "-", "any", False, f"{version} has no PEP 440 form")
    requirement = f"{name}=={wanted}" if wanted else name
    with tempfile.TemporaryDirectory(prefix="relorch-pip-") as directory:
        scratch = Path(directory)
        installed = _install(requirement, simple_url, scratch)
        if installed.returncode:
            detail = _failure(installed, requirement)
            return CheckResult(simple_url, "pip", wanted or "-", "any", False, detail)
        got = installed_version(scratch / "site", name) or ""
    ok = bool(got) and (wanted is None or got == wanted)
    detail = f"installed {name} {got}" if ok else f"{name} reports {got[:40] or 'nothing'}"
    return CheckResult(simple_url, "pip", wanted or got or "-", "any", ok, detail)
