"""The Debian image sandbox servers boot: one mmdebstrap tarball, cached, extracted per server.

The tarball is built once per suite and package list and kept in :data:`CACHE_DIR` under a
name that hashes both, so a changed list builds a new one. It is built under a temporary
name and renamed into place, and builders take an exclusive ``fcntl`` lock first: two
processes asking at once build it once, and a crash leaves no half tarball behind.

Each server gets its own root extracted from the tarball (about half a second here, so
an overlay over a shared copy would save little and add mounts to clean up).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

from orchestrator.engine.waiting import waiting_for
from orchestrator.errors import SandboxError
from orchestrator.sandbox.processes import clean_environment

SUITE = "bookworm"
# Full python3, not python3-minimal: the example service uses http.server, which needs the
# standard library's email and html packages. sudo: deploys that log in as another user.
PACKAGES = ("openssh-server", "systemd", "systemd-sysv", "dbus", "python3", "sudo")
CACHE_DIR = Path("/var/cache/relorch/server-images")
BUILD_TIMEOUT = 900.0
EXTRACT_TIMEOUT = 300.0


def image_key(suite: str, packages: Sequence[str]) -> str:
    """The cache key of an image: a hash of its suite and (sorted) package list."""
    text = "\n".join([suite, *sorted(packages)])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def image_path(
    suite: str = SUITE, packages: Sequence[str] = PACKAGES, cache_dir: Path = CACHE_DIR
) -> Path:
    """Where the tarball of this suite and package list is cached."""
    return cache_dir / f"debian-{suite}-{image_key(suite, packages)}.tar"


def build_command(suite: str, packages: Sequence[str], target: Path) -> list[str]:
    """The mmdebstrap command that writes the image tarball to ``target`` (a ``.tar``)."""
    return [
        "mmdebstrap",
        "--variant=apt",
        f"--include={','.join(packages)}",
        "--quiet",
        suite,
        str(target),
    ]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(text: str, lines: int = 10) -> str:
    return "\n".join(text.strip().splitlines()[-lines:]) or "(no output)"


def _build(suite: str, packages: Sequence[str], output: Path) -> subprocess.CompletedProcess[str]:
    what = f"building a Debian {suite} server image with mmdebstrap (once per package list)"
    with waiting_for(what):
        return subprocess.run(
            build_command(suite, packages, output),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=clean_environment(),
            timeout=BUILD_TIMEOUT,
            check=False,
        )


def ensure_image(
    suite: str = SUITE, packages: Sequence[str] = PACKAGES, cache_dir: Path = CACHE_DIR
) -> Path:
    """The cached image tarball, built first if missing; SandboxError if mmdebstrap fails."""
    image = image_path(suite, packages, cache_dir)
    if image.is_file():
        return image
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(image.with_suffix(".lock")):
        # Another process may have built it while this one waited for the lock.
        if image.is_file():
            return image
        # mmdebstrap picks the output format from the name: keep ".tar" last.
        partial = image.with_name(f".{image.stem}.{os.getpid()}.partial.tar")
        try:
            result = _build(suite, packages, partial)
            if result.returncode != 0 or not partial.is_file():
                raise SandboxError(
                    f"mmdebstrap could not build the server image {image.name} (status "
                    f"{result.returncode}); is Debian's archive reachable?\n"
                    + _tail(result.stderr + result.stdout)
                )
            os.replace(partial, image)
        except subprocess.TimeoutExpired as exc:
            raise SandboxError(
                f"mmdebstrap did not build the server image within {BUILD_TIMEOUT:g}s"
            ) from exc
        finally:
            partial.unlink(missing_ok=True)
    return image


def extract(image: Path, root: Path) -> None:
    """Unpack the image into ``root`` (which must not exist yet), owners and modes kept."""
    root.mkdir(mode=0o755)
    # The tarball is the one mmdebstrap wrote on this machine, not something a server sent.
    result = subprocess.run(
        ["tar", "--extract", "--file", str(image), "--directory", str(root),
         "--preserve-permissions", "--numeric-owner", "--xattrs"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=EXTRACT_TIMEOUT,
        check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise SandboxError(f"could not extract {image} into {root}: {_tail(result.stderr)}")
